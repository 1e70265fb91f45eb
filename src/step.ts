/**
 * The DDIM update as pure, allocation-free kernels over typed arrays.
 *
 * DDIM eq. 12 (Song et al. 2020, "Denoising Diffusion Implicit Models"):
 *
 *   x_prev = sqrt(a_prev) * x0_hat  +  sqrt(1 - a_prev - sigma_t^2) * eps_hat  +  sigma_t * z
 *
 * with a = alpha_bar, sigma_t = eta * sqrt(variance) (eq. 16), and x0_hat / eps_hat recovered from
 * the model output according to the prediction type:
 *
 *   epsilon:       x0 = (x - sqrt(1-a) m) / sqrt(a)     eps = m
 *   sample:        x0 = m                                eps = (x - sqrt(a) x0) / sqrt(1-a)
 *   v_prediction:  x0 = sqrt(a) x - sqrt(1-a) m          eps = sqrt(a) m + sqrt(1-a) x
 *                  (Salimans & Ho 2022, "Progressive Distillation", sec. 4)
 *
 * Every one of them is linear in (x, m): x0 = A x + B m, eps = C x + D m. So a step is one pass
 * that reads x, m (and z) once and writes x_prev and x0 once; diffusers makes about eight passes
 * with a temporary tensor each. Clipping / thresholding of x0 and `use_clipped_model_output`
 * (re-deriving eps from the clipped x0, as Glide does) fit inside the same pass.
 */
import type { PredictionType } from './config.js';
import type { DType, TensorData } from './tensor.js';
import { float16Table, numberToFloat16 } from './tensor.js';

export type FloatData = Float32Array | Float64Array;

/** Per-step scalars, computed once per step from alpha_bar at t and at the previous step. */
export interface StepCoefficients {
  /** x0 = a * x + b * m (before clipping). */
  x0FromSample: number;
  x0FromModel: number;
  /** eps = c * x + d * m (from the unclipped x0). */
  epsFromSample: number;
  epsFromModel: number;
  /** sqrt(alpha_bar_t), 1 / sqrt(1 - alpha_bar_t): for eps re-derived from a clipped x0. */
  sqrtAlphaProd: number;
  invSqrtBetaProd: number;
  /** sqrt(alpha_bar_prev): weight of x0 in x_prev. */
  sqrtAlphaProdPrev: number;
  /** sqrt(max(0, 1 - alpha_bar_prev - sigma^2)): weight of eps in x_prev. */
  direction: number;
  /** sigma_t = eta * sqrt(variance): weight of the noise z. */
  noiseScale: number;
}

/**
 * Coefficients of one DDIM step from alpha_bar_t to alpha_bar_prev.
 *
 * The direction weight is clamped at 0: with zero terminal SNR and eta = 1,
 * 1 - a_prev - sigma^2 is 0 in exact arithmetic but rounds to a tiny negative number, and diffusers'
 * `** 0.5` then returns NaN for the whole sample. Clamping is the exact-arithmetic answer.
 */
export function stepCoefficients(
  prediction: PredictionType,
  alphaProdT: number,
  alphaProdPrev: number,
  eta: number,
  variance: number,
): StepCoefficients {
  const sqrtA = Math.sqrt(alphaProdT);
  const sqrtB = Math.sqrt(1 - alphaProdT);
  let x0FromSample: number;
  let x0FromModel: number;
  let epsFromSample: number;
  let epsFromModel: number;
  if (prediction === 'epsilon') {
    x0FromSample = 1 / sqrtA;
    x0FromModel = -sqrtB / sqrtA;
    epsFromSample = 0;
    epsFromModel = 1;
  } else if (prediction === 'sample') {
    x0FromSample = 0;
    x0FromModel = 1;
    epsFromSample = 1 / sqrtB;
    epsFromModel = -sqrtA / sqrtB;
  } else {
    x0FromSample = sqrtA;
    x0FromModel = -sqrtB;
    epsFromSample = sqrtB;
    epsFromModel = sqrtA;
  }
  const sigma = eta * Math.sqrt(Math.max(0, variance));
  return {
    x0FromSample,
    x0FromModel,
    epsFromSample,
    epsFromModel,
    sqrtAlphaProd: sqrtA,
    invSqrtBetaProd: 1 / sqrtB,
    sqrtAlphaProdPrev: Math.sqrt(alphaProdPrev),
    direction: Math.sqrt(Math.max(0, 1 - alphaProdPrev - sigma * sigma)),
    noiseScale: sigma,
  };
}

/** How x0 is bounded before it is used (diffusers step 4): nothing, a clamp, or Imagen's dynamic thresholding. */
export type X0Bound =
  | { kind: 'none' }
  | { kind: 'clip'; range: number }
  | { kind: 'threshold'; ratio: number; maxValue: number };

export interface StepKernelArgs {
  coefficients: StepCoefficients;
  bound: X0Bound;
  useClippedModelOutput: boolean;
  /** Number of batch elements (dims[0]); thresholding takes its quantile per batch element. */
  batch: number;
  sample: TensorData;
  sampleType: DType;
  modelOutput: TensorData;
  modelOutputType: DType;
  /** Noise z, or null when sigma = 0. */
  noise: TensorData | null;
  noiseType: DType;
  prevSample: TensorData;
  predOriginalSample: TensorData;
  /** dtype of both outputs. */
  outType: DType;
  /** Scratch of at least (length / batch) float64 values, needed only for thresholding. */
  scratch?: Float64Array;
}

/** Result of a kernel run: the float64 sum of x_prev, to detect NaN/Inf without a second pass. */
export type KernelChecksum = number;

const CHUNK = 2048;
let chunkBuffers: Float32Array[] | null = null;

/** Five reusable float32 chunks for float16 inputs/outputs (decode -> compute -> encode per chunk). */
function chunks(): Float32Array[] {
  if (chunkBuffers === null) chunkBuffers = Array.from({ length: 5 }, () => new Float32Array(CHUNK));
  return chunkBuffers;
}

function decodeInto(src: TensorData, type: DType, from: number, n: number, dst: Float32Array): void {
  if (type === 'float16') {
    const table = float16Table();
    for (let i = 0; i < n; i++) dst[i] = table[src[from + i]];
  } else {
    for (let i = 0; i < n; i++) dst[i] = src[from + i];
  }
}

function encodeFrom(src: Float32Array, n: number, dst: TensorData, to: number): void {
  for (let i = 0; i < n; i++) dst[to + i] = numberToFloat16(src[i]);
}

/**
 * The fused pass over elements [from, to) of float32/float64 arrays. Returns the sum of x_prev.
 * `scale` is the per-batch-element thresholding divisor (1 when not thresholding).
 */
function fusedRange(
  c: StepCoefficients,
  clipLow: number,
  clipHigh: number,
  scale: number,
  useClipped: boolean,
  x: FloatData,
  m: FloatData,
  z: FloatData | null,
  prev: FloatData,
  x0Out: FloatData,
  xOff: number,
  outOff: number,
  n: number,
): number {
  const a = c.x0FromSample;
  const b = c.x0FromModel;
  const cs = c.epsFromSample;
  const d = c.epsFromModel;
  const sa = c.sqrtAlphaProd;
  const ib = c.invSqrtBetaProd;
  const wx0 = c.sqrtAlphaProdPrev;
  const wEps = c.direction;
  const wz = c.noiseScale;
  const invScale = 1 / scale;
  let sum = 0;
  for (let k = 0; k < n; k++) {
    const xi = x[xOff + k];
    const mi = m[xOff + k];
    let x0 = a * xi + b * mi;
    // Clamp (or threshold: clamp to [-s, s] then divide by s). NaN passes through unchanged.
    x0 = x0 < clipLow ? clipLow : x0 > clipHigh ? clipHigh : x0;
    x0 *= invScale;
    const eps = useClipped ? (xi - sa * x0) * ib : cs * xi + d * mi;
    let p = wx0 * x0 + wEps * eps;
    if (z !== null) p += wz * z[xOff + k];
    prev[outOff + k] = p;
    x0Out[outOff + k] = x0;
    sum += p;
  }
  return sum;
}

/**
 * `torch.quantile(values, q)` with linear interpolation, by selection instead of sorting.
 * torch computes the rank `q * (n - 1)` in the input's dtype (float32 here), then lerps between
 * the order statistics below and above it; we reproduce that rank rounding. `values` is reordered.
 */
export function quantileInPlace(values: Float64Array, n: number, q: number): number {
  const rank = Math.fround(Math.fround(q) * (n - 1));
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const below = selectKth(values, n, lo);
  // After selecting lo, every element right of lo is >= it: the next order statistic is their minimum.
  let above = below;
  if (hi !== lo) {
    above = Number.POSITIVE_INFINITY;
    for (let i = lo + 1; i < n; i++) if (values[i] < above) above = values[i];
  }
  const w = Math.fround(rank - lo);
  // torch.lerp: start + w (end - start) for w < 0.5, else end - (end - start)(1 - w).
  return w < 0.5 ? below + w * (above - below) : above - (above - below) * (1 - w);
}

/** Hoare-style quickselect (median of three): puts the k-th smallest at index k. O(n) expected. */
export function selectKth(a: Float64Array, n: number, k: number): number {
  let left = 0;
  let right = n - 1;
  while (right > left) {
    const mid = (left + right) >>> 1;
    // Median of three pivot keeps sorted / reversed inputs linear.
    if (a[mid] < a[left]) swap(a, mid, left);
    if (a[right] < a[left]) swap(a, right, left);
    if (a[right] < a[mid]) swap(a, right, mid);
    const pivot = a[mid];
    let i = left;
    let j = right;
    while (i <= j) {
      while (a[i] < pivot) i++;
      while (a[j] > pivot) j--;
      if (i <= j) {
        swap(a, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else return a[k];
  }
  return a[k];
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}

/**
 * Run one DDIM step over whole tensors. Writes prevSample and predOriginalSample; returns the
 * sum of prevSample (non-finite iff some element is non-finite, for float32 data).
 */
export function ddimStepKernel(args: StepKernelArgs): KernelChecksum {
  const { coefficients: c, bound, batch } = args;
  const length = args.sample.length;
  const per = batch > 0 ? length / batch : 0;
  let clipLow = Number.NEGATIVE_INFINITY;
  let clipHigh = Number.POSITIVE_INFINITY;
  if (bound.kind === 'clip') {
    clipLow = -bound.range;
    clipHigh = bound.range;
  }
  let sum = 0;
  for (let bi = 0; bi < batch; bi++) {
    const start = bi * per;
    let scale = 1;
    let low = clipLow;
    let high = clipHigh;
    if (bound.kind === 'threshold') {
      // Imagen (Saharia et al. 2022) dynamic thresholding, per batch element: s = quantile(|x0|, ratio)
      // clamped to [1, sample_max_value]; x0 <- clamp(x0, -s, s) / s.
      const s = thresholdScale(args, start, per, bound.ratio, bound.maxValue);
      low = -s;
      high = s;
      scale = s;
    }
    sum += runRange(args, c, low, high, scale, start, per);
  }
  return sum;
}

/** Per-batch-element thresholding scale from the unbounded x0 = A x + B m. */
function thresholdScale(
  args: StepKernelArgs,
  start: number,
  per: number,
  ratio: number,
  maxValue: number,
): number {
  const scratch = args.scratch;
  if (scratch === undefined || scratch.length < per)
    throw new Error('ddimStepKernel: thresholding needs scratch');
  const c = args.coefficients;
  const table = float16Table();
  const xs = args.sample;
  const ms = args.modelOutput;
  const xHalf = args.sampleType === 'float16';
  const mHalf = args.modelOutputType === 'float16';
  for (let k = 0; k < per; k++) {
    const xi = xHalf ? table[xs[start + k]] : xs[start + k];
    const mi = mHalf ? table[ms[start + k]] : ms[start + k];
    // torch thresholds float32 x0: round like it does before taking the quantile.
    scratch[k] = Math.abs(Math.fround(c.x0FromSample * xi + c.x0FromModel * mi));
  }
  const q = quantileInPlace(scratch, per, ratio);
  return Math.min(Math.max(q, 1), maxValue);
}

function runRange(
  args: StepKernelArgs,
  c: StepCoefficients,
  low: number,
  high: number,
  scale: number,
  start: number,
  n: number,
): number {
  const allFull =
    args.sampleType !== 'float16' &&
    args.modelOutputType !== 'float16' &&
    (args.noise === null || args.noiseType !== 'float16') &&
    args.outType !== 'float16';
  if (allFull) {
    return fusedRange(
      c,
      low,
      high,
      scale,
      args.useClippedModelOutput,
      args.sample as FloatData,
      args.modelOutput as FloatData,
      args.noise as FloatData | null,
      args.prevSample as FloatData,
      args.predOriginalSample as FloatData,
      start,
      start,
      n,
    );
  }
  // float16 somewhere: go through float32 chunks that stay in cache, so memory is still read and
  // written once per element: decode a chunk of each input, run the same fused loop, encode.
  const [cx, cm, cz, cp, c0] = chunks();
  const halfOut = args.outType === 'float16';
  let sum = 0;
  for (let from = start; from < start + n; from += CHUNK) {
    const len = Math.min(CHUNK, start + n - from);
    decodeInto(args.sample, args.sampleType, from, len, cx);
    decodeInto(args.modelOutput, args.modelOutputType, from, len, cm);
    if (args.noise !== null) decodeInto(args.noise, args.noiseType, from, len, cz);
    sum += fusedRange(
      c,
      low,
      high,
      scale,
      args.useClippedModelOutput,
      cx,
      cm,
      args.noise === null ? null : cz,
      halfOut ? cp : (args.prevSample as FloatData),
      halfOut ? c0 : (args.predOriginalSample as FloatData),
      0,
      halfOut ? 0 : from,
      len,
    );
    if (halfOut) {
      encodeFrom(cp, len, args.prevSample, from);
      encodeFrom(c0, len, args.predOriginalSample, from);
    }
  }
  return sum;
}
