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
 *
 * Folding the scalars further, every case is one of three loops:
 *
 *   linear        (no bound, eta = 0):  x0 = A x + B m                prev = P x + Q m
 *   linear noise  (no bound, eta > 0):  x0 = A x + B m                prev = P x + Q m + W z
 *   bounded       (clip, thresholding): x0 = clamp(A x + B m, lo, hi)  prev = E x0 + F x + G u + W z
 *
 * `linear` is the common case (Stable Diffusion, eta = 0); it is unrolled and costs less than a
 * plain loop doing only its arithmetic. `bounded` covers clip and thresholding (A, B divided by
 * the quantile s, bounds +-1) with any eta and use_clipped_model_output (eps = (x - sqrt(a) x0) /
 * sqrt(1 - a) folded into E and F, u = x with G = 0); a missing noise term has weight 0 over an
 * array read anyway. All-float16 `linear` has its own loop; other float16 / mixed-dtype cases run
 * the same loops over small chunks. docs/performance.md has the measurements.
 *
 * V8 notes, measured (Node 20):
 * - A hot loop that runs in the very first call of its function is compiled on-stack before the
 *   function has type feedback for the code *before* the loop; the later whole-function compile
 *   then deoptimizes on that code and V8 may leave the function unoptimized (boxing a double per
 *   element, 5 to 8x slower). So every loop below lives in a function that takes only numbers and
 *   typed arrays and starts with the loop, and no branch inside a loop is left untaken (an
 *   untaken branch has no feedback either): cases differ by function, never by a flag tested per
 *   element. (The float16 encoder's rare paths, subnormal and overflow results, are branches:
 *   each deoptimizes the all-float16 loop once, the first time it is met.)
 * - A ternary mixing a parameter with a computed double makes V8 box the result per element;
 *   data-dependent branches (including Math.min / Math.max) mispredict: the clamp is a branch-free
 *   select through a 3-slot Float64Array.
 * - Loops return whether the sum of |prev| + |x0| stays below 2^127 (a boolean) rather than the
 *   sum: a double returned from a call V8 does not inline is a heap allocation. (Why |.| and
 *   2^127, not isFinite of the plain sum: see RESULT_LIMIT.)
 */

import { ArgumentError } from '../errors.js';
import { float16Table, numberToFloat16 } from '../tensor/dtype.js';
import type { DType, TensorData } from '../tensor/tensor.js';
import { PREDICTIONS, type PredictionType, type Recovery } from './prediction.js';

export type FloatData = Float32Array | Float64Array;

/**
 * Per-step scalars, computed once per step from alpha_bar at t and at the previous step: x0 and
 * eps from (x, m) (`Recovery`: x0 = x0FromSample x + x0FromModel m before clipping, eps likewise
 * from the unclipped x0), then eq. 12's weights.
 */
export interface StepCoefficients extends Recovery {
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
 * The scalars diffusers' step computes from alpha_bar (beta_prod_t = 1 - alpha_prod_t, the
 * square roots, std_dev_t = eta * variance ** 0.5, 1 - alpha_prod_t_prev - std_dev_t ** 2) are
 * 0-dim float32 tensor ops, each rounded to float32 (a Python float such as eta is cast to float32
 * first): near alpha_bar = 1, or for eta > 0 at a cosine schedule's last timestep, that rounding
 * moves diffusers' result past the fixtures' tolerance, so it is reproduced here (Math.fround per
 * op). `alphaProdT`, `alphaProdPrev` and `variance` are expected to be float32 values already
 * (the scheduler's alphasCumprod, ddimVariance). The kernel's elementwise arithmetic, and the
 * folding of these scalars into A..D below, stay in float64.
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
  out?: StepCoefficients,
): StepCoefficients {
  const f32 = Math.fround;
  const sqrtA = f32(Math.sqrt(alphaProdT));
  const sqrtB = f32(Math.sqrt(f32(1 - alphaProdT)));
  const sigma = f32(f32(eta) * f32(Math.sqrt(Math.max(0, variance))));
  // `out` lets a scheduler reuse one object for every step instead of allocating one per step.
  const c = out ?? ({} as StepCoefficients);
  // x0 and eps from (x, m): the prediction type's row of prediction.ts.
  PREDICTIONS[prediction].recover(sqrtA, sqrtB, c);
  c.sqrtAlphaProd = sqrtA;
  c.invSqrtBetaProd = 1 / sqrtB;
  c.sqrtAlphaProdPrev = f32(Math.sqrt(alphaProdPrev));
  c.direction = f32(Math.sqrt(Math.max(0, f32(f32(1 - alphaProdPrev) - f32(sigma * sigma)))));
  c.noiseScale = sigma;
  return c;
}
/** How x0 is bounded before it is used (diffusers step 4): nothing, a clamp, or Imagen's dynamic thresholding. */
export type X0Bound =
  | { kind: 'none' }
  | { kind: 'clip'; range: number }
  | { kind: 'threshold'; ratio: number; maxValue: number };

/** The config fields that choose the bound (DDIMInverseScheduler's config has no thresholding). */
export interface BoundConfig {
  clip_sample: boolean;
  clip_sample_range: number;
  thresholding?: boolean;
  dynamic_thresholding_ratio?: number;
  sample_max_value?: number;
}

/** The x0 bound a config asks for: thresholding takes precedence over clip_sample, as in diffusers. */
export function x0BoundFor(config: BoundConfig): X0Bound {
  if (config.thresholding === true) {
    return {
      kind: 'threshold',
      ratio: config.dynamic_thresholding_ratio as number,
      maxValue: config.sample_max_value as number,
    };
  }
  return config.clip_sample ? { kind: 'clip', range: config.clip_sample_range } : { kind: 'none' };
}

/**
 * Everything one kernel run needs. A scheduler keeps one of these and refills it every step, so
 * stepping allocates nothing.
 */
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
  /**
   * Thresholding only: room for (length / batch) values of |x0|, a Float64Array when the sample
   * or the model output is float64 and a Float32Array otherwise: torch takes the quantile in x0's
   * dtype (float16 is upcast to float32 first), and the array type carries that precision.
   */
  scratch?: FloatData;
}

/** The precision `torch.quantile` works in for these inputs: x0's dtype, float16 upcast to float32. */
export function thresholdPrecision(sampleType: DType, modelOutputType: DType): 'float32' | 'float64' {
  return sampleType === 'float64' || modelOutputType === 'float64' ? 'float64' : 'float32';
}

/**
 * Run one DDIM step over whole tensors. Writes prevSample and predOriginalSample (which may alias
 * the inputs element for element). Returns false when a result may be non-finite, tracked inside
 * the pass (RESULT_LIMIT; from the encoded bits for float16 outputs): the caller then scans the
 * inputs and outputs to name the element, so a rare false alarm (finite values past 2^127) only
 * costs that scan.
 */
export function ddimStepKernel(args: StepKernelArgs): boolean {
  const { bound, batch } = args;
  const length = args.sample.length;
  // An integer (dims[0] divides the element count): a fractional-typed value would be boxed
  // when passed on, one heap allocation per step.
  const per = batch > 0 ? (length / batch) | 0 : 0;
  let finite = true;
  for (let bi = 0; bi < batch; bi++) {
    const from = bi * per;
    const to = from + per;
    let ok: boolean;
    if (bound.kind === 'threshold') {
      // Imagen (Saharia et al. 2022) dynamic thresholding, per batch element: s = quantile(|x0|, ratio)
      // clamped as torch.clamp(q, 1, sample_max_value) (see thresholdScale); x0 <- clamp(x0, -s, s) / s = clamp(x0 / s, -1, 1).
      const s = thresholdScale(args, from, to, bound.ratio, bound.maxValue);
      ok = runRange(args, 1 / s, -1, 1, from, to);
    } else if (bound.kind === 'clip') {
      ok = runRange(args, 1, -bound.range, bound.range, from, to);
    } else {
      ok = runRange(args, 1, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, from, to);
    }
    finite = finite && ok;
  }
  return finite;
}

/**
 * The float64 loops sum |prev| + |x0| (x0 before clamping, which is never smaller) and report
 * "finite" while that sum stays below 2^127. Summing the signed values and testing isFinite, as
 * before, misses three cases: a finite float64 result stored into a Float32Array past 3.4e38
 * becomes Inf; x0 can overflow while prev does not; and a model output of +-Inf clamped away by
 * clip_sample with use_clipped_model_output leaves both results finite (diffusers then returns a
 * number computed from Inf, silently). Absolute values cannot cancel, every Inf or NaN input
 * reaches |x0| or |prev|, and any float32 overflow means a term >= 2^128 (1 - 2^-25) > 2^127.
 * A sum past the limit made only of finite values (|values| near 1e38) is a false alarm the
 * caller's exact scan clears.
 */
const RESULT_LIMIT = 2 ** 127;

// float16 (or mixed dtypes) go through chunks small enough to stay in L1/L2, so memory is still
// read and written once per element: decode a chunk of each input, run the loop, encode. Chunks
// are float64 when an input is float64 (no precision lost) or the output is float16 (rounded once
// from float64), float32 otherwise (float16 and float32 values are exact in float32).
const CHUNK = 2048;
interface Chunks<A extends FloatData> {
  x: A;
  m: A;
  z: A;
  prev: A;
  x0: A;
}
let narrowChunks: Chunks<Float32Array> | null = null;
let wideChunks: Chunks<Float64Array> | null = null;

function chunksFor(wide: boolean): Chunks<FloatData> {
  if (wide) {
    if (wideChunks === null) wideChunks = newChunks(() => new Float64Array(CHUNK));
    return wideChunks;
  }
  if (narrowChunks === null) narrowChunks = newChunks(() => new Float32Array(CHUNK));
  return narrowChunks;
}

function newChunks<A extends FloatData>(make: () => A): Chunks<A> {
  return { x: make(), m: make(), z: make(), prev: make(), x0: make() };
}

function hasWideInput(args: StepKernelArgs): boolean {
  return (
    args.sampleType === 'float64' ||
    args.modelOutputType === 'float64' ||
    (args.noise !== null && args.noiseType === 'float64')
  );
}

/** True when every array is read and written directly (no float16 anywhere). */
function allFull(args: StepKernelArgs): boolean {
  return (
    args.sampleType !== 'float16' &&
    args.modelOutputType !== 'float16' &&
    (args.noise === null || args.noiseType !== 'float16') &&
    args.outType !== 'float16'
  );
}

// The three loops, and the folded scalars they take (set once per batch element by runRange).
const LINEAR = 0;
const LINEAR_NOISE = 1;
const BOUNDED = 2;
type LoopKind = typeof LINEAR | typeof LINEAR_NOISE | typeof BOUNDED;
/** A, B (x0), P, Q (prev, linear loops), E, F, G (prev, bounded loop), W (noise). */
const K = new Float64Array(8);
/** [value, lo, hi] for boundedLoop's branch-free clamp. */
const CLAMP_SELECT = new Float64Array(3);

/**
 * One batch element's elements [from, to): fold the step's scalars into the loop coefficients
 * and run the matching loop, directly or chunk by chunk. `scale` divides x0 (thresholding's
 * 1/s), [lo, hi] bounds it.
 */
function runRange(
  args: StepKernelArgs,
  scale: number,
  lo: number,
  hi: number,
  from: number,
  to: number,
): boolean {
  const c = args.coefficients;
  const a = c.x0FromSample * scale;
  const b = c.x0FromModel * scale;
  // prev = sqrt(a_prev) x0 + direction eps + sigma z, with eps = C x + D m from the model output,
  // or with use_clipped_model_output eps = (x - sqrt(a) x0) / sqrt(1 - a) from the bounded x0.
  const clipped = args.useClippedModelOutput;
  const e = clipped
    ? c.sqrtAlphaProdPrev - c.direction * c.sqrtAlphaProd * c.invSqrtBetaProd
    : c.sqrtAlphaProdPrev;
  const f = c.direction * (clipped ? c.invSqrtBetaProd : c.epsFromSample);
  const g = clipped ? 0 : c.direction * c.epsFromModel;
  K[0] = a;
  K[1] = b;
  K[2] = e * a + f; // unbounded x0 substituted: prev = (E A + F) x + (E B + G) m
  K[3] = e * b + g;
  K[4] = e;
  K[5] = f;
  K[6] = g;
  K[7] = c.noiseScale;
  CLAMP_SELECT[1] = lo;
  CLAMP_SELECT[2] = hi;
  const noise = args.noise;
  const kind: LoopKind = args.bound.kind !== 'none' ? BOUNDED : noise === null ? LINEAR : LINEAR_NOISE;
  if (allFull(args)) {
    const x = args.sample as FloatData;
    const m = args.modelOutput as FloatData;
    return runLoop(
      kind,
      clipped,
      x,
      m,
      noise as FloatData | null,
      args.prevSample as FloatData,
      args.predOriginalSample as FloatData,
      from,
      to,
    );
  }
  if (kind === LINEAR && args.sampleType === 'float16' && args.modelOutputType === 'float16') {
    // All float16 (outputs have the sample's dtype), no bound, no noise: the fp16 Stable Diffusion
    // case gets its own loop, decoding and encoding in place of five passes over chunks.
    return linearHalfLoop(
      K[2],
      K[3],
      K[0],
      K[1],
      float16Table(),
      args.sample as Uint16Array,
      args.modelOutput as Uint16Array,
      args.prevSample as Uint16Array,
      args.predOriginalSample as Uint16Array,
      from,
      to,
    );
  }
  // float16 results are rounded once from float64 (numberToFloat16), so they need float64 chunks.
  const halfOut = args.outType === 'float16';
  const k = chunksFor(halfOut || hasWideInput(args));
  const table = float16Table();
  let finite = true;
  for (let start = from; start < to; start += CHUNK) {
    const end = Math.min(start + CHUNK, to);
    const len = end - start;
    loadChunk(args.sample, args.sampleType, table, start, end, k.x);
    loadChunk(args.modelOutput, args.modelOutputType, table, start, end, k.m);
    if (noise !== null) loadChunk(noise, args.noiseType, table, start, end, k.z);
    let ok = runLoop(kind, clipped, k.x, k.m, noise === null ? null : k.z, k.prev, k.x0, 0, len);
    if (halfOut) {
      // Both encoded: a finite float64 past 65504 becomes Inf in float16, in either output.
      const prevOk = encodeHalf(k.prev as Float64Array, len, args.prevSample as Uint16Array, start);
      const x0Ok = encodeHalf(k.x0 as Float64Array, len, args.predOriginalSample as Uint16Array, start);
      ok = ok && prevOk && x0Ok;
    } else {
      copyChunk(k.prev, len, args.prevSample as FloatData, start);
      copyChunk(k.x0, len, args.predOriginalSample as FloatData, start);
    }
    finite = finite && ok;
  }
  return finite;
}

function runLoop(
  kind: LoopKind,
  clipped: boolean,
  x: FloatData,
  m: FloatData,
  z: FloatData | null,
  prev: FloatData,
  x0: FloatData,
  from: number,
  to: number,
): boolean {
  if (kind === LINEAR) return linearLoop(x, m, prev, x0, from, to);
  if (kind === LINEAR_NOISE) {
    return linearNoiseLoop(K[2], K[3], K[7], K[0], K[1], x, m, z as FloatData, prev, x0, from, to);
  }
  // The G term reads u: the model output, or (use_clipped_model_output, G = 0) the sample, so a
  // non-finite model output clipped away stays away, as in diffusers. W reads z, or x with W = 0.
  const u = clipped ? x : m;
  const w = z === null ? 0 : K[7];
  const noise = z === null ? x : z;
  return boundedLoop(
    K[0],
    K[1],
    CLAMP_SELECT[1],
    CLAMP_SELECT[2],
    K[4],
    K[5],
    K[6],
    w,
    x,
    m,
    u,
    noise,
    prev,
    x0,
    from,
    to,
  );
}

/** DDIM without bound or noise: x0 = a x + b m, prev = p x + q m. Returns false if a result may be non-finite (RESULT_LIMIT). */
function linearLoop(
  x: FloatData,
  m: FloatData,
  prev: FloatData,
  x0: FloatData,
  from: number,
  to: number,
): boolean {
  // The scalars come from K, not as arguments: this function is past V8's inlining budget, and
  // doubles passed to a call that is not inlined are boxed (64 bytes per step for four).
  const p = K[2];
  const q = K[3];
  const a = K[0];
  const b = K[1];
  let sum = 0;
  let i = from;
  // Four elements per iteration: V8 re-checks every typed array (map, length, base) once per
  // iteration, after the loop's interrupt check, so unrolling spreads that over four elements.
  for (; i + 3 < to; i += 4) {
    const x1 = x[i];
    const x2 = x[i + 1];
    const x3 = x[i + 2];
    const x4 = x[i + 3];
    const m1 = m[i];
    const m2 = m[i + 1];
    const m3 = m[i + 2];
    const m4 = m[i + 3];
    const v1 = p * x1 + q * m1;
    const v2 = p * x2 + q * m2;
    const v3 = p * x3 + q * m3;
    const v4 = p * x4 + q * m4;
    const w1 = a * x1 + b * m1;
    const w2 = a * x2 + b * m2;
    const w3 = a * x3 + b * m3;
    const w4 = a * x4 + b * m4;
    prev[i] = v1;
    prev[i + 1] = v2;
    prev[i + 2] = v3;
    prev[i + 3] = v4;
    x0[i] = w1;
    x0[i + 1] = w2;
    x0[i + 2] = w3;
    x0[i + 3] = w4;
    sum +=
      Math.abs(v1) +
      Math.abs(w1) +
      (Math.abs(v2) + Math.abs(w2)) +
      (Math.abs(v3) + Math.abs(w3) + (Math.abs(v4) + Math.abs(w4)));
  }
  for (; i < to; i++) {
    const xi = x[i];
    const mi = m[i];
    const v = p * xi + q * mi;
    const w = a * xi + b * mi;
    prev[i] = v;
    x0[i] = w;
    sum += Math.abs(v) + Math.abs(w);
  }
  return sum < RESULT_LIMIT;
}

/** linearLoop over float16 bits: decode through the table, encode to nearest even. */
function linearHalfLoop(
  p: number,
  q: number,
  a: number,
  b: number,
  table: Float32Array,
  x: Uint16Array,
  m: Uint16Array,
  prev: Uint16Array,
  x0: Uint16Array,
  from: number,
  to: number,
): boolean {
  let special = 0;
  for (let i = from; i < to; i++) {
    const xi = table[x[i]];
    const mi = table[m[i]];
    const h = numberToFloat16(p * xi + q * mi);
    const h0 = numberToFloat16(a * xi + b * mi);
    prev[i] = h;
    x0[i] = h0;
    // exponentAllOnes of either, written out: a second call tips V8's inlining budget here, and
    // numberToFloat16 not inlined boxes a double per element (2.5x slower, measured).
    special |= (((h & 0x7c00) + 0x400) | ((h0 & 0x7c00) + 0x400)) & 0x8000;
  }
  return special === 0;
}

/** linearLoop plus the noise term (eta > 0): prev = p x + q m + w z. */
function linearNoiseLoop(
  p: number,
  q: number,
  w: number,
  a: number,
  b: number,
  x: FloatData,
  m: FloatData,
  z: FloatData,
  prev: FloatData,
  x0: FloatData,
  from: number,
  to: number,
): boolean {
  let sum = 0;
  for (let i = from; i < to; i++) {
    const xi = x[i];
    const mi = m[i];
    const v = p * xi + q * mi + w * z[i];
    const u = a * xi + b * mi;
    prev[i] = v;
    x0[i] = u;
    sum += Math.abs(v) + Math.abs(u);
  }
  return sum < RESULT_LIMIT;
}

/** x0 = clamp(a x + b m, lo, hi), prev = e x0 + f x + g u + w z. Returns false if a result may be non-finite (RESULT_LIMIT). */
function boundedLoop(
  a: number,
  b: number,
  lo: number,
  hi: number,
  e: number,
  f: number,
  g: number,
  w: number,
  x: FloatData,
  m: FloatData,
  u: FloatData,
  z: FloatData,
  prev: FloatData,
  x0: FloatData,
  from: number,
  to: number,
): boolean {
  let sum = 0;
  for (let i = from; i < to; i++) {
    const xi = x[i];
    // clamp without a branch: how often it cuts depends on the data, and a mispredicted branch
    // per element (or Math.min/max, which V8 compiles to branches) costs 3x the whole step.
    // CLAMP_SELECT = [v, lo, hi]; NaN compares false both ways and passes through, as torch.clamp.
    const raw = a * xi + b * m[i];
    CLAMP_SELECT[0] = raw;
    const v = CLAMP_SELECT[+(raw < lo) + 2 * +(raw > hi)];
    const p = e * v + f * xi + g * u[i] + w * z[i];
    prev[i] = p;
    x0[i] = v;
    // |raw|, not |v|: a +-Inf model output clamped away must still be seen.
    sum += Math.abs(p) + Math.abs(raw);
  }
  return sum < RESULT_LIMIT;
}

function loadChunk(
  src: TensorData,
  type: DType,
  table: Float32Array,
  from: number,
  to: number,
  dst: FloatData,
): void {
  if (type === 'float16') decodeHalf(src as Uint16Array, table, from, to, dst);
  else copyRange(src as FloatData, from, to, dst);
}

function decodeHalf(src: Uint16Array, table: Float32Array, from: number, to: number, dst: FloatData): void {
  for (let i = from; i < to; i++) dst[i - from] = table[src[i]];
}

function copyRange(src: FloatData, from: number, to: number, dst: FloatData): void {
  for (let i = from; i < to; i++) dst[i - from] = src[i];
}

/**
 * Encode float64 values as float16 into dst[at ...]. Returns whether every result is finite:
 * float16 overflows to Inf from 65520 on, so a finite result can still become Inf here.
 */
function encodeHalf(src: Float64Array, len: number, dst: Uint16Array, at: number): boolean {
  let special = 0;
  for (let j = 0; j < len; j++) {
    const h = numberToFloat16(src[j]);
    dst[at + j] = h;
    special |= exponentAllOnes(h);
  }
  return special === 0;
}

/** Non-zero iff the float16 bits `h` are Inf or NaN (exponent 0x1f), without a branch. */
function exponentAllOnes(h: number): number {
  return ((h & 0x7c00) + 0x400) & 0x8000;
}

function copyChunk(src: FloatData, len: number, dst: FloatData, at: number): void {
  for (let j = 0; j < len; j++) dst[at + j] = src[j];
}

/** Per-batch-element thresholding scale s from the unbounded x0 = A x + B m. */
function thresholdScale(
  args: StepKernelArgs,
  from: number,
  to: number,
  ratio: number,
  maxValue: number,
): number {
  const scratch = args.scratch;
  const n = to - from;
  const wide = thresholdPrecision(args.sampleType, args.modelOutputType) === 'float64';
  if (scratch === undefined || scratch.length < n || wide !== scratch instanceof Float64Array) {
    throw new ArgumentError({
      field: 'scratch',
      value: scratch,
      problem: `must be a ${wide ? 'Float64Array' : 'Float32Array'} of at least ${n} values for thresholding`,
      fix: 'pass scratch of length / batch values: a Float64Array when the sample or the model output is float64, else a Float32Array.',
    });
  }
  const c = args.coefficients;
  let nan: boolean;
  if (args.sampleType !== 'float16' && args.modelOutputType !== 'float16') {
    nan = absX0Loop(
      c.x0FromSample,
      c.x0FromModel,
      args.sample as FloatData,
      args.modelOutput as FloatData,
      from,
      to,
      scratch,
      0,
    );
  } else {
    const k = chunksFor(hasWideInput(args));
    const table = float16Table();
    nan = false;
    for (let start = from; start < to; start += CHUNK) {
      const end = Math.min(start + CHUNK, to);
      loadChunk(args.sample, args.sampleType, table, start, end, k.x);
      loadChunk(args.modelOutput, args.modelOutputType, table, start, end, k.m);
      if (absX0Loop(c.x0FromSample, c.x0FromModel, k.x, k.m, 0, end - start, scratch, start - from))
        nan = true;
    }
  }
  // torch.quantile returns NaN when the row holds a NaN; clamp(NaN, 1, max) stays NaN.
  const q = nan ? Number.NaN : quantileOfNumbers(scratch, n, ratio);
  // torch.clamp(q, min=1, max=sample_max_value) is min(max(q, 1), max): the max applies last, so
  // a sample_max_value below 1 (legal in diffusers) always wins, even over the floor of 1.
  const floored = q < 1 ? 1 : q;
  return floored > maxValue ? maxValue : floored;
}

/**
 * |a x + b m| into out[at ...]: a Float32Array rounds each value as torch's float32 x0 is rounded.
 * Returns whether a NaN was seen.
 */
function absX0Loop(
  a: number,
  b: number,
  x: FloatData,
  m: FloatData,
  from: number,
  to: number,
  out: FloatData,
  at: number,
): boolean {
  let nans = 0;
  for (let i = from; i < to; i++) {
    const v = Math.abs(a * x[i] + b * m[i]);
    out[at + i - from] = v;
    nans += +Number.isNaN(v); // a count, not a branch: a NaN must not meet an untaken branch
  }
  return nans > 0;
}

// ---------------------------------------------------------------------------------------------
// torch.quantile by selection.

/**
 * `torch.quantile(values[0 .. n), q)` (linear interpolation) in the precision of the array, by
 * selection in expected O(n) instead of sorting; `values` is reordered.
 *
 * torch (aten/src/ATen/native/Sorting.cpp, quantile_compute) turns q into a rank `q * (n - 1)`
 * computed in the input's dtype (q itself is first made a tensor of that dtype), takes the order
 * statistics at floor(rank) and ceil(rank), and lerps them with weight `rank - floor(rank)` using
 * torch.lerp's two-sided form, again in the input's dtype: a Float32Array reproduces a float32
 * tensor's result bit for bit, a Float64Array a float64 tensor's. A NaN anywhere gives NaN (torch
 * sorts NaN last and moves the rank there); n = 0 gives NaN (torch raises).
 */
export function quantileInPlace(values: FloatData, n: number, q: number): number {
  if (!(n > 0) || containsNaN(values, n)) return Number.NaN;
  return quantileOfNumbers(values, n, q);
}

function containsNaN(values: FloatData, n: number): boolean {
  for (let i = 0; i < n; i++) if (Number.isNaN(values[i])) return true;
  return false;
}

/** quantileInPlace for values known to hold no NaN. */
function quantileOfNumbers(values: FloatData, n: number, q: number): number {
  const single = values instanceof Float32Array;
  const rank = single ? Math.fround(Math.fround(q) * (n - 1)) : q * (n - 1);
  const lo = Math.floor(rank);
  const below = selectKth(values, n, lo);
  // After selection everything right of lo is >= values[lo]: the next order statistic is their minimum.
  const above = lo + 1 < n && rank > lo ? minFrom(values, lo + 1, n) : below;
  // rank - lo is exact in either precision (it is rank's fractional part).
  return single ? lerpFloat32(below, above, rank - lo) : lerp(below, above, rank - lo);
}

/** torch.lerp: start + w (end - start) for |w| < 0.5, else end - (end - start)(1 - w). */
function lerp(start: number, end: number, w: number): number {
  return Math.abs(w) < 0.5 ? start + w * (end - start) : end - (end - start) * (1 - w);
}

/** torch.lerp on float32 tensors: the same formula with every operation rounded to float32. */
function lerpFloat32(start: number, end: number, w: number): number {
  const f = Math.fround;
  const d = f(end - start);
  return Math.abs(w) < 0.5 ? f(start + f(w * d)) : f(end - f(d * f(1 - w)));
}

function minFrom(values: FloatData, from: number, to: number): number {
  let min = values[from];
  for (let i = from + 1; i < to; i++) if (values[i] < min) min = values[i];
  return min;
}

/**
 * Put the k-th smallest of values[0 .. n) at index k, smaller-or-equal ones before it and
 * greater-or-equal ones after it, and return it. Floyd and Rivest's SELECT (CACM 1975, Algorithm
 * 489): partition around a pivot picked from a small sample so that k lands in a short middle
 * range; about n + min(k, n - k) comparisons instead of quickselect's 2n to 3.4n. NaN-free input.
 */
export function selectKth(values: FloatData, n: number, k: number): number {
  selectRange(values, 0, n - 1, k);
  return values[k];
}

function selectRange(a: FloatData, left: number, right: number, k: number): void {
  while (right > left) {
    if (right - left > 600) {
      // Recurse on a sample of about n^(2/3) elements around where k should fall, so that the
      // pivots a[k] left by it bracket the k-th smallest tightly.
      const n = right - left + 1;
      const i = k - left + 1;
      const z = Math.log(n);
      const s = 0.5 * Math.exp((2 * z) / 3);
      const sd = 0.5 * Math.sqrt((z * s * (n - s)) / n) * (i < n / 2 ? -1 : 1);
      const newLeft = Math.max(left, Math.floor(k - (i * s) / n + sd));
      const newRight = Math.min(right, Math.floor(k + ((n - i) * s) / n + sd));
      selectRange(a, newLeft, newRight, k);
    }
    // Partition a[left .. right] around t = a[k] (Hoare-style, with t moved to an end as a sentinel).
    const t = a[k];
    let i = left;
    let j = right;
    swap(a, left, k);
    if (a[right] > t) swap(a, right, left);
    while (i < j) {
      swap(a, i, j);
      i++;
      j--;
      while (a[i] < t) i++;
      while (a[j] > t) j--;
    }
    if (a[left] === t) swap(a, left, j);
    else {
      j++;
      swap(a, j, right);
    }
    // Now a[j] = t is in its final place; keep the side that holds k.
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
}

function swap(a: FloatData, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}
