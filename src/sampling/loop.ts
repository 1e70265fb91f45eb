/**
 * The sampling loop of diffusers' pipelines (StableDiffusionPipeline, its img2img variant, and DDIM
 * inversion), over any denoiser, so that JavaScript users do not write it by hand:
 *
 *   latents = randn_tensor(shape, generator) * init_noise_sigma          (or the given latents)
 *   for t in scheduler.timesteps:
 *     noise_pred = model(latents, t)                                     (cond and uncond: guidance)
 *     latents = scheduler.step(noise_pred, t, latents, eta, generator).prev_sample
 *
 * Randomness is diffusers' to the draw: the initial latents (or the img2img noise) come first, one
 * `randn_tensor` of the whole shape (or one per batch element for a list of generators), then each
 * step with eta > 0 draws `randn_tensor(sample.shape)` in step order. Each is drawn in the dtype
 * diffusers draws it in (the latents in the pipeline's dtype, the step noise in the model output's),
 * and torch's float16 and float64 draws are their own streams. The same seeds give the same numbers
 * as PyTorch.
 *
 * Memory: the loop allocates its buffers once -- two sample buffers used in turn, one for the
 * predicted x0, one for the guided prediction; the scheduler keeps one for the eta noise -- and
 * nothing per step but what the denoiser returns. On the WebAssembly backend they live in kernel
 * memory (loop-buffers.ts), where the step reads and writes them in place; the final latents are
 * copied out of it. What that means for callers (the tensors they
 * are handed are views of those buffers) is on `Denoiser` and `StepInfo`, where editors show it.
 *
 * One loop runs on a scheduler at a time (a second `sample` on a busy scheduler throws a
 * StateError): `setTimesteps` changes what `step` does. Schedulers are cheap; make one per
 * concurrent run. An aborted or failed loop leaves the scheduler ready for the next one.
 */
import { AbortError, ArgumentError, ShapeError, StateError } from '../errors.js';
import { checkNumber, checkSignal, guarded, readOptions, unreadable } from '../guard.js';
import { checkGenerators, type Generator } from '../noise/generator.js';
import { randnTensor } from '../noise/randn.js';
import type { DDIMScheduler } from '../scheduler/ddim.js';
import type { DDIMInverseScheduler } from '../scheduler/ddim-inverse.js';
import type { TimestepsChoice } from '../scheduler/scheduler-base.js';
import type { StepOptions, StepOutBuffers } from '../scheduler/step-options.js';
import { checkDType } from '../tensor/dtype.js';
import {
  checkTensor,
  type DType,
  emptyLike,
  sameDims,
  sizeOf,
  type Tensor,
  type TensorLike,
  tensorOf,
} from '../tensor/tensor.js';
import { classifierFreeGuidance, rescaleNoiseCfg } from './guidance.js';
import { checkStrength, img2imgStartIndex } from './img2img.js';
import { LoopBuffers } from './loop-buffers.js';

/**
 * A model: the prediction (of the scheduler's `prediction_type`) for `sample` at `timestep`.
 *
 * `sample` is a read-only view of one of the loop's two sample buffers: valid until the returned
 * promise settles (or the call returns), overwritten by later steps. Copy it
 * (`sample.data.slice()`) to keep it. On the WebAssembly backend it lives in kernel memory, which
 * cannot be detached (a `postMessage` transfer list copies it or refuses it, depending on the
 * engine): copy it to hand it to a worker.
 * The returned tensor is read by the step before the next call and not kept, so a denoiser may
 * return the same output buffer every time.
 */
export type Denoiser = (sample: Tensor, timestep: number) => TensorLike | Promise<TensorLike>;

/** The two predictions classifier-free guidance combines. */
export interface GuidedPrediction {
  /** Conditional ("text") prediction. */
  cond: TensorLike;
  /** Unconditional (empty / negative prompt) prediction. */
  uncond: TensorLike;
}

/**
 * A model evaluated with and without its conditioning (e.g. one UNet call on a batch of 2B).
 * `sample` and the returned tensors follow the rules of `Denoiser`.
 */
export type GuidedDenoiser = (
  sample: Tensor,
  timestep: number,
) => GuidedPrediction | Promise<GuidedPrediction>;

/**
 * What `onStep` sees after each step. `sample` and `predOriginalSample` are read-only views of the
 * loop's buffers: valid until `onStep` returns (or its promise settles), overwritten by later
 * steps. Copy them (`sample.data.slice()`) to keep them.
 */
export interface StepInfo {
  /** 0-based step index. */
  index: number;
  /** The step's timestep: the one the denoiser was called with (sampling steps from it, inversion to it). */
  timestep: number;
  /** The new sample (x_{t-1}; for inversion the noisier sample). */
  sample: Tensor;
  /** The step's predicted x0: a preview of the final result. */
  predOriginalSample: Tensor;
  /** Number of steps in this run. */
  total: number;
}

/** Options of {@link sample}, {@link sampleGuided} and (in part) {@link invert}. */
export interface SampleOptions {
  /** Denoising steps of the full schedule (before `strength`). Default 50. */
  numInferenceSteps?: number;
  /**
   * Your own timesteps instead of `numInferenceSteps` (`scheduler.setTimesteps({ timesteps })`:
   * strictly decreasing for sampling, increasing for inversion). With `strength`, the tail is kept
   * as diffusers does with a custom list: `n` is the list's length.
   */
  timesteps?: ArrayLike<number>;
  /** DDIM eta: 0 (default) is deterministic, 1 is DDPM-like. */
  eta?: number;
  /**
   * Source of the initial noise (and of the eta > 0 noise), as diffusers' `generator`: one
   * Generator, or one per batch element. Default: the default generator (`defaultGenerator()`).
   */
  generator?: Generator | readonly Generator[] | null;
  /** The initial x_T, instead of drawing it. Never written; its dtype is the loop's dtype. */
  latents?: TensorLike;
  /**
   * The dtype the latents are drawn in and the loop runs in, as the pipeline dtype of diffusers'
   * `prepare_latents` (`randn_tensor(shape, generator, dtype=dtype)`): 'float32' (default),
   * 'float16' (torch's float16 stream: what a `torch_dtype=torch.float16` pipeline with a CPU
   * generator draws) or 'float64'. With `latents` or `initLatents` the loop runs in their dtype
   * (the img2img noise is drawn in it); a different `dtype` is an ArgumentError.
   */
  dtype?: DType;
  /** Shape of the drawn latents; needed when neither `latents` nor `initLatents` is given. */
  shape?: readonly number[];
  /** Classifier-free guidance scale w (`sampleGuided`: default 7.5, diffusers' default; `invert`: default 1). */
  guidanceScale?: number;
  /** Guidance rescale phi (`sampleGuided` only). Default 0 (off). */
  guidanceRescale?: number;
  /** Image-to-image: the fraction of the schedule to run, in [0, 1]. Default 0.8 with `initLatents`. */
  strength?: number;
  /** Image-to-image: the (VAE-encoded, scaled) latents of the input image. */
  initLatents?: TensorLike;
  /** Called after every step; awaited when it returns a promise. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** Stops the loop (with an AbortError) before or after the next denoiser call. */
  signal?: AbortSignal;
}

/** What {@link sample}, {@link sampleGuided} and {@link invert} return. */
export interface SampleResult {
  /** The final latents: yours (the loop keeps no reference to them). */
  latents: Tensor;
  /** The timesteps stepped through. */
  timesteps: Int32Array;
  /** Number of steps run. */
  steps: number;
}

const SAMPLE_KEYS = [
  'numInferenceSteps',
  'timesteps',
  'eta',
  'generator',
  'latents',
  'dtype',
  'shape',
  'strength',
  'initLatents',
  'onStep',
  'signal',
];
const GUIDED_KEYS = [...SAMPLE_KEYS, 'guidanceScale', 'guidanceRescale'];
const INVERT_KEYS = ['numInferenceSteps', 'timesteps', 'guidanceScale', 'onStep', 'signal'];

/** Schedulers with a loop in progress. */
const busy = new WeakSet<object>();

type AnyScheduler = DDIMScheduler | DDIMInverseScheduler;

/**
 * Read the options object once (guard.ts' reader): the loop then never reads the caller's object
 * again (a Proxy or getter that throws is an ArgumentError here, not an engine error in the middle
 * of a run).
 */
function readLoopOptions<O>(options: O, allowed: readonly string[], fn: string): O {
  return readOptions(options, {
    allowed: new Set(allowed),
    field: 'options',
    example: `{ ${allowed.join(', ')} } (all optional)`,
    kind: `an option of ${fn}`,
    required: true,
    hint: (key) =>
      (key === 'guidanceScale' || key === 'guidanceRescale') && fn === 'sample'
        ? 'use sampleGuided with a GuidedDenoiser for guidance.'
        : `${fn} takes ${allowed.join(', ')}.`,
  }) as O;
}

function checkFunction<F>(value: unknown, field: string, fix: string): F {
  if (typeof value !== 'function') {
    throw new ArgumentError({ field, value, problem: 'must be a function', fix });
  }
  return value as F;
}

function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  let aborted = false;
  let reason: unknown;
  try {
    // A real AbortSignal never throws here; an object that only looked like one may.
    aborted = signal?.aborted === true;
    if (aborted) reason = signal?.reason;
  } catch (error) {
    throw unreadable(
      ArgumentError,
      'options.signal',
      'pass controller.signal from an AbortController.',
    )(error);
  }
  if (aborted) {
    throw new AbortError({
      field: 'signal',
      problem: `aborted the sampling loop ${where}`,
      fix: 'start a new run; the scheduler is ready for it.',
      cause: reason,
    });
  }
}

/** A copy of `t` in its own dtype: a buffer the loop may write. */
function copyOf(t: TensorLike, type: DType): Tensor {
  const out = emptyLike(t, type);
  out.data.set(t.data);
  return out;
}

/** A run ready to loop: the scheduler's timesteps are set; `start` is a fresh buffer the loop may write. */
interface Run {
  numInferenceSteps: number;
  timesteps: Int32Array;
  start: Tensor;
  onStep: SampleOptions['onStep'];
  signal: AbortSignal | undefined;
}

/**
 * The loop shared by sampling and inversion: ping-pong between two sample buffers, x0 into a third.
 * `predict` returns the model output for the scheduler. `step` runs the scheduler's step with
 * options whose `out` is `out`, which the loop points at its buffers before each step. With no
 * timesteps (img2img keeping no step) the result is `start` itself.
 */
async function runLoop(
  scheduler: AnyScheduler,
  run: Run,
  predict: (sample: Tensor, timestep: number) => TensorLike | Promise<TensorLike>,
  out: StepOutBuffers,
  step: (modelOutput: TensorLike, t: number, sample: Tensor) => unknown,
  buffers: LoopBuffers,
): Promise<SampleResult> {
  const { numInferenceSteps, timesteps, start, onStep, signal } = run;
  const total = timesteps.length;
  // The loop's buffers: in kernel memory when the WebAssembly backend is in effect (loop-buffers.ts).
  buffers.open(start, start.type);
  try {
    let current = total === 0 ? start : buffers.adopt(start);
    let next = buffers.emptyLike(start, start.type);
    const x0 = buffers.emptyLike(start, start.type);
    out.predOriginalSample = x0;
    for (let index = 0; index < total; index++) {
      const t = timesteps[index];
      throwIfAborted(signal, `before step ${index} (timestep ${t})`);
      const modelOutput = await predict(current, t);
      throwIfAborted(signal, `after the denoiser at step ${index} (timestep ${t})`);
      if (scheduler.numInferenceSteps !== numInferenceSteps) {
        throw new StateError({
          field: 'scheduler.numInferenceSteps',
          value: scheduler.numInferenceSteps,
          problem: `changed from ${numInferenceSteps} during the sampling loop`,
          fix: 'do not call setTimesteps on a scheduler while a loop runs on it; use a second scheduler.',
        });
      }
      out.prevSample = next;
      step(modelOutput, t, current);
      if (onStep !== undefined) {
        await onStep({ index, timestep: t, sample: next, predOriginalSample: x0, total });
      }
      const previous = current;
      current = next;
      next = previous;
    }
    throwIfAborted(signal, 'after the last step');
    return {
      // The caller's to keep: out of the loop's arena (a copy), or the loop's own array.
      latents: buffers.release(tensorOf(current.data, [...current.dims], current.type)),
      timesteps,
      steps: total,
    };
  } finally {
    buffers.close();
  }
}

/** Run `body` with the scheduler marked busy. */
async function exclusive<T>(scheduler: object, body: () => Promise<T>): Promise<T> {
  if (
    scheduler === null ||
    typeof scheduler !== 'object' ||
    typeof (scheduler as AnyScheduler).setTimesteps !== 'function' ||
    typeof (scheduler as AnyScheduler).step !== 'function'
  ) {
    throw new ArgumentError({
      field: 'scheduler',
      value: scheduler,
      problem: 'must be a DDIMScheduler (DDIMInverseScheduler for invert)',
      fix: 'pass DDIMScheduler.fromConfig(config).',
    });
  }
  if (busy.has(scheduler)) {
    throw new StateError({
      field: 'scheduler',
      problem: 'is already running a sampling loop',
      fix: 'await the running loop, or give each concurrent loop its own scheduler (DDIMScheduler.fromConfig(scheduler.config)).',
    });
  }
  busy.add(scheduler);
  try {
    return await body();
  } finally {
    busy.delete(scheduler);
  }
}

interface SamplingRun extends Run {
  eta: number;
  /** The checked generator option (a list copied). */
  generator: Generator | Generator[] | null;
}

/** `setTimesteps`' argument from `numInferenceSteps` (default 50) or `timesteps`, not both. */
function timestepsChoice(options: Pick<SampleOptions, 'numInferenceSteps' | 'timesteps'>): TimestepsChoice {
  if (options.timesteps === undefined) return options.numInferenceSteps ?? 50;
  if (options.numInferenceSteps !== undefined) {
    throw new ArgumentError({
      field: 'options.timesteps',
      value: options.timesteps,
      problem: 'cannot be combined with options.numInferenceSteps',
      fix: 'pass a step count (numInferenceSteps) or your own list (timesteps), not both.',
    });
  }
  const list = options.timesteps;
  if (list === null || typeof list !== 'object' || typeof list.length !== 'number') {
    throw new ArgumentError({
      field: 'options.timesteps',
      value: list,
      problem: 'must be an array of training timesteps',
      fix: 'pass e.g. [999, 759, 499, 259] (or omit it and pass numInferenceSteps).',
    });
  }
  return { timesteps: list };
}

/** Validate the options, set the timesteps and draw (or copy) the starting latents. */
function prepare(scheduler: DDIMScheduler, options: SampleOptions): SamplingRun {
  const choice = timestepsChoice(options);
  const eta = checkNumber(
    options.eta ?? 0,
    'options.eta',
    { min: 0 },
    'use 0 for DDIM, 1 for DDPM-like sampling.',
  );
  const onStep =
    options.onStep === undefined
      ? undefined
      : checkFunction<SampleOptions['onStep']>(options.onStep, 'options.onStep', 'pass (info) => { ... }.');
  const signal = checkSignal(options.signal);
  const { latents, initLatents, shape } = options;
  const img2img = initLatents !== undefined;
  if (!img2img && options.strength !== undefined) {
    throw new ArgumentError({
      field: 'options.strength',
      value: options.strength,
      problem: 'needs options.initLatents (strength is the image-to-image noise level)',
      fix: 'pass initLatents (the encoded image), or drop strength for text-to-image.',
    });
  }
  if (img2img && latents !== undefined) {
    throw new ArgumentError({
      field: 'options.latents',
      problem: 'cannot be combined with options.initLatents',
      fix: 'pass latents (x_T) for text-to-image, or initLatents with strength for image-to-image.',
    });
  }
  const given = img2img ? initLatents : latents;
  const givenName = img2img ? 'options.initLatents' : 'options.latents';
  const dtype =
    options.dtype === undefined
      ? undefined
      : checkDType(
          options.dtype,
          'options.dtype',
          "pass the pipeline's dtype (torch_dtype), or omit it for 'float32'.",
        );
  let dims: readonly number[];
  let givenType: DType | null = null;
  if (given !== undefined) {
    givenType = checkTensor(given, givenName);
    if (dtype !== undefined && dtype !== givenType) {
      throw new ArgumentError({
        field: 'options.dtype',
        value: dtype,
        problem: `differs from the dtype of ${givenName} (${givenType}); the loop runs in the dtype of the latents given`,
        fix: `drop dtype (it is taken from ${givenName}), or convert ${givenName} to ${dtype}.`,
      });
    }
    dims = given.dims;
    if (shape !== undefined && !sameDims(shape, dims)) {
      throw new ShapeError({
        field: 'options.shape',
        value: [...shape],
        problem: `differs from ${givenName}.dims [${dims.join(', ')}]`,
        fix: 'drop shape (it is taken from the latents) or make them agree.',
      });
    }
  } else {
    if (shape === undefined) {
      throw new ArgumentError({
        field: 'options.shape',
        value: undefined,
        problem: 'is required when neither latents nor initLatents is given',
        fix: 'pass the latent shape, e.g. shape: [1, 4, 64, 64].',
      });
    }
    sizeOf(shape as number[], 'options.shape');
    dims = shape;
  }
  if (dims.length < 1) {
    throw new ShapeError({
      field: given === undefined ? 'options.shape' : `${givenName}.dims`,
      value: [...dims],
      problem: 'must have a batch axis',
      fix: 'use shape [batch, ...], e.g. [1, 4, 64, 64].',
    });
  }
  // Checked now, so that a bad one fails before any model call (with latents given, the generator
  // is first used by the eta > 0 noise, after the first call).
  const generator = checkGenerators(options.generator, dims[0], 'options.generator');
  const strength = img2img ? checkStrength(options.strength ?? 0.8, 'options.strength') : 1;
  // Everything is valid: from here on the scheduler and the generators change.
  throwIfAborted(signal, 'before it started');
  scheduler.setTimesteps(choice);
  // diffusers: with a custom list, num_inference_steps = len(timesteps) (retrieve_timesteps).
  const numInferenceSteps = scheduler.numInferenceSteps as number;
  const timesteps = img2img
    ? scheduler.timesteps.slice(img2imgStartIndex(numInferenceSteps, strength, scheduler.order))
    : scheduler.timesteps.slice();
  const run = { numInferenceSteps, timesteps, eta, generator, onStep, signal };
  if (img2img) {
    const init = initLatents as TensorLike;
    // No step kept: the loop runs none and returns a copy of the init latents (nothing drawn).
    if (timesteps.length === 0) return { ...run, start: copyOf(init, givenType as DType) };
    // prepare_latents: noise = randn_tensor(init.shape, generator, dtype); add_noise(init, noise,
    // timesteps[:1]), dtype being the pipeline's, which the init latents are in.
    const noise = randnTensor(init.dims, { generator, dtype: givenType as DType });
    return { ...run, start: scheduler.addNoise(init, noise, timesteps[0]) };
  }
  // prepare_latents: randn_tensor(shape, generator, dtype) * init_noise_sigma, or the given latents *
  // init_noise_sigma; DDIM's init_noise_sigma is 1.
  if (latents !== undefined) return { ...run, start: copyOf(latents, givenType as DType) };
  return { ...run, start: randnTensor(dims, { generator, dtype: dtype ?? 'float32' }) };
}

/**
 * Sampling's loop: `prepare`, then the scheduler's step with the loop's buffers. With eta > 0 the
 * step draws diffusers' `randn_tensor(model_output.shape, generator, dtype=model_output.dtype)` itself -- every step, even
 * where the variance is 0, after the model call -- into a buffer the scheduler keeps (no
 * generator: the default one).
 */
function runSampling(
  scheduler: DDIMScheduler,
  options: SampleOptions,
  predict: (sample: Tensor, timestep: number) => TensorLike | Promise<TensorLike>,
  buffers: LoopBuffers,
): Promise<SampleResult> {
  return exclusive(scheduler, async () => {
    // Reading latents / shape (the caller's objects) may throw: typed, as everywhere.
    const run = guarded(
      () => prepare(scheduler, options),
      unreadable(ArgumentError, 'options', 'pass plain tensors and arrays.'),
    );
    const out: StepOutBuffers = {};
    const stepOptions: StepOptions = { eta: run.eta, out, generator: run.generator };
    return runLoop(
      scheduler,
      run,
      predict,
      out,
      (modelOutput, t, sample) => scheduler.step(modelOutput, t, sample, stepOptions),
      buffers,
    );
  });
}

/**
 * Sample with a DDIM scheduler and any denoiser (text-to-image, or image-to-image with `initLatents`
 * and `strength`). Calls `scheduler.setTimesteps` (with `numInferenceSteps` or `timesteps`).
 * The denoiser's `sample` and `onStep`'s tensors are views of the loop's buffers (see `Denoiser`);
 * the result's latents are yours, and the latents passed in are never written.
 */
export function sample(
  scheduler: DDIMScheduler,
  denoiser: Denoiser,
  options: SampleOptions = {},
): Promise<SampleResult> {
  return Promise.resolve().then(() => {
    options = readLoopOptions(options, SAMPLE_KEYS, 'sample');
    const model = checkFunction<Denoiser>(denoiser, 'denoiser', 'pass (sample, timestep) => modelOutput.');
    return runSampling(scheduler, options, model, new LoopBuffers());
  });
}

/**
 * Sample with classifier-free guidance, as diffusers' Stable Diffusion pipeline: per step
 * `uncond + guidanceScale * (cond - uncond)`, then `rescaleNoiseCfg(..., cond, guidanceRescale)` when
 * guidanceRescale > 0. As in diffusers, guidance applies only when guidanceScale > 1; otherwise the
 * conditional prediction is used as is (and `uncond` is ignored: use `sample` to skip computing it).
 * Buffers as for `sample`.
 */
export function sampleGuided(
  scheduler: DDIMScheduler,
  denoiser: GuidedDenoiser,
  options: SampleOptions = {},
): Promise<SampleResult> {
  return Promise.resolve().then(() => {
    options = readLoopOptions(options, GUIDED_KEYS, 'sampleGuided');
    const model = checkFunction<GuidedDenoiser>(
      denoiser,
      'denoiser',
      'pass (sample, timestep) => ({ cond, uncond }).',
    );
    const scale = checkNumber(
      options.guidanceScale ?? 7.5,
      'options.guidanceScale',
      {},
      'pass e.g. 7.5 (values <= 1 disable guidance, as in diffusers).',
    );
    const rescale = checkNumber(
      options.guidanceRescale ?? 0,
      'options.guidanceRescale',
      { min: 0 },
      'pass a number in [0, 1], e.g. 0.7 for zero-SNR models (0 disables it).',
    );
    const buffers = new LoopBuffers();
    return runSampling(scheduler, options, guidedPredictor(model, scale, rescale, true, buffers), buffers);
  });
}

/**
 * The prediction a guided denoiser's two outputs give, as diffusers' pipelines combine them: per
 * step `uncond + scale * (cond - uncond)`, then `rescaleNoiseCfg(..., cond, rescale)` when
 * rescale > 0; guidance applies only when scale > 1 (diffusers' `do_classifier_free_guidance`),
 * otherwise the conditional prediction is used as is. With `guidedOnly` false a plain tensor
 * result is taken as the prediction too (inversion's denoiser may be either), unless scale > 1
 * asks for guidance it cannot give. The combined prediction goes into one buffer reused per step.
 */
function guidedPredictor(
  model: (sample: Tensor, timestep: number) => unknown,
  scale: number,
  rescale: number,
  guidedOnly: boolean,
  buffers: LoopBuffers,
): (sample: Tensor, timestep: number) => Promise<TensorLike> {
  let guided: Tensor | null = null;
  return async (x, t) => {
    const prediction = await model(x, t);
    const isGuided = prediction !== null && typeof prediction === 'object' && 'cond' in prediction;
    if (!isGuided) {
      if (!guidedOnly && !(scale > 1)) return prediction as TensorLike;
      throw new ArgumentError({
        field: 'denoiser result',
        value: prediction,
        problem: `must be { cond, uncond } (at timestep ${t})${guidedOnly ? '' : ` for guidanceScale ${scale} > 1`}`,
        fix: 'return both predictions from the guided denoiser.',
      });
    }
    const { cond, uncond } = prediction as GuidedPrediction;
    // diffusers: do_classifier_free_guidance = guidance_scale > 1.
    if (!(scale > 1)) return cond;
    const type = checkTensor(uncond, 'uncond');
    if (guided === null || guided.type !== type || !sameDims(guided.dims, uncond.dims)) {
      guided = buffers.emptyLike(uncond, type);
    }
    classifierFreeGuidance(uncond, cond, scale, guided);
    if (rescale > 0) rescaleNoiseCfg(guided, cond, rescale, guided);
    return guided;
  };
}

/**
 * DDIM inversion: run `x0` through the inverse schedule (ascending timesteps) with the denoiser and
 * return the latents x_T that DDIM sampling with the same denoiser, steps and config maps back to x0
 * (up to the discretisation error of evaluating the model one level early; see docs/sampling.md).
 * Calls `scheduler.setTimesteps` (with `numInferenceSteps` or an ascending `timesteps` list); `x0`
 * is never written. Buffers as for `sample`.
 *
 * `guidanceScale` (default 1, as diffusers' DiffEdit `invert`): with a scale > 1 the denoiser is a
 * `GuidedDenoiser` and each step inverts with the classifier-free-guided prediction; at scale 1 a
 * plain denoiser (or a guided one, whose conditional prediction is then used) runs one batch.
 */
export function invert(
  scheduler: DDIMInverseScheduler,
  denoiser: Denoiser | GuidedDenoiser,
  x0: TensorLike,
  options: Pick<
    SampleOptions,
    'numInferenceSteps' | 'timesteps' | 'guidanceScale' | 'onStep' | 'signal'
  > = {},
): Promise<SampleResult> {
  return Promise.resolve().then(() => {
    options = readLoopOptions(options, INVERT_KEYS, 'invert');
    const scale = checkNumber(
      options.guidanceScale ?? 1,
      'options.guidanceScale',
      {},
      'pass e.g. 7.5 with a guided denoiser, or omit it (1: no guidance, as DiffEdit by default).',
    );
    const buffers = new LoopBuffers();
    const model = guidedPredictor(
      checkFunction<Denoiser | GuidedDenoiser>(
        denoiser,
        'denoiser',
        'pass (sample, timestep) => modelOutput.',
      ),
      scale,
      0,
      false,
      buffers,
    );
    const type = checkTensor(x0, 'x0');
    if (x0.dims.length < 1) {
      throw new ShapeError({
        field: 'x0.dims',
        value: [...x0.dims],
        problem: 'must have a batch axis',
        fix: 'use dims [batch, ...], e.g. [1, 4, 64, 64].',
      });
    }
    const onStep =
      options.onStep === undefined
        ? undefined
        : checkFunction<SampleOptions['onStep']>(options.onStep, 'options.onStep', 'pass (info) => { ... }.');
    const signal = checkSignal(options.signal);
    const choice = timestepsChoice(options);
    return exclusive(scheduler, async () => {
      throwIfAborted(signal, 'before it started');
      scheduler.setTimesteps(choice);
      const run: Run = {
        numInferenceSteps: scheduler.numInferenceSteps as number,
        timesteps: scheduler.timesteps.slice(),
        start: copyOf(x0, type),
        onStep,
        signal,
      };
      const out: StepOutBuffers = {};
      const stepOptions = { out };
      return runLoop(
        scheduler,
        run,
        model,
        out,
        (modelOutput, t, sample) => scheduler.step(modelOutput, t, sample, stepOptions),
        buffers,
      );
    });
  });
}
