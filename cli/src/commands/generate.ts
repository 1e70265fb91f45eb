/**
 * `ddim generate`: Stable Diffusion over an ONNX model folder or Hub repo through `ddim/pipeline`,
 * a prompt (and optionally a starting PNG) to PNG files: for the same seed, the images diffusers'
 * `StableDiffusionPipeline` / `StableDiffusionImg2ImgPipeline` give.
 *
 * Prints what ran (model, scheduler, size, steps, seed), the files written, and a closing line with
 * the time per denoising step split into the model (the UNet's `session.run`, timed by wrapping the
 * `ort` the pipeline is given: timed-ort.ts) and the rest (the pipeline's conversions, guidance, the
 * scheduler step). Progress bars on stderr, on a terminal only: the download, then the steps.
 * Ctrl-C aborts through the pipeline's AbortSignal (nothing half-written, no image).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { AbortError, type DDIMConfig, DDIMScheduler, Generator, LoadError } from 'ddim';
import { type GenerateOptions, type PipelineLoadOptions, StableDiffusionPipeline } from 'ddim/pipeline';
import { type ConfigOverrideFlags, overridesFromFlags } from '../config-source.js';
import type { CliContext } from '../context.js';
import { sig } from '../format.js';
import { loadOnnxRuntime } from '../ort.js';
import { writeOutput } from '../output.js';
import { encodeRgbPng, type PngImage, readPngImage } from '../png-image.js';
import { type DownloadProgressEvent, downloadProgress, progressOf } from '../progress.js';
import { type StepSplit, splitSteps, timedOrt } from '../timed-ort.js';
import { describeScheduler } from './timesteps.js';

export interface GenerateFlags extends ConfigOverrideFlags {
  model: string;
  prompt: string;
  negativePrompt?: string;
  steps: number;
  guidanceScale: number;
  /** Undefined: 0, or ZERO_SNR_GUIDANCE_RESCALE with --zero-snr. */
  guidanceRescale?: number;
  eta: number;
  seed: number | bigint;
  width?: number;
  height?: number;
  numImages: number;
  image?: string;
  /** Undefined: the pipeline's default (0.8) with --image. */
  strength?: number;
  revision?: string;
  localFilesOnly?: boolean;
  cacheDir?: string;
  threads?: number;
  out: string;
  progress: boolean;
}

/**
 * The guidance rescale of the zero-terminal-SNR recipe (Lin et al. 2023, section 3.4; diffusers'
 * docs for `rescale_betas_zero_snr` pass `guidance_rescale=0.7`).
 */
export const ZERO_SNR_GUIDANCE_RESCALE = 0.7;

/**
 * The files written: `--out` for one image; for more, `<name>-0.png`, `<name>-1.png`, ... in the
 * pipeline's order (prompt-major: images[i] of `pipe.generate`), so each file is one image exactly
 * as diffusers' `images[i]` would be saved.
 */
export function outputFiles(out: string, count: number): string[] {
  if (count === 1) return [out];
  const extension = out.slice(-'.png'.length);
  const stem = out.slice(0, -extension.length);
  return Array.from({ length: count }, (_, i) => `${stem}-${i}${extension}`);
}

/**
 * The scheduler's config overrides. `--zero-snr` is the recipe rather than the one key: zero
 * terminal SNR and `trailing` timesteps (unless `--spacing` says otherwise), as diffusers' docs
 * pass them to `DDIMScheduler.from_config`; the prediction type stays the model's (a zero-SNR
 * model predicts v, and its folder says so; `--prediction` overrides a folder that does not).
 */
export function schedulerOverrides(flags: ConfigOverrideFlags): Partial<DDIMConfig> {
  const overrides = overridesFromFlags(flags);
  if (flags.zeroSnr === true && flags.spacing === undefined) overrides.timestep_spacing = 'trailing';
  return overrides;
}

/**
 * A bare word that is no existing folder is almost always a mistyped folder name; looking it up on
 * the Hub would fail with a network error about huggingface.co/<word> that hides the typo (diffusers
 * model repos are org/name). Reported as such, as `--config` does.
 */
function checkModelSource(model: string): void {
  if (!/[/\\]/.test(model) && !existsSync(model)) {
    throw new LoadError({
      field: '--model',
      value: model,
      problem: 'is not an existing folder, nor a Hub repo id (org/name)',
      fix: 'pass the path of a Stable Diffusion ONNX folder (./sd15-onnx), or org/name for a Hub repo.',
    });
  }
}

async function readStartImage(file: string, ctx: CliContext): Promise<PngImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (cause) {
    throw new LoadError({
      field: '--image',
      value: file,
      problem: `could not be read (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`,
      fix: 'check the path; relative paths start at the working folder.',
      cause,
    });
  }
  const image = readPngImage(bytes, file);
  if (image.hasTransparency) {
    ctx.warn(
      `${file} has transparent pixels: their alpha is ignored and the colours they store are used, as diffusers' PIL convert("RGB") does`,
    );
  }
  return image;
}

/** Milliseconds as text: 1.23 s, 45.6 ms, 0.213 ms. */
function duration(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${sig(ms, 3)} ms`;
}

/** The closing line: where the time went, the steps split into the model and the rest. */
export function timeLine(parts: {
  loadMs: number;
  textEncoderMs: number;
  vaeEncoderMs: number;
  vaeDecoderMs: number;
  split: StepSplit | null;
  totalMs: number;
}): string {
  const stages = [`load ${duration(parts.loadMs)}`, `text encoder ${duration(parts.textEncoderMs)}`];
  if (parts.vaeEncoderMs > 0) stages.push(`VAE encoder ${duration(parts.vaeEncoderMs)}`);
  stages.push(`VAE decoder ${duration(parts.vaeDecoderMs)}`);
  const s = parts.split;
  const steps =
    s === null
      ? ''
      : `; per step ${duration(s.perStepMs)} = model (UNet session.run) ${duration(s.modelMs)} + the rest ${duration(s.restMs)} (${sig((100 * s.restMs) / s.perStepMs, 2)} %)`;
  return `time: ${duration(parts.totalMs)} (${stages.join(', ')})${steps}`;
}

/**
 * Ctrl-C while loading or generating: the first stops the pipeline at its next check (between
 * downloads, models, steps: a running session.run finishes first) through an AbortSignal, so the
 * download leaves nothing half-written and no PNG is written; a second one quits at once.
 */
function interruptOnSigint(ctx: CliContext): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    ctx.stderr.write('\ninterrupted: stopping at the next step (Ctrl-C again to quit now)\n');
    controller.abort(new Error('SIGINT'));
  };
  process.on('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

export async function generateCommand(flags: GenerateFlags, ctx: CliContext): Promise<void> {
  const interrupt = interruptOnSigint(ctx);
  try {
    await generate(flags, ctx, interrupt.signal);
  } catch (error) {
    if (error instanceof AbortError && interrupt.signal.aborted) {
      throw new AbortError({
        field: 'generate',
        value: 'SIGINT',
        problem: 'was interrupted (Ctrl-C)',
        fix: 'run the command again; no image was written.',
        cause: error,
      });
    }
    throw error;
  } finally {
    interrupt.dispose();
  }
}

async function generate(flags: GenerateFlags, ctx: CliContext, signal: AbortSignal): Promise<void> {
  const started = performance.now();
  checkModelSource(flags.model);
  // The starting image is read before any model loads: a wrong path fails at once.
  const image = flags.image === undefined ? undefined : await readStartImage(flags.image, ctx);
  const ort = await loadOnnxRuntime();
  const timed = timedOrt(ort);
  const downloads = downloadProgress(ctx, flags.progress);
  const loadOptions: PipelineLoadOptions = {
    ort: timed.ort,
    onWarning: ctx.warn,
    onProgress: (event: DownloadProgressEvent) => downloads.onProgress(event),
    signal,
  };
  if (flags.revision !== undefined) loadOptions.revision = flags.revision;
  if (flags.localFilesOnly === true) loadOptions.localFilesOnly = true;
  if (flags.cacheDir !== undefined) loadOptions.cacheDir = flags.cacheDir;
  if (flags.threads !== undefined) loadOptions.sessionOptions = { intraOpNumThreads: flags.threads };
  let pipe: StableDiffusionPipeline;
  try {
    pipe = await StableDiffusionPipeline.fromPretrained(flags.model, loadOptions);
  } finally {
    downloads.stop();
  }
  const loadMs = performance.now() - started;
  try {
    const overrides = schedulerOverrides(flags);
    if (Object.keys(overrides).length > 0 || flags.previousStep !== undefined || flags.clampZeroSnr) {
      pipe.scheduler = DDIMScheduler.fromConfig(pipe.scheduler.config, overrides, {
        onWarning: ctx.warn,
        previousTimestepRule: flags.previousStep,
        clampZeroTerminalSnr: flags.clampZeroSnr,
      });
    }
    const guidanceRescale = flags.guidanceRescale ?? (flags.zeroSnr === true ? ZERO_SNR_GUIDANCE_RESCALE : 0);
    // The folder resolved, or the Hub repo with its revision and commit ("org/name (revision ...)").
    const where = pipe.location.startsWith(flags.model) ? pipe.location : `${flags.model} (${pipe.location})`;
    ctx.print(`ddim generate: ${where}`);
    ctx.print(`scheduler: DDIM: ${describeScheduler(pipe.scheduler)}`);
    ctx.print(
      `prompt: ${JSON.stringify(flags.prompt)}${flags.negativePrompt !== undefined ? `, negative prompt: ${JSON.stringify(flags.negativePrompt)}` : ''}`,
    );

    const stepTimes: number[] = [];
    // The progress bar's drawing (a terminal write) is the CLI's time, not the pipeline's.
    const callbackMs: number[] = [];
    const bar = progressOf(ctx, 'denoising', flags.progress, 'steps');
    const options: GenerateOptions = {
      prompt: flags.prompt,
      numInferenceSteps: flags.steps,
      guidanceScale: flags.guidanceScale,
      guidanceRescale,
      eta: flags.eta,
      numImagesPerPrompt: flags.numImages,
      generator: new Generator().manualSeed(flags.seed),
      signal,
      onStep: ({ index, total }) => {
        const entered = performance.now();
        stepTimes.push(entered);
        bar.update(index + 1, total);
        callbackMs.push(performance.now() - entered);
      },
    };
    if (flags.negativePrompt !== undefined) options.negativePrompt = flags.negativePrompt;
    if (flags.height !== undefined) options.height = flags.height;
    if (flags.width !== undefined) options.width = flags.width;
    if (image !== undefined) {
      options.image = { width: image.width, height: image.height, data: image.data };
      if (flags.strength !== undefined) options.strength = flags.strength;
    }
    let images: Awaited<ReturnType<StableDiffusionPipeline['generate']>>['images'];
    try {
      ({ images } = await pipe.generate(options));
    } finally {
      bar.stop();
    }

    const files = outputFiles(flags.out, images.length);
    for (const [i, file] of files.entries()) await writeOutput(file, encodeRgbPng(images[i]));
    const { width, height } = images[0];
    const run =
      image === undefined
        ? `${stepTimes.length} steps`
        : `${stepTimes.length} of ${flags.steps} steps (strength ${flags.strength ?? 0.8}, from ${flags.image}: ${image.width}x${image.height} ${image.colorType}, ${image.depth}-bit)`;
    ctx.print(
      `${width}x${height}, ${images.length} image${images.length > 1 ? 's' : ''}, ${run}, guidance ${flags.guidanceScale}, rescale ${guidanceRescale}, eta ${flags.eta}, seed ${flags.seed}`,
    );
    ctx.print(`wrote ${files.join(', ')}`);
    const total = (runs: readonly { start: number; end: number }[]) =>
      runs.reduce((sum, r) => sum + (r.end - r.start), 0);
    ctx.print(
      timeLine({
        loadMs,
        textEncoderMs: total(timed.runs.text_encoder),
        vaeEncoderMs: total(timed.runs.vae_encoder),
        vaeDecoderMs: total(timed.runs.vae_decoder),
        split: splitSteps(stepTimes, timed.runs.unet, callbackMs),
        totalMs: performance.now() - started,
      }),
    );
  } finally {
    await pipe.release();
  }
}
