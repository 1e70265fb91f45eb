import type { DDIMInverseScheduler, DDIMScheduler, Tensor } from '../../src/index.js';

/** The fixtures' (and diffusers' test suite's) toy model: eps(x, t) = x * t / (t + 1), t the integer timestep. */
export function toyModel(x: Tensor, t: number): Tensor {
  const data = new Float32Array(x.data.length);
  for (let i = 0; i < data.length; i++) data[i] = (x.data[i] * t) / (t + 1);
  return { data, dims: x.dims, type: 'float32' };
}

/** An eta = 0 loop with the toy model from `initial` over `timesteps` (default: all the scheduler's). */
export function toyLoop(
  scheduler: DDIMScheduler | DDIMInverseScheduler,
  initial: Tensor,
  timesteps: Iterable<number> = scheduler.timesteps,
): Tensor {
  let x = initial;
  for (const t of timesteps) x = scheduler.step(toyModel(x, t), t, x).prevSample;
  return x;
}

/** A small sample and model output (batch 2) for single-step tests; copy them before writing into them. */
export const REF_DIMS = [2, 3];
export const refSample: Tensor<'float32'> = {
  data: Float32Array.of(0.5, -1, 2, 0.1, 0.2, -0.3),
  dims: REF_DIMS,
  type: 'float32',
};
export const refModel: Tensor<'float32'> = {
  data: Float32Array.of(0.1, 0.2, -0.5, 1, -1, 0),
  dims: REF_DIMS,
  type: 'float32',
};
