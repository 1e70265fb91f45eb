/**
 * The forward (noising) process and the v target, as pure functions over alpha_bar:
 *
 *   add_noise:    x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps            (DDPM eq. 4)
 *   get_velocity: v   = sqrt(a_t) eps - sqrt(1 - a_t) x0            (Salimans & Ho 2022, sec. 4)
 *
 * `timesteps` is one number for the whole batch, or one per batch element (dims[0]), as diffusers
 * broadcasts `alphas_cumprod[timesteps]` over the non-batch axes.
 */
import { ArgumentError } from './errors.js';
import type { Tensor, TensorLike } from './tensor.js';
import { checkSameDims, checkTensor, emptyLike, float16Table, numberToFloat16 } from './tensor.js';

export type Timesteps = number | ArrayLike<number>;

/** Check a training timestep index: an integer in [0, T - 1]. */
export function checkTrainTimestep(t: unknown, numTrainTimesteps: number, field = 'timestep'): number {
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= numTrainTimesteps) {
    throw new ArgumentError({
      field,
      value: t,
      problem: `must be an integer training timestep in 0 .. ${numTrainTimesteps - 1}`,
      fix: 'pass a timestep from scheduler.timesteps (or any integer in that range).',
    });
  }
  return t;
}

/** One timestep per batch element, validated. */
export function perBatchTimesteps(timesteps: Timesteps, batch: number, numTrainTimesteps: number): number[] {
  if (typeof timesteps === 'number') {
    const t = checkTrainTimestep(timesteps, numTrainTimesteps, 'timesteps');
    return Array.from({ length: batch }, () => t);
  }
  const isList =
    timesteps !== null &&
    typeof timesteps === 'object' &&
    (Array.isArray(timesteps) || ArrayBuffer.isView(timesteps)) &&
    typeof (timesteps as ArrayLike<number>).length === 'number';
  if (!isList) {
    throw new ArgumentError({
      field: 'timesteps',
      value: timesteps,
      problem: 'must be a number or an array with one timestep per batch element',
      fix: 'pass e.g. 500 or [500, 250].',
    });
  }
  const list = Array.from(timesteps as ArrayLike<number>, (t, i) =>
    checkTrainTimestep(typeof t === 'bigint' ? Number(t) : t, numTrainTimesteps, `timesteps[${i}]`),
  );
  if (list.length === 1) return Array.from({ length: batch }, () => list[0]);
  if (list.length !== batch) {
    throw new ArgumentError({
      field: 'timesteps',
      value: list,
      problem: `has ${list.length} entries but the batch (dims[0]) has ${batch}`,
      fix: 'pass one timestep, or exactly one per batch element.',
    });
  }
  return list;
}

/** out = wa[b] * a + wb[b] * b elementwise, with per-batch weights; result has a's dtype. */
function combine(
  a: TensorLike,
  aName: string,
  b: TensorLike,
  bName: string,
  weights: (batchIndex: number) => [number, number],
): Tensor {
  const aType = checkTensor(a, aName);
  const bType = checkTensor(b, bName);
  checkSameDims(a, aName, b, bName);
  const out = emptyLike(a, aType);
  const batch = a.dims.length > 0 ? a.dims[0] : 1;
  const per = batch > 0 ? a.data.length / batch : 0;
  const table = aType === 'float16' || bType === 'float16' ? float16Table() : null;
  const ad = a.data;
  const bd = b.data;
  const od = out.data;
  for (let bi = 0; bi < batch; bi++) {
    const [wa, wb] = weights(bi);
    const start = bi * per;
    for (let k = start; k < start + per; k++) {
      const av = aType === 'float16' ? table![ad[k]] : ad[k];
      const bv = bType === 'float16' ? table![bd[k]] : bd[k];
      const v = wa * av + wb * bv;
      od[k] = aType === 'float16' ? numberToFloat16(v) : v;
    }
  }
  return out;
}

export function addNoise(
  alphasCumprod: Float64Array,
  originalSamples: TensorLike,
  noise: TensorLike,
  timesteps: Timesteps,
): Tensor {
  checkTensor(originalSamples, 'originalSamples');
  const batch = originalSamples.dims.length > 0 ? originalSamples.dims[0] : 1;
  const ts = perBatchTimesteps(timesteps, batch, alphasCumprod.length);
  return combine(originalSamples, 'originalSamples', noise, 'noise', (b) => {
    const a = alphasCumprod[ts[b]];
    return [Math.sqrt(a), Math.sqrt(1 - a)];
  });
}

export function getVelocity(
  alphasCumprod: Float64Array,
  sample: TensorLike,
  noise: TensorLike,
  timesteps: Timesteps,
): Tensor {
  checkTensor(sample, 'sample');
  const batch = sample.dims.length > 0 ? sample.dims[0] : 1;
  const ts = perBatchTimesteps(timesteps, batch, alphasCumprod.length);
  // v = sqrt(a) * noise - sqrt(1 - a) * sample, written as a combination over (sample, noise).
  return combine(sample, 'sample', noise, 'noise', (b) => {
    const a = alphasCumprod[ts[b]];
    return [-Math.sqrt(1 - a), Math.sqrt(a)];
  });
}
