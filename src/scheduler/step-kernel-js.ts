/**
 * The step's loops in JavaScript: the `StepKernel` every platform has, and the reference the other
 * kernel paths are tested against. step.ts folds eq. 12 into the three loop forms (linear, linear
 * with noise, bounded) and calls `run` once per batch element.
 *
 * `linear` is the common case (Stable Diffusion, eta = 0); it is unrolled and costs less than a
 * plain loop doing only its arithmetic. `bounded` covers clip and thresholding with any eta and
 * use_clipped_model_output; a missing noise term has weight 0 over an array read anyway.
 * All-float16 `linear` has its own loop; other float16 / mixed-dtype cases run the same loops
 * over small chunks. docs/performance.md has the measurements.
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
import { convertInto, type DType, float16Table, numberToFloat16, type TensorData } from '../tensor/dtype.js';
import type { FloatData } from './quantile.js';
import type { FoldedStep, LoopKind, StepKernel, StepTensors } from './step.js';

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

function hasWideInput(args: StepTensors): boolean {
  return (
    args.sampleType === 'float64' ||
    args.modelOutputType === 'float64' ||
    (args.noise !== null && args.noiseType === 'float64')
  );
}

/** True when every array is read and written directly (no float16 anywhere). */
function allFull(args: StepTensors): boolean {
  return (
    args.sampleType !== 'float16' &&
    args.modelOutputType !== 'float16' &&
    (args.noise === null || args.noiseType !== 'float16') &&
    args.outType !== 'float16'
  );
}

// The folded scalars the loops take, copied from the FoldedStep once per batch element.
/** A, B (x0), P, Q (prev, linear loops), E, F, G (prev, bounded loop), W (noise). */
const K = new Float64Array(8);
/** [value, lo, hi] for boundedLoop's branch-free clamp. */
const CLAMP_SELECT = new Float64Array(3);

/**
 * One batch element's elements [from, to): load the folded scalars and run the matching loop,
 * directly or chunk by chunk.
 */
function run(step: FoldedStep, args: StepTensors, from: number, to: number): boolean {
  const clipped = step.clippedModelOutput;
  K[0] = step.a;
  K[1] = step.b;
  K[2] = step.p;
  K[3] = step.q;
  K[4] = step.e;
  K[5] = step.f;
  K[6] = step.g;
  K[7] = step.w;
  CLAMP_SELECT[1] = step.lo;
  CLAMP_SELECT[2] = step.hi;
  const noise = args.noise;
  const kind = step.kind;
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
  if (kind === 'linear' && args.sampleType === 'float16' && args.modelOutputType === 'float16') {
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
  let finite = true;
  for (let start = from; start < to; start += CHUNK) {
    const end = Math.min(start + CHUNK, to);
    const len = end - start;
    loadChunk(args.sample, args.sampleType, start, end, k.x);
    loadChunk(args.modelOutput, args.modelOutputType, start, end, k.m);
    if (noise !== null) loadChunk(noise, args.noiseType, start, end, k.z);
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
  if (kind === 'linear') return linearLoop(x, m, prev, x0, from, to);
  if (kind === 'linear-noise') {
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

/** src[from .. to) of any dtype into a float32 / float64 chunk. */
function loadChunk(src: TensorData, type: DType, from: number, to: number, dst: FloatData): void {
  convertInto(src, type, dst, dst instanceof Float64Array ? 'float64' : 'float32', from, to, 0);
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

/** |a x + b m| for thresholding: directly over float32 / float64 inputs, else chunk by chunk. */
function absX0(
  a: number,
  b: number,
  args: StepTensors,
  from: number,
  to: number,
  scratch: FloatData,
): boolean {
  if (args.sampleType !== 'float16' && args.modelOutputType !== 'float16') {
    return absX0Loop(a, b, args.sample as FloatData, args.modelOutput as FloatData, from, to, scratch, 0);
  }
  const k = chunksFor(hasWideInput(args));
  let nan = false;
  for (let start = from; start < to; start += CHUNK) {
    const end = Math.min(start + CHUNK, to);
    loadChunk(args.sample, args.sampleType, start, end, k.x);
    loadChunk(args.modelOutput, args.modelOutputType, start, end, k.m);
    if (absX0Loop(a, b, k.x, k.m, 0, end - start, scratch, start - from)) nan = true;
  }
  return nan;
}

/** The JavaScript kernel path: every dtype, every loop form; the reference for other paths. */
export const jsStepKernel: StepKernel = { name: 'js', run, absX0 };
