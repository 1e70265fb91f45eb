/**
 * The options of `step`, read and validated once per call into an object the scheduler owns (so
 * that a step allocates nothing here). Unknown keys are errors, so `{ etta: 1 }` or an inverse
 * step given `eta` fails instead of silently running without it.
 */
import { ArgumentError } from '../errors.js';
import {
  checkFlag,
  checkNumber,
  type NumberRule,
  type OptionsSpec,
  readOptions,
  unreadable,
} from '../guard.js';
import { type Generator, type GeneratorOption, isGenerator } from '../noise/generator.js';
import type { Tensor, TensorLike } from '../tensor/tensor.js';

/** Buffers to write a step's results into, so a sampling loop allocates nothing per step. */
export interface StepOutBuffers {
  /** Receives x_{t-1}; the sample's dims and dtype. */
  prevSample?: TensorLike;
  /** Receives the predicted x0; the sample's dims and dtype. */
  predOriginalSample?: TensorLike;
}

/** What a step returns: tensors of the sample's dtype and dims. */
export interface StepOutput {
  /** x_{t-1}: the next model input. */
  prevSample: Tensor;
  /** The predicted x0 (after clipping / thresholding): a preview of the final result. */
  predOriginalSample: Tensor;
}

/** Options of `DDIMScheduler.step`. */
export interface StepOptions {
  /** DDIM's eta (eq. 16): 0 is deterministic DDIM, 1 is DDPM-like ancestral sampling. Default 0. */
  eta?: number;
  /** Re-derive the noise prediction from the clipped x0 (Glide). Default false. */
  useClippedModelOutput?: boolean;
  /**
   * Where the eta > 0 noise comes from, as in diffusers: `randn_tensor(model_output.shape,
   * generator, dtype=model_output.dtype)`, i.e. `torch.randn` on this PyTorch-exact generator (a
   * list: one generator per batch element). Neither this nor `varianceNoise`: the module's default
   * generator (see `manualSeed`). The noise is drawn in the model output's dtype, as diffusers does:
   * a float16 model output gets torch's float16 stream (other numbers than float32's), a float64 one
   * the float64 stream (see `randnTensor`).
   */
  generator?: GeneratorOption;
  /** The noise z for eta > 0, instead of drawing it (CycleDiffusion). Not together with `generator`. */
  varianceNoise?: TensorLike | null;
  /**
   * Write results into these tensors (same dims and dtype as `sample`). Each may be exactly the
   * memory of an input (`sample`, `modelOutput`, `varianceNoise`): the pass reads element i
   * before writing it. Any other overlap is an ArgumentError: the two outputs sharing memory, or
   * a buffer overlapping an input at an offset (it would overwrite inputs not yet read).
   */
  out?: StepOutBuffers;
  /**
   * Let NaN / Inf through instead of throwing a NumericError. Default false: a non-finite value in
   * the result means the model or the schedule broke, and silently propagating it wastes the run.
   * Covers NaN / Inf inputs and finite results that overflow the output dtype (float16: 65504).
   */
  allowNonFinite?: boolean;
}

export const STEP_OPTION_KEYS: ReadonlySet<string> = new Set([
  'eta',
  'useClippedModelOutput',
  'generator',
  'varianceNoise',
  'out',
  'allowNonFinite',
]);
/** The inverse step takes no eta, noise or clipped-output option: inversion is deterministic DDIM. */
export const INVERSE_STEP_OPTION_KEYS: ReadonlySet<string> = new Set(['out', 'allowNonFinite']);
const OUT_KEYS: ReadonlySet<string> = new Set(['prevSample', 'predOriginalSample']);

/** Step options after validation: read once from the caller's object, every field typed. */
export interface StepSettings {
  eta: number;
  useClippedModelOutput: boolean;
  generator: GeneratorOption;
  varianceNoise: TensorLike | null;
  /** The caller's tensor objects themselves (not copies): the scheduler's out-result cache compares them. */
  out: StepOutBuffers;
  allowNonFinite: boolean;
}

/** Step settings holding the defaults. */
export function newStepSettings(): StepSettings {
  return {
    eta: 0,
    useClippedModelOutput: false,
    generator: null,
    varianceNoise: null,
    out: {},
    allowNonFinite: false,
  };
}

/**
 * Put the defaults back, which also drops the references to the caller's tensors and generators,
 * so that a scheduler does not keep them alive between steps.
 */
export function resetStepSettings(settings: StepSettings): StepSettings {
  settings.eta = 0;
  settings.useClippedModelOutput = false;
  settings.generator = null;
  settings.varianceNoise = null;
  settings.out.prevSample = undefined;
  settings.out.predOriginalSample = undefined;
  settings.allowNonFinite = false;
  return settings;
}

/**
 * The caller's options, copied once per step into objects kept for that: ordinary objects with
 * every key present from the start, so their shape never changes and for-in over them uses V8's
 * enum cache (a null-prototype object is a dictionary, whose for-in allocates its key list).
 */
const stepCopy: Record<string, unknown> = {
  eta: undefined,
  useClippedModelOutput: undefined,
  generator: undefined,
  varianceNoise: undefined,
  out: undefined,
  allowNonFinite: undefined,
};
const outCopy: Record<string, unknown> = { prevSample: undefined, predOriginalSample: undefined };
const OUT_SPEC: OptionsSpec = { allowed: OUT_KEYS, field: 'out', example: '{ prevSample: buffer }' };
const ETA_RULE: NumberRule = { min: 0 };
/** The options spec of each key set (the forward and the inverse step's), made once. */
const specs = new Map<ReadonlySet<string>, OptionsSpec>();

function specFor(allowed: ReadonlySet<string>): OptionsSpec {
  let spec = specs.get(allowed);
  if (spec === undefined) {
    spec = { allowed, field: 'options', example: '{ eta: 0, out: { prevSample } }' };
    specs.set(allowed, spec);
  }
  return spec;
}

/** Read and validate a step's options into `settings`. Each option is read once. */
export function readStepOptions(
  options: unknown,
  allowed: ReadonlySet<string>,
  settings: StepSettings,
): StepSettings {
  try {
    return readInto(options, allowed, resetStepSettings(settings));
  } finally {
    // Drop the copies' references to the caller's objects, whether or not the options were valid.
    for (const key in stepCopy) stepCopy[key] = undefined;
    outCopy.prevSample = outCopy.predOriginalSample = undefined;
  }
}

function readInto(options: unknown, allowed: ReadonlySet<string>, settings: StepSettings): StepSettings {
  const o = readOptions(options, specFor(allowed), stepCopy);
  if (o === null) return settings;
  const eta = o.eta;
  if (eta !== undefined && eta !== null) {
    settings.eta = checkNumber(
      eta,
      'eta',
      ETA_RULE,
      'use 0 for deterministic DDIM or 1 for DDPM-like sampling.',
    );
  }
  settings.useClippedModelOutput = checkFlag(o.useClippedModelOutput, 'options.useClippedModelOutput');
  settings.allowNonFinite = checkFlag(o.allowNonFinite, 'options.allowNonFinite');
  const generator = o.generator;
  const varianceNoise = o.varianceNoise;
  const out = o.out;
  if (generator !== undefined && generator !== null) settings.generator = checkGeneratorOption(generator);
  if (varianceNoise !== undefined && varianceNoise !== null)
    settings.varianceNoise = varianceNoise as TensorLike;
  if (settings.generator !== null && settings.varianceNoise !== null) {
    // diffusers raises the same ValueError: the two would be two different noises.
    throw new ArgumentError({
      field: 'generator',
      value: 'a generator and varianceNoise',
      problem: 'cannot be given together with varianceNoise',
      fix: 'pass either generator (noise drawn like diffusers) or varianceNoise (your own noise), not both.',
    });
  }
  const buffers = readOptions(out, OUT_SPEC, outCopy);
  if (buffers !== null) {
    const prev = buffers.prevSample;
    const x0 = buffers.predOriginalSample;
    if (prev !== undefined && prev !== null) settings.out.prevSample = prev as TensorLike;
    if (x0 !== undefined && x0 !== null) settings.out.predOriginalSample = x0 as TensorLike;
  }
  return settings;
}

/** A Generator, or a plain list of them; the list's length is checked against the batch when drawing. */
function checkGeneratorOption(generator: unknown): GeneratorOption {
  if (isGenerator(generator)) return generator;
  let bad = -1;
  let isList = false;
  try {
    isList = Array.isArray(generator);
    if (isList) {
      const list = generator as readonly unknown[];
      for (let i = 0; i < list.length && bad < 0; i++) if (!isGenerator(list[i])) bad = i;
    }
  } catch (error) {
    throw unreadable(ArgumentError, 'generator', 'pass a plain array of Generators.')(error);
  }
  if (!isList) {
    throw new ArgumentError({
      field: 'generator',
      value: generator,
      problem: 'must be a Generator or a list of Generators',
      fix: 'pass new Generator().manualSeed(seed), one per batch element, or nothing.',
    });
  }
  if (bad >= 0) {
    throw new ArgumentError({
      field: `generator[${bad}]`,
      value: (generator as readonly unknown[])[bad],
      problem: 'must be a Generator',
      fix: 'pass new Generator().manualSeed(seed) for every batch element.',
    });
  }
  return generator as readonly Generator[];
}
