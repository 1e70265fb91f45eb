/**
 * The DDIM step on the WebAssembly kernels: `ddimStepKernel` of src/step.ts (same arguments, same
 * contract: outputs may alias inputs element for element; returns false when a result may be
 * non-finite), with the loops in wasm/assembly/step.ts.
 *
 * Lanes. Where any tensor is float64, or when asked (`lanes: 'float64'`), the loops run in f64x2
 * lanes and compute exactly what the JS path computes: identical bits. Otherwise (float32 and
 * float16 tensors, the common case) they run in f32x4 lanes, 2.5x faster: the folded scalars are
 * rounded to float32 and every product and sum is a float32 operation, as diffusers' own float32
 * tensor arithmetic is. The JS path computes each value in float64 and rounds once, so the two
 * differ by float32 rounding errors of the terms, bounded as test/wasm-step.test.ts states and tests.
 *
 * Thresholding's |x0| is computed in float64 lanes either way, so the quantile and the threshold s
 * are the JS path's exactly; the quantile itself is the JS path's selection (`quantileInPlace`),
 * run on a view of the kernel memory.
 *
 * Tensors that live in the instance's memory (`KernelInstance.allocate`) are read and written in
 * place; others are copied through the staging slots, STAGE_ELEMENTS elements at a time, so that
 * the copies and the kernel work on data in the L2 cache (docs/performance.md has the
 * measurements: `npm run bench:wasm`).
 */
import { ArgumentError } from '../errors.js';
import { quantileInPlace, type StepKernelArgs, thresholdPrecision } from '../step.js';
import type { DType, TensorData } from '../tensor.js';
import { type KernelInstance, STAGE_ELEMENTS } from './instance.js';

/** dtype codes of wasm/assembly/step.ts. */
const F32 = 0;
const F64 = 1;
const F16 = 2;
const LINEAR = 0;
const LINEAR_NOISE = 1;
const BOUNDED = 2;

/** Slots of the staging area. */
const SLOT_X = 0;
const SLOT_M = 1;
const SLOT_Z = 2;
const SLOT_PREV = 3;
const SLOT_X0 = 4;

/** `'auto'`: f32x4 lanes unless a tensor is float64; `'float64'`: always f64x2 (the JS path's bits). */
export type StepLanes = 'auto' | 'float64';

function code(type: DType): number {
  return type === 'float32' ? F32 : type === 'float64' ? F64 : F16;
}

function sizeOf(type: DType): number {
  return type === 'float64' ? 8 : type === 'float32' ? 4 : 2;
}

/** Whether the step runs in f64x2 lanes. */
export function usesWideLanes(args: StepKernelArgs, lanes: StepLanes): boolean {
  return (
    lanes === 'float64' ||
    args.sampleType === 'float64' ||
    args.modelOutputType === 'float64' ||
    (args.noise !== null && args.noiseType === 'float64') ||
    args.outType === 'float64'
  );
}

/**
 * Run one DDIM step over whole tensors on the kernels of `k`: `ddimStepKernel(args)` of
 * src/step.ts (see there for the arguments), computed in `lanes`.
 */
export function ddimStepKernelWasm(
  k: KernelInstance,
  args: StepKernelArgs,
  lanes: StepLanes = 'auto',
): boolean {
  const { bound, batch } = args;
  const length = args.sample.length;
  const per = batch > 0 ? (length / batch) | 0 : 0;
  const wide = usesWideLanes(args, lanes);
  let finite = true;
  for (let bi = 0; bi < batch; bi++) {
    const from = bi * per;
    const to = from + per;
    let ok: boolean;
    if (bound.kind === 'threshold') {
      const s = thresholdScale(k, args, from, to, bound.ratio, bound.maxValue);
      ok = runRange(k, args, wide, 1 / s, -1, 1, from, to);
    } else if (bound.kind === 'clip') {
      ok = runRange(k, args, wide, 1, -bound.range, bound.range, from, to);
    } else {
      ok = runRange(k, args, wide, 1, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, from, to);
    }
    finite = finite && ok;
  }
  return finite;
}

/**
 * Byte offset of `data[start ..]` for the kernel: the array itself when it lives in the
 * instance's memory, else staging slot `slot` after copying `len` elements there.
 */
function place(
  k: KernelInstance,
  data: TensorData,
  type: DType,
  start: number,
  len: number,
  slot: number,
): number {
  const size = sizeOf(type);
  if (data.buffer === k.buffer()) return data.byteOffset + start * size;
  const at = k.slot(slot);
  const v = k.view();
  const part = start === 0 && len === data.length ? data : data.subarray(start, start + len);
  if (type === 'float32') v.f32.set(part as Float32Array, at >> 2);
  else if (type === 'float64') v.f64.set(part as Float64Array, at >> 3);
  else v.u16.set(part as Uint16Array, at >> 1);
  return at;
}

/** Where an output goes: the array itself when it lives in the instance, else a staging slot (copied out after). */
function target(k: KernelInstance, data: TensorData, type: DType, start: number, slot: number): number {
  return data.buffer === k.buffer() ? data.byteOffset + start * sizeOf(type) : k.slot(slot);
}

function copyOut(
  k: KernelInstance,
  at: number,
  type: DType,
  len: number,
  data: TensorData,
  start: number,
): void {
  const v = k.view();
  if (type === 'float32') (data as Float32Array).set(v.f32.subarray(at >> 2, (at >> 2) + len), start);
  else if (type === 'float64') (data as Float64Array).set(v.f64.subarray(at >> 3, (at >> 3) + len), start);
  else (data as Uint16Array).set(v.u16.subarray(at >> 1, (at >> 1) + len), start);
}

function resident(k: KernelInstance, args: StepKernelArgs): boolean {
  const buffer = k.buffer();
  return (
    args.sample.buffer === buffer &&
    args.modelOutput.buffer === buffer &&
    (args.noise === null || args.noise.buffer === buffer) &&
    args.prevSample.buffer === buffer &&
    args.predOriginalSample.buffer === buffer
  );
}

/**
 * One batch element's elements [from, to): the scalars folded as src/step.ts's runRange folds
 * them (the same float64 operations), then the kernel over the range, in place or chunk by chunk
 * through the staging slots.
 */
function runRange(
  k: KernelInstance,
  args: StepKernelArgs,
  wide: boolean,
  scale: number,
  lo: number,
  hi: number,
  from: number,
  to: number,
): boolean {
  const c = args.coefficients;
  const a = c.x0FromSample * scale;
  const b = c.x0FromModel * scale;
  const clipped = args.useClippedModelOutput;
  const e = clipped
    ? c.sqrtAlphaProdPrev - c.direction * c.sqrtAlphaProd * c.invSqrtBetaProd
    : c.sqrtAlphaProdPrev;
  const f = c.direction * (clipped ? c.invSqrtBetaProd : c.epsFromSample);
  const g = clipped ? 0 : c.direction * c.epsFromModel;
  const params = (k.exports.PARAMS.value as number) >> 3;
  const f64 = k.view().f64;
  f64[params] = a;
  f64[params + 1] = b;
  f64[params + 2] = e * a + f;
  f64[params + 3] = e * b + g;
  f64[params + 4] = e;
  f64[params + 5] = f;
  f64[params + 6] = g;
  f64[params + 7] = c.noiseScale;
  f64[params + 8] = lo;
  f64[params + 9] = hi;
  const noise = args.noise;
  const kind = args.bound.kind !== 'none' ? BOUNDED : noise === null ? LINEAR : LINEAR_NOISE;
  const outType = args.outType;
  const chunk = resident(k, args) ? Math.max(1, to - from) : STAGE_ELEMENTS;
  let finite = true;
  for (let start = from; start < to; start += chunk) {
    const len = Math.min(chunk, to - start);
    const x = place(k, args.sample, args.sampleType, start, len, SLOT_X);
    const m = place(k, args.modelOutput, args.modelOutputType, start, len, SLOT_M);
    const z = noise === null ? 0 : place(k, noise, args.noiseType, start, len, SLOT_Z);
    const prev = target(k, args.prevSample, outType, start, SLOT_PREV);
    const x0 = target(k, args.predOriginalSample, outType, start, SLOT_X0);
    const ok = k.exports.step(
      kind,
      clipped ? 1 : 0,
      wide ? 1 : 0,
      x,
      code(args.sampleType),
      m,
      code(args.modelOutputType),
      z,
      code(args.noiseType),
      prev,
      x0,
      code(outType),
      len,
    );
    if (prev === k.slot(SLOT_PREV)) copyOut(k, prev, outType, len, args.prevSample, start);
    if (x0 === k.slot(SLOT_X0)) copyOut(k, x0, outType, len, args.predOriginalSample, start);
    finite = finite && ok === 1;
  }
  return finite;
}

/**
 * Thresholding's scale s for one batch element, as src/step.ts's thresholdScale: the quantile of
 * |x0| (in x0's precision) clamped as torch.clamp(q, 1, sample_max_value).
 */
function thresholdScale(
  k: KernelInstance,
  args: StepKernelArgs,
  from: number,
  to: number,
  ratio: number,
  maxValue: number,
): number {
  const scratch = args.scratch;
  const n = to - from;
  const wide = thresholdPrecision(args.sampleType, args.modelOutputType) === 'float64';
  // The same check as the JS path (it does not read the scratch here, but a caller must not be
  // able to tell the paths apart by their errors).
  if (scratch === undefined || scratch.length < n || wide !== scratch instanceof Float64Array) {
    throw new ArgumentError({
      field: 'scratch',
      value: scratch,
      problem: `must be a ${wide ? 'Float64Array' : 'Float32Array'} of at least ${n} values for thresholding`,
      fix: 'pass scratch of length / batch values: a Float64Array when the sample or the model output is float64, else a Float32Array.',
    });
  }
  const size = wide ? 8 : 4;
  // Allocated before any staging or view is taken: a growth here must come first.
  const out = k.scratch(n * size);
  const c = args.coefficients;
  const params = (k.exports.PARAMS.value as number) >> 3;
  const f64 = k.view().f64;
  f64[params] = c.x0FromSample;
  f64[params + 1] = c.x0FromModel;
  const chunk =
    args.sample.buffer === k.buffer() && args.modelOutput.buffer === k.buffer() ? n : STAGE_ELEMENTS;
  let nan = false;
  for (let start = from; start < to; start += chunk) {
    const len = Math.min(chunk, to - start);
    const x = place(k, args.sample, args.sampleType, start, len, SLOT_X);
    const m = place(k, args.modelOutput, args.modelOutputType, start, len, SLOT_M);
    const at = out + (start - from) * size;
    if (
      k.exports.absX0(x, code(args.sampleType), m, code(args.modelOutputType), at, wide ? 1 : 0, len) === 1
    ) {
      nan = true;
    }
  }
  const v = k.view();
  const values = wide ? v.f64.subarray(out >> 3, (out >> 3) + n) : v.f32.subarray(out >> 2, (out >> 2) + n);
  // torch.quantile returns NaN when the row holds a NaN; clamp(NaN, 1, max) stays NaN.
  const q = nan ? Number.NaN : quantileInPlace(values, n, ratio);
  const floored = q < 1 ? 1 : q;
  return floored > maxValue ? maxValue : floored;
}
