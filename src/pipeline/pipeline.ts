/**
 * `StableDiffusionPipeline`: diffusers' `StableDiffusionPipeline.__call__` (text-to-image) and
 * `StableDiffusionImg2ImgPipeline.__call__` (with `image`) over a Stable Diffusion ONNX model
 * folder, with the same random draws in the same order, so that the same seed gives diffusers'
 * latents and image. The stages, each in its module:
 *
 *   generate-options.ts  every input checked before any model runs
 *   prompt-encoding.ts   tokenizer + text encoder (the negative prompts only under guidance)
 *   latents.ts / vae.ts  image-to-image: VAE encode, the seeded latent sample, scaling
 *   sampling/loop.ts     the package's loop (sampleGuided / sample) on the ddim/onnxruntime UNet
 *   vae.ts / image.ts    latents / scaling_factor -> VAE decode -> uint8 RGBA, as diffusers rounds
 *
 * Core module: no Node built-ins. Model folders come through ModelFiles sources (a local folder
 * under Node's `ddim/pipeline`, URLs and the Hub, a browser's picked files).
 */
import {
  ArgumentError,
  DdimError,
  defaultWarningHandler,
  LoadError,
  ShapeError,
  StateError,
  type WarningHandler,
} from '../errors.js';
import { checkOptionalFunction, checkSignal, readOptions } from '../guard.js';
import { type ModelFiles, type ModelFilesOptions, openModelFiles } from '../loading/model-files.js';
import { createGuidedUnetDenoiser, createUnetDenoiser } from '../runtime/onnxruntime.js';
import { type SampleOptions, type SampleResult, sample, sampleGuided } from '../sampling/loop.js';
import { DDIMScheduler } from '../scheduler/ddim.js';
import type { Float32Tensor, TensorLike } from '../tensor/tensor.js';
import { loadComponents, type PipelineComponents, type VaeEncoderStyle } from './components.js';
import {
  type GenerateOptions,
  type GenerateRequest,
  readFloat32,
  readGenerateOptions,
  throwIfAborted,
} from './generate-options.js';
import { type PipelineImage, postprocessImages, preprocessImage } from './image.js';
import { imageInitLatents } from './latents.js';
import { schedulerCopy } from './pipeline-scheduler.js';
import { encodeTexts, repeatRows } from './prompt-encoding.js';
import { checkOrt, type PipelineOrt, releaseSession, typedSession } from './sessions.js';
import type { ClipTokenizer } from './tokenizer.js';
import { decodeLatents } from './vae.js';

/** Options of {@link StableDiffusionPipeline.fromPretrained}. */
export interface PipelineLoadOptions extends ModelFilesOptions {
  /** The onnxruntime namespace: `import * as ort from 'onnxruntime-node'` (or `'onnxruntime-web'`). */
  ort: PipelineOrt;
  /** Passed to every `InferenceSession.create` (execution providers, threads, ...). */
  sessionOptions?: object;
  /** Non-fatal notices (diffusers' warnings: old scheduler configs, truncated prompts, ...). Default console.warn. */
  onWarning?: (message: string) => void;
}

/** What {@link StableDiffusionPipeline.generate} returns. */
export interface GenerateResult {
  /** One RGBA picture per image (prompt-major: prompt 0's images first), an `ImageData` in browsers. */
  images: PipelineImage[];
  /** The final latents `[images, 4, height / f, width / f]` (before `/ scaling_factor`), float32. */
  latents: Float32Tensor;
}

const MODEL_FILES_OPTION_KEYS = [
  'revision',
  'token',
  'endpoint',
  'fetch',
  'localFilesOnly',
  'cacheDir',
  'signal',
  'onProgress',
  'onWarning',
];
const LOAD_KEYS: ReadonlySet<string> = new Set([...MODEL_FILES_OPTION_KEYS, 'ort', 'sessionOptions']);
const DECODE_KEYS: ReadonlySet<string> = new Set(['signal']);

function isModelFiles(value: unknown): value is ModelFiles {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as ModelFiles).location === 'string' &&
    typeof (value as ModelFiles).has === 'function' &&
    typeof (value as ModelFiles).readText === 'function' &&
    typeof (value as ModelFiles).readModel === 'function'
  );
}

/**
 * Stable Diffusion (1.x / 2.x) over an ONNX model folder: prompt (and optionally a starting image)
 * to diffusers' latents and image for the same seed.
 *
 * ```ts
 * const pipe = await StableDiffusionPipeline.fromPretrained('./sd15-onnx', { ort });
 * const { images, latents } = await pipe.generate({ prompt: 'a photo of an astronaut', generator: new Generator().manualSeed(42) });
 * ```
 */
export class StableDiffusionPipeline {
  /** The CLIP tokenizer of the folder's `tokenizer/`. */
  readonly tokenizer: ClipTokenizer;
  /** Image pixels per latent pixel (`2 ** (len(vae block_out_channels) - 1)`: 8 for SD). */
  readonly vaeScaleFactor: number;
  /** The VAE's `scaling_factor` (0.18215 for SD 1.x / 2.x when the folder names none). */
  readonly scalingFactor: number;
  /** Default height and width in pixels: the UNet's `sample_size` times the VAE factor (512 when unknown). */
  readonly defaultSize: number;
  /** How the folder's VAE encoder gives latents, or null without one (no image-to-image). */
  readonly vaeEncoderStyle: VaeEncoderStyle | null;
  /** Where the model folder is: a path, a URL, a Hub repo id, or the picked folder's name. */
  readonly location: string;

  readonly #components: PipelineComponents;
  readonly #ort: PipelineOrt;
  readonly #warn: WarningHandler;
  #scheduler: DDIMScheduler;
  #released = false;

  private constructor(components: PipelineComponents, ort: PipelineOrt, warn: WarningHandler) {
    this.#components = components;
    this.#ort = ort;
    this.#warn = warn;
    this.#scheduler = components.scheduler;
    this.tokenizer = components.tokenizer;
    this.vaeScaleFactor = components.vaeScaleFactor;
    this.scalingFactor = components.scalingFactor;
    this.defaultSize = components.defaultSize;
    this.vaeEncoderStyle = components.vaeEncoder?.style ?? null;
    this.location = components.files.location;
  }

  /**
   * Load a Stable Diffusion ONNX model folder: a folder path (Node, through `ddim/pipeline`'s Node
   * entry), a base URL or a Hub repo id (with the sources that handle them), or a ModelFiles object
   * (e.g. `pickedModelFiles(input.files)` in a browser). Every file is checked before any model runs:
   * a missing or truncated file, a malformed tokenizer, a model that is not the component it should
   * be are LoadErrors naming the file. The scheduler is a DDIMScheduler made from `scheduler/`'s
   * config, with diffusers' pipeline-constructor fixes of old configs (warned through `onWarning`).
   */
  static async fromPretrained(
    source: string | ModelFiles,
    options: PipelineLoadOptions,
  ): Promise<StableDiffusionPipeline> {
    const o = readOptions(options, {
      allowed: LOAD_KEYS,
      field: 'options',
      example: "{ ort } with ort = await import('onnxruntime-node')",
      kind: 'an option of fromPretrained',
      required: true,
    }) as unknown as PipelineLoadOptions;
    const ort = checkOrt(o.ort);
    checkOptionalFunction(
      o.onWarning,
      'options.onWarning',
      'pass (message) => { ... }, or leave it out for console.warn.',
    );
    if (
      o.sessionOptions !== undefined &&
      (o.sessionOptions === null || typeof o.sessionOptions !== 'object')
    ) {
      throw new ArgumentError({
        field: 'options.sessionOptions',
        value: o.sessionOptions,
        problem: 'must be an object (onnxruntime SessionOptions)',
        fix: "pass e.g. { executionProviders: ['cpu'] }, or leave it out.",
      });
    }
    const warn = o.onWarning ?? defaultWarningHandler;
    let files: ModelFiles;
    if (typeof source === 'string') {
      const fileOptions: ModelFilesOptions = {};
      for (const key of MODEL_FILES_OPTION_KEYS) {
        const value = (o as unknown as Record<string, unknown>)[key];
        if (value !== undefined) (fileOptions as Record<string, unknown>)[key] = value;
      }
      files = await openModelFiles(source, fileOptions);
    } else if (isModelFiles(source)) {
      files = source;
    } else {
      throw new LoadError({
        field: 'source',
        value: source,
        problem: 'must be a folder path, a URL, a Hub repo id or a ModelFiles object',
        fix: "pass e.g. './sd15-onnx', or pickedModelFiles(input.files) in a browser.",
      });
    }
    const checkAbort = (where: string) => throwIfAborted(o.signal, where);
    checkAbort('before the models were loaded');
    let components: PipelineComponents;
    try {
      components = await loadComponents(files, ort, o.sessionOptions, warn, checkAbort);
    } catch (error) {
      // A ModelFiles of the caller's (or a source's) may fail with anything: typed here, naming it.
      if (error instanceof DdimError) throw error;
      throw new LoadError({
        field: 'source',
        value: files.location,
        problem: `could not be read (${error instanceof Error ? `${error.name}: ${error.message}` : String(error)})`,
        fix: 'check the model folder and, for your own ModelFiles, that its methods reject with LoadErrors.',
        cause: error,
      });
    }
    return new StableDiffusionPipeline(components, ort, warn);
  }

  /**
   * The scheduler `generate` runs with: a DDIMScheduler. Assign another (e.g.
   * `DDIMScheduler.fromConfig(pipe.scheduler.config, { timestep_spacing: 'trailing' })`) to change
   * it; it is used as given. Each `generate` call steps its own copy, so calls may run concurrently.
   */
  get scheduler(): DDIMScheduler {
    return this.#scheduler;
  }

  /** Replace the scheduler (a DDIMScheduler, else an ArgumentError); used as given. */
  set scheduler(scheduler: DDIMScheduler) {
    if (!(scheduler instanceof DDIMScheduler)) {
      throw new ArgumentError({
        field: 'scheduler',
        value: scheduler,
        problem: 'must be a DDIMScheduler',
        fix: 'assign DDIMScheduler.fromConfig(pipe.scheduler.config, overrides).',
      });
    }
    this.#scheduler = scheduler;
  }

  /**
   * Text-to-image (diffusers' `StableDiffusionPipeline.__call__`), or image-to-image with `image`
   * and `strength` (`StableDiffusionImg2ImgPipeline.__call__`). Same seed, same draws in the same
   * order, same latents and image as diffusers (see docs/pipeline.md for what is matched and what
   * is not). Every option is checked before any model runs.
   */
  async generate(options: GenerateOptions): Promise<GenerateResult> {
    this.#checkNotReleased();
    const c = this.#components;
    const request = readGenerateOptions(options, {
      vaeScaleFactor: c.vaeScaleFactor,
      defaultSize: c.defaultSize,
      latentChannels: c.unet.latentChannels,
      hiddenSize: c.unet.hiddenSize,
      sequenceLength: c.tokenizer.modelMaxLength,
      hasEncoder: c.vaeEncoder !== null,
    });
    // Its own scheduler; setTimesteps now checks the step count against the config before any model runs.
    const scheduler = schedulerCopy(this.#scheduler);
    scheduler.setTimesteps(request.numInferenceSteps);
    for (const notice of request.notices) this.#warn(notice);
    throwIfAborted(request.signal, 'before it started');

    const { cond, uncond } = await this.#embeddings(request);
    throwIfAborted(request.signal, 'after the text encoder');
    const start = await this.#startLatents(request);
    throwIfAborted(request.signal, 'before the denoising loop');
    const result = await this.#denoise(scheduler, request, cond, uncond, start);
    throwIfAborted(request.signal, 'before the VAE decoder');
    const latents = result.latents as Float32Tensor;
    const decoded = await decodeLatents(this.#ort, c.vaeDecoder, latents, c.scalingFactor, c.vaeScaleFactor);
    return { images: postprocessImages(decoded), latents };
  }

  /**
   * `generate`'s last stage on latents you give: `latents / scaling_factor`, the VAE decoder, and
   * diffusers' postprocessing to uint8 RGBA, so `decode(result.latents)` gives `result.images`.
   * Made for previews of a step's predicted x0 (a copy of `onStep`'s `predOriginalSample`), as
   * the playground shows them; diffusers has no such step (decode with `pipe.vae.decode` there).
   * Each call is one VAE decoder run on the whole batch. `latents`: `[images, channels, h, w]`
   * (float32, float16 or float64), a ShapeError otherwise; `signal`: an AbortError before the run.
   */
  async decode(latents: TensorLike, options: { signal?: AbortSignal } = {}): Promise<PipelineImage[]> {
    this.#checkNotReleased();
    const o = readOptions(options, {
      allowed: DECODE_KEYS,
      field: 'options',
      example: '{ signal }',
      kind: 'an option of decode',
    }) as { signal?: unknown } | null;
    const signal = checkSignal(o?.signal);
    const c = this.#components;
    const input = readFloat32(latents, 'latents');
    const [batch, channels, h, w] = input.dims;
    if (input.dims.length !== 4 || batch < 1 || channels !== c.unet.latentChannels || h < 1 || w < 1) {
      throw new ShapeError({
        field: 'latents.dims',
        value: input.dims,
        problem: `must be [images, ${c.unet.latentChannels}, height / ${c.vaeScaleFactor}, width / ${c.vaeScaleFactor}] (the UNet's latents)`,
        fix: "pass generate's latents, or a copy of onStep's predOriginalSample.",
      });
    }
    throwIfAborted(signal, 'before the VAE decoder');
    const decoded = await decodeLatents(this.#ort, c.vaeDecoder, input, c.scalingFactor, c.vaeScaleFactor);
    return postprocessImages(decoded);
  }

  #checkNotReleased(): void {
    if (this.#released) {
      throw new StateError({
        field: 'pipeline',
        problem: 'was released',
        fix: 'load the model again with StableDiffusionPipeline.fromPretrained.',
      });
    }
  }

  /** The prompt embeddings (and the negative ones under guidance), repeated per image. */
  async #embeddings(
    request: GenerateRequest,
  ): Promise<{ cond: Float32Tensor; uncond: Float32Tensor | null }> {
    const c = this.#components;
    const prompt =
      request.promptEmbeds ??
      (await encodeTexts(this.#ort, c.textEncoder, c.tokenizer, request.prompts!, this.#warn));
    let negative: Float32Tensor | null = null;
    if (request.guided) {
      negative =
        request.negativePromptEmbeds ??
        (await encodeTexts(this.#ort, c.textEncoder, c.tokenizer, request.negativePrompts!, null));
    }
    return {
      cond: repeatRows(prompt, request.numImagesPerPrompt),
      uncond: negative === null ? null : repeatRows(negative, request.numImagesPerPrompt),
    };
  }

  /** The loop's start: image-to-image init latents, given latents, or the shape to draw x_T in. */
  async #startLatents(
    request: GenerateRequest,
  ): Promise<Pick<SampleOptions, 'initLatents' | 'strength' | 'latents' | 'shape'>> {
    const c = this.#components;
    if (request.image !== null) {
      const initLatents = await imageInitLatents({
        ort: this.#ort,
        encoder: c.vaeEncoder!,
        pixels: preprocessImage(request.image),
        batch: request.batch,
        generator: request.generator,
        latentChannels: c.unet.latentChannels,
        scalingFactor: c.scalingFactor,
        vaeScaleFactor: c.vaeScaleFactor,
        onWarning: this.#warn,
      });
      return { initLatents, strength: request.strength };
    }
    if (request.latents !== null) return { latents: request.latents };
    const f = c.vaeScaleFactor;
    return { shape: [request.batch, c.unet.latentChannels, request.height / f, request.width / f] };
  }

  /** The denoising loop: guided (one UNet call on the doubled batch per step) or not. */
  #denoise(
    scheduler: DDIMScheduler,
    request: GenerateRequest,
    cond: Float32Tensor,
    uncond: Float32Tensor | null,
    start: Pick<SampleOptions, 'initLatents' | 'strength' | 'latents' | 'shape'>,
  ): Promise<SampleResult> {
    const unet = typedSession(this.#components.unet);
    const loop: SampleOptions = {
      ...start,
      numInferenceSteps: request.numInferenceSteps,
      eta: request.eta,
      generator: request.generator,
      ...(request.onStep !== undefined ? { onStep: request.onStep } : {}),
      ...(request.signal !== undefined ? { signal: request.signal } : {}),
    };
    if (uncond === null) {
      return sample(scheduler, createUnetDenoiser(unet, { ort: this.#ort, encoderHiddenStates: cond }), loop);
    }
    const denoiser = createGuidedUnetDenoiser(unet, {
      ort: this.#ort,
      encoderHiddenStates: cond,
      negativeEncoderHiddenStates: uncond,
    });
    return sampleGuided(scheduler, denoiser, {
      ...loop,
      guidanceScale: request.guidanceScale,
      guidanceRescale: request.guidanceRescale,
    });
  }

  /** Free the ONNX Runtime sessions' memory; the pipeline cannot generate afterwards. */
  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    const c = this.#components;
    const models = [c.textEncoder, c.unet, c.vaeDecoder, ...(c.vaeEncoder ? [c.vaeEncoder] : [])];
    await Promise.all(models.map((model) => releaseSession(model.session)));
  }
}
