/**
 * The forward (noising) process and the v target, as pure functions over alpha_bar:
 *
 *   add_noise:    x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps            (DDPM eq. 4)
 *   get_velocity: v   = sqrt(a_t) eps - sqrt(1 - a_t) x0            (Salimans & Ho 2022, sec. 4)
 *
 * `timesteps` is one number for the whole batch, or one per batch element (dims[0]), as diffusers
 * broadcasts `alphas_cumprod[timesteps]` over the non-batch axes.
 */
import { ArgumentError, NumericError } from '../errors.js';
import { checkFlag, guarded, readOptions, unreadable } from '../guard.js';
import { readElement, writeElement } from '../tensor/dtype.js';
import { firstNonFinite, nonFiniteInputError } from '../tensor/non-finite.js';
import type { DType, Tensor, TensorLike } from '../tensor/tensor.js';
import { checkSameDims, checkTensor, outputLike } from '../tensor/tensor.js';

/**
 * The timesteps of `addNoise` / `getVelocity`: one training timestep for the whole batch, or one
 * per batch element (a bigint or BigInt64Array too: int64 timesteps from onnxruntime).
 */
export type Timesteps = number | bigint | ArrayLike<number> | ArrayLike<bigint>;

/** Options of `addNoise` / `getVelocity`. */
export interface ForwardOptions {
  /** Return NaN / Inf results instead of throwing a NumericError (as `step` allows). Default false. */
  allowNonFinite?: boolean;
  /**
   * Write the result here (the first input's dims and dtype) instead of a new tensor. May be exactly
   * an input's memory (the pass reads element i before writing it); a NumericError then names the
   * element of the result, the inputs having been overwritten.
   */
  out?: TensorLike;
}

const FORWARD_OPTION_KEYS: ReadonlySet<string> = new Set(['allowNonFinite', 'out']);

/**
 * Check a training timestep index: an integer in [0, T - 1]. A bigint (an int64 timestep from
 * onnxruntime, or a BigInt64Array element) is accepted as the number it holds, as custom
 * timestep lists accept them.
 */
export function checkTrainTimestep(t: unknown, numTrainTimesteps: number, field = 'timestep'): number {
  if (!(Number.isInteger(numTrainTimesteps) && numTrainTimesteps >= 1)) {
    throw new ArgumentError({
      field: 'numTrainTimesteps',
      value: numTrainTimesteps,
      problem: 'must be a positive integer',
      fix: 'pass scheduler.config.num_train_timesteps.',
    });
  }
  const v = typeof t === 'bigint' && t >= 0n && t < BigInt(numTrainTimesteps) ? Number(t) : t;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= numTrainTimesteps) {
    throw new ArgumentError({
      field,
      value: t,
      problem: `must be an integer training timestep in 0 .. ${numTrainTimesteps - 1}`,
      fix: 'pass a timestep from scheduler.timesteps (or any integer in that range).',
    });
  }
  return v;
}

/**
 * Validates one timestep and returns the alpha_bar index to read: `checkTrainTimestep` for the
 * pure functions; the schedulers also map a timestep they scheduled past the end to T - 1.
 */
export type TimestepResolver = (t: unknown, field: string) => number;

/** One timestep per batch element, validated. */
export function perBatchTimesteps(
  timesteps: Timesteps,
  batch: number,
  numTrainTimesteps: number,
  resolve: TimestepResolver = (t, field) => checkTrainTimestep(t, numTrainTimesteps, field),
): number[] {
  if (typeof timesteps === 'number' || typeof timesteps === 'bigint') {
    const t = resolve(timesteps, 'timesteps');
    return Array.from({ length: batch }, () => t);
  }
  return guarded(
    () => readTimestepList(timesteps, batch, resolve),
    unreadable(ArgumentError, 'timesteps', 'pass a plain array or typed array of integers.'),
  );
}

function readTimestepList(timesteps: unknown, batch: number, resolve: TimestepResolver): number[] {
  const isList =
    timesteps !== null &&
    typeof timesteps === 'object' &&
    (Array.isArray(timesteps) || (ArrayBuffer.isView(timesteps) && !(timesteps instanceof DataView)));
  if (!isList) {
    throw new ArgumentError({
      field: 'timesteps',
      value: timesteps,
      problem: 'must be a number or an array with one timestep per batch element',
      fix: 'pass e.g. 500 or [500, 250].',
    });
  }
  const source = timesteps as ArrayLike<unknown>;
  // The length first: a list that cannot match the batch is refused before it is read.
  if (source.length !== 1 && source.length !== batch) {
    throw new ArgumentError({
      field: 'timesteps',
      value: timesteps,
      problem: `has ${source.length} entries but the batch (dims[0]) has ${batch}`,
      fix: 'pass one timestep, or exactly one per batch element.',
    });
  }
  const list: number[] = [];
  for (let i = 0; i < source.length; i++) {
    list.push(resolve(source[i], `timesteps[${i}]`));
  }
  if (list.length === 1) return Array.from({ length: batch }, () => list[0]);
  return list;
}

/**
 * out = wa[b] * a + wb[b] * b elementwise, with per-batch weights; result has a's dtype. Returns
 * the sum of the stored results (non-finite iff some stored value is: read back after the store,
 * so a float32 / float16 overflow to Inf counts, not only NaN inputs).
 */
function combine(
  a: TensorLike,
  aType: DType,
  b: TensorLike,
  bType: DType,
  out: Tensor,
  weights: (batchIndex: number) => [number, number],
): number {
  const batch = a.dims.length > 0 ? a.dims[0] : 1;
  const per = batch > 0 ? a.data.length / batch : 0;
  const ad = a.data;
  const bd = b.data;
  const od = out.data;
  let checksum = 0;
  for (let bi = 0; bi < batch; bi++) {
    const [wa, wb] = weights(bi);
    const start = bi * per;
    for (let k = start; k < start + per; k++) {
      writeElement(od, aType, k, wa * readElement(ad, aType, k) + wb * readElement(bd, bType, k));
      checksum += readElement(od, aType, k);
    }
  }
  return checksum;
}

function readForwardOptions(
  options: unknown,
  method: string,
): { allow: boolean; out: TensorLike | undefined } {
  const o = readOptions(options, {
    allowed: FORWARD_OPTION_KEYS,
    field: 'options',
    example: `${method}(..., { allowNonFinite: true })`,
  });
  return {
    allow: checkFlag(o?.allowNonFinite, 'options.allowNonFinite'),
    out: o?.out as TensorLike | undefined,
  };
}

/**
 * Forward process: x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise, per batch element. A non-finite
 * result (a NaN / Inf input, or a float16 result past 65504) is a NumericError unless
 * `allowNonFinite`.
 */
export function addNoise(
  alphasCumprod: Float64Array,
  originalSamples: TensorLike,
  noise: TensorLike,
  timesteps: Timesteps,
  options?: ForwardOptions,
): Tensor {
  return forwardProcess('addNoise', alphasCumprod, originalSamples, noise, timesteps, options);
}

/** The v_prediction target: v = sqrt(a_t) noise - sqrt(1 - a_t) sample; non-finite results as in `addNoise`. */
export function getVelocity(
  alphasCumprod: Float64Array,
  sample: TensorLike,
  noise: TensorLike,
  timesteps: Timesteps,
  options?: ForwardOptions,
): Tensor {
  return forwardProcess('getVelocity', alphasCumprod, sample, noise, timesteps, options);
}

/**
 * `addNoise` / `getVelocity` with a timestep resolver (the schedulers' maps scheduled
 * past-the-end timesteps to T - 1). Internal: the package exports the two functions above.
 */
export function forwardProcess(
  what: 'addNoise' | 'getVelocity',
  alphasCumprod: Float64Array,
  x: TensorLike,
  noise: TensorLike,
  timesteps: Timesteps,
  options: ForwardOptions | undefined,
  resolve?: TimestepResolver,
): Tensor {
  const { allow, out: given } = readForwardOptions(options, what);
  const xName = what === 'addNoise' ? 'originalSamples' : 'sample';
  const xType = checkTensor(x, xName);
  const batch = x.dims.length > 0 ? x.dims[0] : 1;
  const ts = perBatchTimesteps(timesteps, batch, alphasCumprod.length, resolve);
  const noiseType = checkTensor(noise, 'noise');
  checkSameDims(x, xName, noise, 'noise');
  const out = outputLike(given, 'options.out', x, xName, xType);
  // addNoise: sqrt(a) x0 + sqrt(1 - a) noise; getVelocity: -sqrt(1 - a) sample + sqrt(a) noise.
  const checksum = combine(x, xType, noise, noiseType, out, (b) => {
    const a = alphasCumprod[ts[b]];
    return what === 'addNoise' ? [Math.sqrt(a), Math.sqrt(1 - a)] : [-Math.sqrt(1 - a), Math.sqrt(a)];
  });
  if (allow || Number.isFinite(checksum)) return out;
  // Name the culprit: a non-finite input, else the element that overflowed the output dtype.
  const at = ts.length > 0 && ts.every((t) => t === ts[0]) ? `timestep ${ts[0]}` : 'these timesteps';
  const fix = 'pass finite inputs, or allowNonFinite: true to compute anyway.';
  const inputError = nonFiniteInputError(
    [
      { name: xName, tensor: x, dtype: xType, fix },
      { name: 'noise', tensor: noise, dtype: noiseType, fix },
    ],
    `(${what} at ${at})`,
  );
  if (inputError !== null) throw inputError;
  const i = firstNonFinite(out.data, out.type);
  throw new NumericError({
    field: `${what}[${i}]`,
    value: readElement(out.data, out.type, i),
    problem: `overflows ${out.type} at ${at} although the inputs are finite`,
    fix:
      out.type === 'float16'
        ? 'float16 holds at most 65504: compute in float32 (pass float32 tensors).'
        : 'the inputs are too large for the dtype; scale them down.',
  });
}
