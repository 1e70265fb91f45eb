/**
 * torch.randn on the WebAssembly kernels: one `Generator.fillRandn*` call, bit for bit the JS
 * path's values and the generator left in the same state.
 *
 * The generator's state (624 words and the index, 2.5 KB) is copied into the instance, the
 * kernel draws, and the state is copied back: about a microsecond, against 2 to 3 ns per value
 * drawn. Draws of fewer than 16 values (torch's per-element double path, with its cached second
 * normal) stay in JavaScript, where they are cheaper than the copies.
 */
import type { Generator } from '../noise.js';
import type { DType } from '../tensor.js';
import { type KernelInstance, STAGE_ELEMENTS } from './instance.js';

export type NoiseArray = Float32Array | Uint16Array | Float64Array;

function sizeOf(dtype: DType): number {
  return dtype === 'float64' ? 8 : dtype === 'float32' ? 4 : 2;
}

/** The JS path's draw of the same call (the reference, and the path for fewer than 16 values). */
function jsFill(g: Generator, out: NoiseArray, dtype: DType, offset: number, length: number): void {
  if (dtype === 'float32') g.fillRandn(out as Float32Array, offset, length);
  else if (dtype === 'float64') g.fillRandnFloat64(out as Float64Array, offset, length);
  else g.fillRandnFloat16(out as Uint16Array, offset, length);
}

/**
 * `g.fillRandn(out, offset, length)` (or fillRandnFloat16 / fillRandnFloat64 for `dtype`) on the
 * kernels of `k`. The arguments are the checked ones of those methods (offset and length in
 * range, `out` of the dtype's array type).
 */
export function fillRandnWasm(
  k: KernelInstance,
  g: Generator,
  out: NoiseArray,
  dtype: DType,
  offset: number,
  length: number,
): void {
  if (length < 16) {
    jsFill(g, out, dtype, offset, length);
    return;
  }
  const ex = k.exports;
  if (dtype === 'float16') k.ensureHalfTables();
  const draw = dtype === 'float32' ? ex.randnF32 : dtype === 'float64' ? ex.randnF64 : ex.randnF16;
  const state = (ex.MT_STATE.value as number) >> 2;
  const index = (ex.MT_INDEX.value as number) >> 2;
  const mt = g['mt'];
  let v = k.view();
  v.i32.set(mt, state);
  v.i32[index] = g['mti'];
  const size = sizeOf(dtype);
  if (out.buffer === k.buffer()) {
    // The array lives in the instance: draw straight into it.
    draw(out.byteOffset + offset * size, length);
  } else {
    // Through a staging slot, `chunk` values at a time; the last call takes the rest (16 or more,
    // so that it, and only it, redraws the last 16 values when the length is not a multiple of 16).
    const at = k.slot(0);
    // Values per call: a multiple of 16 within a slot. (Computed here, not at the top of the
    // module: src/noise.ts will import this module, and instance.ts imports src/noise.ts, so a
    // top-level read of an imported binding could run before that binding is initialised.)
    const chunk = STAGE_ELEMENTS - 16;
    let start = 0;
    while (length - start >= chunk + 16) {
      draw(at, chunk);
      copyOut(k.view(), dtype, at, chunk, out, offset + start);
      start += chunk;
    }
    draw(at, length - start);
    copyOut(k.view(), dtype, at, length - start, out, offset + start);
  }
  v = k.view();
  mt.set(v.i32.subarray(state, state + 624));
  g['mti'] = v.i32[index];
}

function copyOut(
  v: ReturnType<KernelInstance['view']>,
  dtype: DType,
  at: number,
  count: number,
  out: NoiseArray,
  to: number,
): void {
  if (dtype === 'float32') (out as Float32Array).set(v.f32.subarray(at >> 2, (at >> 2) + count), to);
  else if (dtype === 'float64') (out as Float64Array).set(v.f64.subarray(at >> 3, (at >> 3) + count), to);
  else (out as Uint16Array).set(v.u16.subarray(at >> 1, (at >> 1) + count), to);
}
