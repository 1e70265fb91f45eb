import type { Tensor } from '../../src/index.js';

/** The fixtures' (and diffusers' test suite's) toy model: eps(x, t) = x * t / (t + 1), t the integer timestep. */
export function toyModel(x: Tensor, t: number): Tensor {
  const data = new Float32Array(x.data.length);
  for (let i = 0; i < data.length; i++) data[i] = (x.data[i] * t) / (t + 1);
  return { data, dims: x.dims, type: 'float32' };
}
