/**
 * float16 <-> float32 / float64 array conversion on the WebAssembly kernels, bit for bit what
 * src/tensor.ts's float16Table() and numberToFloat16() give (and so what the ONNX adapter's
 * convertInto writes): round to nearest even, float64 -> float16 rounded once, every float16 NaN
 * decoded to the float32 NaN 0x7fc00000, a NaN encoded as sign | 0x7e00.
 *
 * Conversions without float16 (float32 <-> float64, or the same dtype) are TypedArray.set, which
 * is a memcpy or the engine's own rounding to nearest even: the JS path's, and as fast.
 */
import type { DType, TensorData } from '../tensor.js';
import { type KernelInstance, STAGE_ELEMENTS } from './instance.js';

/**
 * Convert `src` (dtype `srcType`) into the first `src.length` elements of `dst` (dtype `dstType`)
 * on the kernels of `k`. Returns false when some converted value is Inf or NaN (only computed
 * for conversions to float16; true otherwise).
 */
export function convertIntoWasm(
  k: KernelInstance,
  src: TensorData,
  srcType: DType,
  dst: TensorData,
  dstType: DType,
): boolean {
  if (srcType === dstType || (srcType !== 'float16' && dstType !== 'float16')) {
    dst.set(src as never);
    return true;
  }
  const ex = k.exports;
  const n = src.length;
  const inSize = srcType === 'float64' ? 8 : srcType === 'float32' ? 4 : 2;
  const outSize = dstType === 'float64' ? 8 : dstType === 'float32' ? 4 : 2;
  let finite = true;
  const a = k.slot(0);
  const b = k.slot(1);
  for (let start = 0; start < n; start += STAGE_ELEMENTS) {
    const len = Math.min(STAGE_ELEMENTS, n - start);
    const srcAt = src.buffer === k.buffer() ? src.byteOffset + start * inSize : a;
    const dstAt = dst.buffer === k.buffer() ? dst.byteOffset + start * outSize : b;
    let v = k.view();
    if (srcAt === a) {
      const part = len === n ? src : src.subarray(start, start + len);
      if (srcType === 'float16') v.u16.set(part as Uint16Array, a >> 1);
      else if (srcType === 'float32') v.f32.set(part as Float32Array, a >> 2);
      else v.f64.set(part as Float64Array, a >> 3);
    }
    if (dstType === 'float32') ex.halfToF32(srcAt, dstAt, len);
    else if (dstType === 'float64') ex.halfToF64(srcAt, dstAt, len);
    else if (srcType === 'float32') finite = ex.f32ToHalf(srcAt, dstAt, len) === 1 && finite;
    else finite = ex.f64ToHalf(srcAt, dstAt, len) === 1 && finite;
    if (dstAt === b) {
      v = k.view();
      if (dstType === 'float16') (dst as Uint16Array).set(v.u16.subarray(b >> 1, (b >> 1) + len), start);
      else if (dstType === 'float32')
        (dst as Float32Array).set(v.f32.subarray(b >> 2, (b >> 2) + len), start);
      else (dst as Float64Array).set(v.f64.subarray(b >> 3, (b >> 3) + len), start);
    }
  }
  return finite;
}
