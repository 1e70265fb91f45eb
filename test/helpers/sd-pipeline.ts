/**
 * The Stable Diffusion pipeline fixtures: test/fixtures/tiny-sd (the tiny model folder and
 * diffusers' runs on it, pipeline/*.json) and test/fixtures/pipeline-extra (32 more runs of
 * diffusers' unchanged pipelines), read into typed cases; an `ort` whose sessions record every
 * call (inputs' dims and values), and the README's comparison rules.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { Generator } from '../../src/noise/generator.js';
import type { GenerateOptions } from '../../src/pipeline/generate-options.js';
import type { StableDiffusionPipeline } from '../../src/pipeline/pipeline.js';
import type { PipelineOrt } from '../../src/pipeline/sessions.js';
import type { OrtSessionLike, OrtTensorLike } from '../../src/runtime/onnxruntime.js';
import { DDIMScheduler } from '../../src/scheduler/ddim.js';
import { fixtureDir } from './fixtures.js';

export const tinySdDir = join(fixtureDir, 'tiny-sd');
export const extraDir = join(fixtureDir, 'pipeline-extra');

/** A tensor of a case JSON: base64 of little-endian values, row-major. */
export interface JsonTensor {
  dims: number[];
  dtype: 'float32' | 'uint8';
  b64: string;
}

export interface PipelineCase {
  name: string;
  what: string;
  pipeline: 'StableDiffusionPipeline' | 'StableDiffusionImg2ImgPipeline';
  call: Record<string, unknown>;
  generator: { seeds: number | number[]; seeds_str: string | string[] };
  scheduler: {
    overrides: Record<string, unknown>;
    constructor_overrides?: Record<string, unknown>;
    effective_config: Record<string, unknown>;
  };
  do_classifier_free_guidance: boolean;
  text_encoder_calls: number;
  unet_calls?: number;
  timesteps: number[];
  tokens: { cond: number[][]; uncond: number[][] | null };
  prompt_embeds?: JsonTensor | null;
  negative_prompt_embeds?: JsonTensor | null;
  unet_first_call?: { timestep: number; batch?: number; out_sample?: JsonTensor };
  latents_initial: JsonTensor;
  latents_steps?: JsonTensor[];
  latents_first_step?: JsonTensor;
  latents_final: JsonTensor;
  image_uint8: JsonTensor;
  img2img?: {
    init_image_uint8: JsonTensor | null;
    vae_latent_sample?: JsonTensor;
    noise?: JsonTensor;
    encoder_calls?: number;
    steps_run: number;
  };
  inputs?: { latents?: JsonTensor; prompt_embeds?: JsonTensor } | null;
  tolerance?: {
    latents_rel: number;
    image_uint8_max_diff: number;
    image_uint8_max_fraction_differing: number;
  };
  warnings?: { constructor: { message: string }[]; call: { message: string }[] };
}

/** The README's tolerances (latents rel 1e-4; uint8 at most 1 level off on at most 0.5 %). */
export const DEFAULT_TOLERANCE = {
  latents_rel: 1e-4,
  image_uint8_max_diff: 1,
  image_uint8_max_fraction_differing: 0.005,
};

export function loadCase(dir: string, name: string): PipelineCase {
  return JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as PipelineCase;
}

export function fixtureCaseNames(): string[] {
  const index = JSON.parse(readFileSync(join(tinySdDir, 'pipeline', 'index.json'), 'utf8')) as {
    cases: ({ name: string } | string)[];
  };
  return index.cases.map((c) => (typeof c === 'string' ? c : c.name));
}

export function extraCaseNames(): string[] {
  const index = JSON.parse(readFileSync(join(extraDir, 'index.json'), 'utf8')) as {
    cases: ({ name: string } | string)[];
  };
  return index.cases.map((c) => (typeof c === 'string' ? c : c.name));
}

export function floats(t: JsonTensor): Float32Array {
  const bytes = Buffer.from(t.b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export function bytesOf(t: JsonTensor): Uint8Array {
  return new Uint8Array(Buffer.from(t.b64, 'base64'));
}

/** max|got - want| / max(1, max|want|): the fixtures' relative error. */
export function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

/** uint8 images compared: the largest difference and the fraction of values that differ. */
export function uint8Difference(
  images: { width: number; height: number; data: Uint8ClampedArray }[],
  want: JsonTensor,
): { maxDiff: number; fraction: number; count: number } {
  const [batch, height, width] = want.dims;
  const ref = bytesOf(want);
  expect(images.length).toBe(batch);
  let maxDiff = 0;
  let count = 0;
  for (let b = 0; b < batch; b++) {
    expect([images[b].width, images[b].height]).toEqual([width, height]);
    for (let p = 0; p < width * height; p++) {
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(images[b].data[p * 4 + c] - ref[(b * width * height + p) * 3 + c]);
        if (d > 0) count++;
        maxDiff = Math.max(maxDiff, d);
      }
      expect(images[b].data[p * 4 + 3]).toBe(255);
    }
  }
  return { maxDiff, fraction: count / ref.length, count };
}

/** The case's generator option: torch.Generator().manual_seed(seed), or one per seed. */
export function generatorOf(c: PipelineCase): Generator | Generator[] {
  const seeds = c.generator.seeds_str;
  return Array.isArray(seeds)
    ? seeds.map((s) => new Generator().manualSeed(BigInt(s)))
    : new Generator().manualSeed(BigInt(seeds));
}

/** The fixture's init.png pixels (e_img2img.json holds them: [64, 64, 3] uint8). */
export function initImage(): { width: number; height: number; data: Uint8Array } {
  const e = loadCase(join(tinySdDir, 'pipeline'), 'e_img2img');
  return { width: 64, height: 64, data: bytesOf(e.img2img!.init_image_uint8!) };
}

/** The case's `pipe(...)` call as generate options. */
export function generateOptionsOf(c: PipelineCase): GenerateOptions {
  const call = c.call;
  const options: GenerateOptions = { generator: generatorOf(c) };
  if (call.prompt !== undefined && call.prompt !== null) options.prompt = call.prompt as string | string[];
  if (call.negative_prompt !== undefined && call.negative_prompt !== null)
    options.negativePrompt = call.negative_prompt as string | string[];
  if (call.height !== undefined) options.height = call.height as number;
  if (call.width !== undefined) options.width = call.width as number;
  if (call.num_inference_steps !== undefined) options.numInferenceSteps = call.num_inference_steps as number;
  if (call.guidance_scale !== undefined) options.guidanceScale = call.guidance_scale as number;
  if (call.guidance_rescale !== undefined) options.guidanceRescale = call.guidance_rescale as number;
  if (call.eta !== undefined) options.eta = call.eta as number;
  if (call.num_images_per_prompt !== undefined)
    options.numImagesPerPrompt = call.num_images_per_prompt as number;
  if (call.strength !== undefined) options.strength = call.strength as number;
  if (c.pipeline === 'StableDiffusionImg2ImgPipeline') {
    const own = c.img2img?.init_image_uint8;
    options.image = own ? { width: own.dims[1], height: own.dims[0], data: bytesOf(own) } : initImage();
  }
  if (c.inputs?.latents) options.latents = { data: floats(c.inputs.latents), dims: c.inputs.latents.dims };
  if (c.inputs?.prompt_embeds)
    options.promptEmbeds = { data: floats(c.inputs.prompt_embeds), dims: c.inputs.prompt_embeds.dims };
  return options;
}

/** One recorded session call: the model file and each input's dims (and the ids, for the text encoder). */
export interface RecordedCall {
  file: string;
  dims: Record<string, number[]>;
  /** Integer inputs (ids, timesteps) as numbers. */
  values: Record<string, number[]>;
  /** Float inputs, copied (float32). */
  floats: Record<string, Float32Array>;
  /** Each input's element type. */
  types: Record<string, string>;
}

/** The component a session is, from its inputs (its file name is not known for a model given as bytes). */
function componentOf(inputNames: readonly string[]): string {
  if (inputNames.includes('timestep')) return 'unet/model.onnx';
  if (inputNames.includes('latent_sample')) return 'vae_decoder/model.onnx';
  if (inputNames.includes('sample')) return 'vae_encoder/model.onnx';
  return 'text_encoder/model.onnx';
}

/** The part of an onnxruntime module the recorder wraps (onnxruntime-node or onnxruntime-web). */
type OrtLike = {
  Tensor: unknown;
  InferenceSession: { create(model: never, options?: never): Promise<unknown> };
};

/**
 * An onnxruntime (onnxruntime-node by default) whose sessions record their calls in `calls`
 * (named by component: "unet/model.onnx", ...), so tests can count text-encoder calls and read
 * the UNet's batch, inputs and element types.
 */
export function recordingOrt(calls: RecordedCall[], base: OrtLike = ort as unknown as OrtLike): PipelineOrt {
  return {
    Tensor: base.Tensor as PipelineOrt['Tensor'],
    InferenceSession: {
      async create(model: string | Uint8Array, options?: object) {
        const create = base.InferenceSession.create as (
          m: string | Uint8Array,
          o?: object,
        ) => Promise<unknown>;
        const session = (await create(model, options)) as OrtSessionLike & { release(): Promise<void> };
        const file = componentOf(session.inputNames);
        return {
          inputNames: session.inputNames,
          outputNames: session.outputNames,
          inputMetadata: session.inputMetadata,
          release: () => session.release(),
          async run(feeds: Record<string, OrtTensorLike>) {
            const record: RecordedCall = { file, dims: {}, values: {}, floats: {}, types: {} };
            for (const [name, t] of Object.entries(feeds)) {
              record.dims[name] = [...t.dims];
              record.types[name] = t.type;
              if (t.type === 'int32' || t.type === 'int64')
                record.values[name] = Array.from(t.data as ArrayLike<number | bigint>, Number);
              else if (t.type === 'float32') record.floats[name] = (t.data as Float32Array).slice();
            }
            calls.push(record);
            return session.run(feeds);
          },
        } as OrtSessionLike;
      },
    },
  };
}

/** What one case's run gave: the result, the per-step latents and timesteps, the calls, the warnings. */
export interface CaseRun {
  result: {
    images: { width: number; height: number; data: Uint8ClampedArray }[];
    latents: { data: Float32Array; dims: number[] };
  };
  steps: Float32Array[];
  timesteps: number[];
  calls: RecordedCall[];
  warnings: string[];
}

/**
 * Run a case through `pipe.generate`: the case's scheduler overrides assigned as
 * `pipe.scheduler = DDIMScheduler.fromConfig(pipe.scheduler.config, overrides)` (as the fixture's
 * diffusers calls do), then put back.
 */
export async function runCase(
  pipe: StableDiffusionPipeline,
  c: PipelineCase,
  calls: RecordedCall[],
  warnings: string[],
): Promise<CaseRun> {
  const folderScheduler = pipe.scheduler;
  pipe.scheduler = DDIMScheduler.fromConfig(folderScheduler.config, c.scheduler.overrides);
  expect(pipe.scheduler.toJSON()).toMatchObject(c.scheduler.effective_config);
  calls.length = 0;
  warnings.length = 0;
  const steps: Float32Array[] = [];
  const timesteps: number[] = [];
  const options = generateOptionsOf(c);
  options.onStep = (info) => {
    timesteps.push(info.timestep);
    steps.push((info.sample.data as Float32Array).slice());
  };
  try {
    const result = await pipe.generate(options);
    return { result, steps, timesteps, calls: [...calls], warnings: [...warnings] };
  } finally {
    pipe.scheduler = folderScheduler;
  }
}

/** The worst agreement measured in a case (for the report). */
export interface CaseMeasure {
  finalRel: number;
  stepsRel: number;
  uint8Off: number;
  uint8Max: number;
}

/**
 * Everything a case pins down, asserted: the timesteps (the first `stepsRun`), the text encoder's
 * calls and ids, the UNet's first call (batch, timestep, initial latents, embeddings), the latents
 * of every recorded step, the final latents and the uint8 image, within the case's tolerance.
 */
export function checkCase(c: PipelineCase, run: CaseRun, options: { final?: boolean } = {}): CaseMeasure {
  const tol = c.tolerance ?? DEFAULT_TOLERANCE;
  const { calls } = run;
  const stepsRun = run.timesteps.length;
  expect(run.timesteps).toEqual(c.timesteps.slice(0, stepsRun));
  const text = calls.filter((call) => call.file === 'text_encoder/model.onnx');
  expect(text).toHaveLength(c.text_encoder_calls);
  let next = 0;
  if (c.tokens.cond) expect(text[next++].values.input_ids).toEqual(c.tokens.cond.flat());
  if (c.do_classifier_free_guidance) expect(text[next++].values.input_ids).toEqual(c.tokens.uncond!.flat());
  const unet = calls.filter((call) => call.file === 'unet/model.onnx');
  expect(unet).toHaveLength(stepsRun);
  const batch = c.latents_final.dims[0];
  const modelBatch = c.do_classifier_free_guidance ? 2 * batch : batch;
  expect(unet[0].dims.sample[0]).toBe(modelBatch);
  if (c.unet_first_call?.batch !== undefined) expect(unet[0].dims.sample[0]).toBe(c.unet_first_call.batch);
  expect(unet[0].dims.encoder_hidden_states[0]).toBe(modelBatch);
  expect(unet[0].values.timestep).toEqual([c.timesteps[0]]);
  const initial = floats(c.latents_initial);
  const fed = unet[0].floats.sample;
  expect(relError(fed.subarray(0, initial.length), initial)).toBeLessThanOrEqual(tol.latents_rel);
  if (c.do_classifier_free_guidance) {
    expect(relError(fed.subarray(initial.length), initial)).toBeLessThanOrEqual(tol.latents_rel);
  }
  const ehs = unet[0].floats.encoder_hidden_states;
  const half = c.do_classifier_free_guidance ? ehs.length / 2 : 0;
  const cond = c.prompt_embeds ?? c.inputs?.prompt_embeds;
  if (cond) {
    // The prompt's embeddings (before the numImagesPerPrompt repeat): the first rows of the cond half.
    const want = floats(cond);
    expect(relError(ehs.subarray(half, half + want.length), want)).toBeLessThanOrEqual(tol.latents_rel);
  }
  if (c.negative_prompt_embeds) {
    const want = floats(c.negative_prompt_embeds);
    expect(relError(ehs.subarray(0, want.length), want)).toBeLessThanOrEqual(tol.latents_rel);
  }
  const wantSteps = c.latents_steps ?? (c.latents_first_step ? [c.latents_first_step] : []);
  let stepsRel = 0;
  wantSteps.forEach((want, i) => {
    if (i < stepsRun) stepsRel = Math.max(stepsRel, relError(run.steps[i], floats(want)));
  });
  expect(stepsRel).toBeLessThanOrEqual(tol.latents_rel);
  expect(run.result.latents.dims).toEqual(c.latents_final.dims);
  if (options.final === false)
    return { finalRel: Number.NaN, stepsRel, uint8Off: Number.NaN, uint8Max: Number.NaN };
  const finalRel = relError(run.result.latents.data, floats(c.latents_final));
  expect(finalRel).toBeLessThanOrEqual(tol.latents_rel);
  const image = uint8Difference(run.result.images, c.image_uint8);
  expect(image.maxDiff).toBeLessThanOrEqual(tol.image_uint8_max_diff);
  expect(image.fraction).toBeLessThanOrEqual(tol.image_uint8_max_fraction_differing);
  return { finalRel, stepsRel, uint8Off: image.count, uint8Max: image.maxDiff };
}

/** "final rel 1.1e-6, steps rel 9.0e-7, uint8 1 off (max 1)". */
export function describeMeasure(m: CaseMeasure): string {
  return `final rel ${m.finalRel.toExponential(1)}, steps rel ${m.stepsRel.toExponential(1)}, uint8 ${m.uint8Off} off (max ${m.uint8Max})`;
}

/** The files of the tiny-sd folder a pipeline reads. */
export const FOLDER_FILES = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'text_encoder/config.json',
  'text_encoder/model.onnx',
  'tokenizer/merges.txt',
  'tokenizer/special_tokens_map.json',
  'tokenizer/tokenizer.json',
  'tokenizer/tokenizer_config.json',
  'tokenizer/vocab.json',
  'unet/config.json',
  'unet/model.onnx',
  'vae_decoder/config.json',
  'vae_decoder/model.onnx',
  'vae_encoder/config.json',
  'vae_encoder/model.onnx',
];

const made: string[] = [];

/**
 * A copy of tiny-sd (symlinks to the fixture's files) with some files replaced (text or bytes) or
 * removed (null).
 */
export function folderCopy(changes: Record<string, string | Uint8Array | null>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ddim-sd-'));
  made.push(dir);
  for (const file of FOLDER_FILES) {
    mkdirSync(join(dir, file, '..'), { recursive: true });
    if (!(file in changes)) symlinkSync(join(tinySdDir, file), join(dir, file));
  }
  for (const [file, content] of Object.entries(changes)) {
    if (content === null) continue;
    mkdirSync(join(dir, file, '..'), { recursive: true });
    writeFileSync(join(dir, file), content);
  }
  return dir;
}

/** Remove the folders `folderCopy` made (call in afterAll). */
export function removeFolderCopies(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
