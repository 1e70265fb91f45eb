/**
 * Baselines for the step benchmark (never used by the library):
 *
 * - `limitLoop`: the least any DDIM step can do, one pass computing only the eta = 0 arithmetic
 *   `prev = c1 x + c2 m`, `x0 = c3 x + c4 m` over float32 arrays. Our fused step is measured
 *   against it.
 * - `unfusedStep`: a straightforward port of diffusers' `DDIMScheduler.step`, one whole-tensor
 *   operation at a time with a fresh float32 temporary for each, as PyTorch eager mode runs it.
 * - `sortQuantile`: `torch.quantile`'s linear interpolation done the obvious way, by sorting.
 */

export function limitLoop(
  x: Float32Array,
  m: Float32Array,
  prev: Float32Array,
  x0: Float32Array,
  c1: number,
  c2: number,
  c3: number,
  c4: number,
): void {
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const xi = x[i];
    const mi = m[i];
    prev[i] = c1 * xi + c2 * mi;
    x0[i] = c3 * xi + c4 * mi;
  }
}

// One elementwise tensor op each, allocating its result, like torch eager mode.
function scaled(a: Float32Array, s: number): Float32Array {
  const o = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = a[i] * s;
  return o;
}
function divided(a: Float32Array, s: number): Float32Array {
  const o = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = a[i] / s;
  return o;
}
function plus(a: Float32Array, b: Float32Array): Float32Array {
  const o = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = a[i] + b[i];
  return o;
}
function minus(a: Float32Array, b: Float32Array): Float32Array {
  const o = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = a[i] - b[i];
  return o;
}
function absolute(a: Float32Array): Float32Array {
  const o = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = Math.abs(a[i]);
  return o;
}
function clamped(a: Float32Array, lo: number, hi: number): Float32Array {
  const o = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) o[i] = Math.min(Math.max(a[i], lo), hi);
  return o;
}

/**
 * Sort-based `torch.quantile(values[from, from + n), q)` on a float32 tensor: copy into a
 * Float64Array, sort, then torch's rank and lerp rounded to float32 as torch computes them.
 */
export function sortQuantile(values: ArrayLike<number>, from: number, n: number, q: number): number {
  const sorted = new Float64Array(n);
  for (let i = 0; i < n; i++) sorted[i] = values[from + i];
  sorted.sort();
  const f = Math.fround;
  const rank = f(f(q) * (n - 1));
  const lo = Math.floor(rank);
  const w = rank - lo;
  const below = sorted[lo];
  const d = f(sorted[Math.ceil(rank)] - below);
  return w < 0.5 ? f(below + f(w * d)) : f(sorted[Math.ceil(rank)] - f(d * f(1 - w)));
}

export interface UnfusedConfig {
  /** alpha_bar at t and at the previous timestep. */
  alphaProdT: number;
  alphaProdPrev: number;
  eta: number;
  /** sigma^2 / eta^2 of DDIM eq. 16 (diffusers' `_get_variance`). */
  variance: number;
  thresholding: boolean;
  ratio: number;
  maxValue: number;
  batch: number;
}

/** diffusers' step for epsilon prediction, op by op (scheduling_ddim.py, steps 3-7). */
export function unfusedStep(
  cfg: UnfusedConfig,
  modelOutput: Float32Array,
  sample: Float32Array,
  varianceNoise: Float32Array | null,
): { prevSample: Float32Array; predOriginalSample: Float32Array } {
  const betaProdT = 1 - cfg.alphaProdT;
  let x0 = divided(minus(sample, scaled(modelOutput, betaProdT ** 0.5)), cfg.alphaProdT ** 0.5);
  const eps = modelOutput;
  if (cfg.thresholding) {
    // _threshold_sample: abs, quantile per batch element, clamp, divide.
    const abs = absolute(x0);
    const per = x0.length / cfg.batch;
    const out = new Float32Array(x0.length);
    for (let b = 0; b < cfg.batch; b++) {
      const q = sortQuantile(abs, b * per, per, cfg.ratio);
      const s = Math.min(Math.max(q, 1), cfg.maxValue);
      out.set(divided(clamped(x0.subarray(b * per, (b + 1) * per), -s, s), s), b * per);
    }
    x0 = out;
  }
  const stdDev = cfg.eta * cfg.variance ** 0.5;
  const direction = scaled(eps, Math.max(0, 1 - cfg.alphaProdPrev - stdDev ** 2) ** 0.5);
  let prev = plus(scaled(x0, cfg.alphaProdPrev ** 0.5), direction);
  if (cfg.eta > 0 && varianceNoise !== null) prev = plus(prev, scaled(varianceNoise, stdDev));
  return { prevSample: prev, predOriginalSample: x0 };
}
