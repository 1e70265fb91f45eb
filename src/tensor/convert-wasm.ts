/**
 * float16 <-> float32 / float64 array conversion on the WebAssembly kernels (wasm/assembly/half.ts),
 * bit for bit what dtype.ts's JavaScript path gives: round to nearest even, float64 -> float16
 * rounded once, every float16 NaN decoded to the float32 NaN 0x7fc00000 (float16Table holds
 * `Number.NaN`), a NaN encoded as sign | 0x7e00. `convertInto` calls it for conversions to or from
 * float16 when the WebAssembly backend is in effect; the others are TypedArray.set or a plain
 * loop, which is the same rounding and as fast.
 *
 * Arrays that live in the instance are read and written in place; others go through two staging
 * slots, STAGE_ELEMENTS at a time, so that the copies and the kernel work in the L2 cache.
 */
import type { KernelInstance } from '../wasm/instance.js';
import { STAGE_ELEMENTS } from '../wasm/instance.js';
import type { DType, TensorData } from './dtype.js';
import { copyOut, placeInput, placeOutput } from './kernel-memory.js';

/**
 * Convert `src[from .. to)` (dtype `srcType`) into `dst[at ...]` (dtype `dstType`), one of them
 * float16 and the other not, on the kernels of `k`.
 */
export function convertHalfWasm(
  k: KernelInstance,
  src: TensorData,
  srcType: DType,
  dst: TensorData,
  dstType: DType,
  from: number,
  to: number,
  at: number,
): void {
  const ex = k.exports;
  const inSlot = 0;
  const outSlot = 1;
  for (let start = from; start < to; start += STAGE_ELEMENTS) {
    const len = Math.min(STAGE_ELEMENTS, to - start);
    const out = at + start - from;
    const srcAt = placeInput(k, src, srcType, start, len, inSlot);
    const dstAt = placeOutput(k, dst, dstType, out, outSlot);
    if (srcType === 'float16') {
      if (dstType === 'float64') ex.halfToF64(srcAt, dstAt, len);
      else ex.halfToF32(srcAt, dstAt, len);
    } else if (srcType === 'float64') ex.f64ToHalf(srcAt, dstAt, len);
    else ex.f32ToHalf(srcAt, dstAt, len);
    if (dstAt === k.slot(outSlot)) copyOut(k, dstAt, dstType, len, dst, out);
  }
}

/** Below this many elements the JavaScript loop is as fast as the copies and the call. */
export const WASM_CONVERT_MIN = 64;
