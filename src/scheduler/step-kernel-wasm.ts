/**
 * The step's loops on the WebAssembly SIMD kernels (wasm/assembly/step.ts): a `StepKernel` with
 * the contract of step-kernel-js.ts (the reference), used by default where the engine has
 * WebAssembly SIMD (`wasmStepKernel` follows the backend switch, wasm/backend.ts, and runs the
 * JavaScript loops when that says 'js').
 *
 * Lanes. Where any tensor is float64, or when asked (`setKernelBackend(..., { stepLanes:
 * 'float64' })`), the loops run in f64x2 lanes and compute exactly what the JS path computes:
 * identical bits, and the same finiteness flag except the JS path's false alarms (below).
 * Otherwise (float32 and float16 tensors, the common case) they run in f32x4 lanes, 2.5x faster:
 * the folded scalars (FoldedStep) are rounded to float32 and every product and sum is a float32
 * operation, as diffusers' own float32 tensor arithmetic is. The JS path computes each value in
 * float64 and rounds once, so the two differ by float32 rounding errors of the terms: with
 * u = 2^-24 and S the sum of the terms' magnitudes (|a x| + |b m| for x0, and so on),
 *
 *   x0, and prev without noise:  |wasm - js| <= 4 u S     prev with noise:  5 u S
 *   prev from a bounded x0:      6 u S + 4 u |e| (|a x| + |b m|)
 *
 * i.e. a few float32 ulps of the terms' magnitude (of the result itself when the terms do not
 * cancel); a float16 output adds its own rounding (half a float16 ulp each way). The derivation
 * and the test over every step form are in test/wasm-step.test.ts.
 *
 * Thresholding's |x0| (`absX0`) is computed in float64 lanes either way, so the quantile, and the
 * threshold s, are the JS path's exactly.
 *
 * The finiteness flag is exact: false iff a stored result (or the unclamped x0) is Inf or NaN.
 * (The JS path also reports false past a sum of 2^127 of finite values; the step's exact scan
 * clears both alike.)
 *
 * Where the tensors live. Arrays in the instance's memory (a sampling loop's arena, the step's
 * workspace) are read and written in place; others are copied through the staging slots,
 * STAGE_ELEMENTS elements at a time, so that the copies and the kernel work on data in the L2
 * cache. The instance is the one the sample lives in (wasm/backend.ts' kernelsFor).
 */
import type { DType } from '../tensor/dtype.js';
import { copyOut, placeInput, placeOutput } from '../tensor/kernel-memory.js';
import { kernelsFor, type StepLanes, stepLanes } from '../wasm/backend.js';
import { type KernelInstance, STAGE_ELEMENTS } from '../wasm/instance.js';
import type { FloatData } from './quantile.js';
import type { FoldedStep, LoopKind, StepKernel, StepTensors } from './step.js';
import { jsStepKernel } from './step-kernel-js.js';

/** dtype codes of wasm/assembly/step.ts. */
const DTYPE_CODE: { readonly [D in DType]: number } = { float32: 0, float64: 1, float16: 2 };
/** Loop codes of wasm/assembly/step.ts. */
const LOOP_CODE: { readonly [K in LoopKind]: number } = { linear: 0, 'linear-noise': 1, bounded: 2 };

/** Staging slots. */
const SLOT_X = 0;
const SLOT_M = 1;
const SLOT_Z = 2;
const SLOT_PREV = 3;
const SLOT_X0 = 4;

/** Whether the step runs in f64x2 lanes: asked for, or any tensor float64. */
export function usesWideLanes(t: StepTensors, lanes: StepLanes): boolean {
  return (
    lanes === 'float64' ||
    t.sampleType === 'float64' ||
    t.modelOutputType === 'float64' ||
    (t.noise !== null && t.noiseType === 'float64') ||
    t.outType === 'float64'
  );
}

/**
 * The folded step over elements [from, to) on the kernels of `k`, in `lanes`: `StepKernel.run`.
 * Returns false when a result is non-finite.
 */
export function runOnKernels(
  k: KernelInstance,
  lanes: StepLanes,
  step: FoldedStep,
  t: StepTensors,
  from: number,
  to: number,
): boolean {
  const ex = k.exports;
  const params = (ex.PARAMS.value as number) >> 3;
  const f64 = k.view().f64;
  f64[params] = step.a;
  f64[params + 1] = step.b;
  f64[params + 2] = step.p;
  f64[params + 3] = step.q;
  f64[params + 4] = step.e;
  f64[params + 5] = step.f;
  f64[params + 6] = step.g;
  f64[params + 7] = step.w;
  f64[params + 8] = step.lo;
  f64[params + 9] = step.hi;
  const wide = usesWideLanes(t, lanes) ? 1 : 0;
  const kind = LOOP_CODE[step.kind];
  const clipped = step.clippedModelOutput ? 1 : 0;
  const noise = step.kind === 'linear' ? null : t.noise;
  const outType = t.outType;
  const resident =
    t.sample.buffer === k.buffer() &&
    t.modelOutput.buffer === k.buffer() &&
    (noise === null || noise.buffer === k.buffer()) &&
    t.prevSample.buffer === k.buffer() &&
    t.predOriginalSample.buffer === k.buffer();
  const chunk = resident ? Math.max(1, to - from) : STAGE_ELEMENTS;
  let finite = true;
  for (let start = from; start < to; start += chunk) {
    const len = Math.min(chunk, to - start);
    const x = placeInput(k, t.sample, t.sampleType, start, len, SLOT_X);
    const m = placeInput(k, t.modelOutput, t.modelOutputType, start, len, SLOT_M);
    // No noise array: 0 tells the kernel (which then reads x with weight 0, as the JS loop does).
    const z = noise === null ? 0 : placeInput(k, noise, t.noiseType, start, len, SLOT_Z);
    const prev = placeOutput(k, t.prevSample, outType, start, SLOT_PREV);
    const x0 = placeOutput(k, t.predOriginalSample, outType, start, SLOT_X0);
    const ok = ex.step(
      kind,
      clipped,
      wide,
      x,
      DTYPE_CODE[t.sampleType],
      m,
      DTYPE_CODE[t.modelOutputType],
      z,
      DTYPE_CODE[t.noiseType],
      prev,
      x0,
      DTYPE_CODE[outType],
      len,
    );
    if (prev === k.slot(SLOT_PREV)) copyOut(k, prev, outType, len, t.prevSample, start);
    if (x0 === k.slot(SLOT_X0)) copyOut(k, x0, outType, len, t.predOriginalSample, start);
    finite = ok === 1 && finite;
  }
  return finite;
}

/**
 * |a x + b m| over elements [from, to) into scratch[0 .. to - from) on the kernels of `k`, in
 * float64 lanes rounded to the scratch's precision: `StepKernel.absX0`. Returns whether a NaN was seen.
 */
export function absX0OnKernels(
  k: KernelInstance,
  a: number,
  b: number,
  t: StepTensors,
  from: number,
  to: number,
  scratch: FloatData,
): boolean {
  const ex = k.exports;
  const params = (ex.PARAMS.value as number) >> 3;
  const f64 = k.view().f64;
  f64[params] = a;
  f64[params + 1] = b;
  const wide = scratch instanceof Float64Array;
  const outType: DType = wide ? 'float64' : 'float32';
  const resident =
    t.sample.buffer === k.buffer() && t.modelOutput.buffer === k.buffer() && scratch.buffer === k.buffer();
  const chunk = resident ? Math.max(1, to - from) : STAGE_ELEMENTS;
  let nan = false;
  for (let start = from; start < to; start += chunk) {
    const len = Math.min(chunk, to - start);
    const x = placeInput(k, t.sample, t.sampleType, start, len, SLOT_X);
    const m = placeInput(k, t.modelOutput, t.modelOutputType, start, len, SLOT_M);
    const out = placeOutput(k, scratch, outType, start - from, SLOT_X0);
    if (
      ex.absX0(x, DTYPE_CODE[t.sampleType], m, DTYPE_CODE[t.modelOutputType], out, wide ? 1 : 0, len) === 1
    ) {
      nan = true;
    }
    if (out === k.slot(SLOT_X0)) copyOut(k, out, outType, len, scratch, start - from);
  }
  return nan;
}

function run(step: FoldedStep, t: StepTensors, from: number, to: number): boolean {
  const k = kernelsFor(t.sample);
  if (k === null) return jsStepKernel.run(step, t, from, to);
  return runOnKernels(k, stepLanes(), step, t, from, to);
}

function absX0(a: number, b: number, t: StepTensors, from: number, to: number, scratch: FloatData): boolean {
  const k = kernelsFor(t.sample);
  if (k === null) return jsStepKernel.absX0(a, b, t, from, to, scratch);
  return absX0OnKernels(k, a, b, t, from, to, scratch);
}

/**
 * The step's default kernel path: the WebAssembly SIMD loops when that backend is in effect
 * (`kernelBackend()` says 'wasm'), else the JavaScript ones (`jsStepKernel`).
 */
export const wasmStepKernel: StepKernel = { name: 'wasm-simd', run, absX0 };
