/**
 * torch.randn's `normal_fill` (16 values or more) on the WebAssembly kernels (wasm/assembly/randn.ts
 * and mt19937.ts): bit for bit the values the JavaScript path (box-muller.ts over mt19937.ts)
 * draws, for the float32, float16 and float64 streams, and the engine left in the same state.
 * `Generator`'s fills call it when the WebAssembly backend is in effect.
 *
 * The engine state (624 words and the index, 2.5 KB) is copied into the instance, the kernel
 * draws, and the state is copied back: about a microsecond, against 1 to 3 ns per value drawn.
 *
 * The float32 stream's tables are filled once per instance from the running engine's Math.log /
 * Math.sin / Math.cos with box-muller.ts's expressions, so that both paths round the same doubles
 * on every engine; the float16 stream's tables are box-muller.ts's own (glibc's corrections
 * included), filled on its first draw (building them costs ~20 ms once per process); the float64
 * stream calls the engine's Math functions, imported by the module.
 */

import type { DType, TensorData } from '../tensor/dtype.js';
import { BYTES_PER_ELEMENT, copyOut } from '../tensor/kernel-memory.js';
import { type KernelInstance, STAGE_ELEMENTS } from '../wasm/instance.js';
import { halfBoxMullerTables } from './box-muller.js';
import { N } from './mt19937.js';

/** Values per call through a staging slot: a multiple of 16 within a slot. */
const CHUNK = STAGE_ELEMENTS - 16;

/**
 * Draw `length` (>= 16) values of `dtype` into `out[offset ..)` from the engine `mt` at index
 * `mti` (both as Generator keeps them), on the kernels of `k`. Updates `mt` and returns the new
 * index. `out` is the checked array of that dtype.
 */
export function randnWasm(
  k: KernelInstance,
  mt: Int32Array,
  mti: number,
  out: TensorData,
  dtype: DType,
  offset: number,
  length: number,
): number {
  const ex = k.exports;
  prepareTables(k, dtype);
  const draw = dtype === 'float32' ? ex.randnF32 : dtype === 'float64' ? ex.randnF64 : ex.randnF16;
  const state = (ex.MT_STATE.value as number) >> 2;
  const index = (ex.MT_INDEX.value as number) >> 2;
  let words = k.view().i32;
  words.set(mt, state);
  words[index] = mti;
  if (out.buffer === k.buffer()) {
    // The array lives in the instance: draw straight into it.
    draw(out.byteOffset + offset * BYTES_PER_ELEMENT[dtype], length);
  } else {
    // Through a staging slot, CHUNK values at a time; the last call takes the rest (16 or more,
    // so that it, and only it, redraws the last 16 values when the length is not a multiple of 16).
    const at = k.slot(0);
    let start = 0;
    while (length - start >= CHUNK + 16) {
      draw(at, CHUNK);
      copyOut(k, at, dtype, CHUNK, out, offset + start);
      start += CHUNK;
    }
    draw(at, length - start);
    copyOut(k, at, dtype, length - start, out, offset + start);
  }
  words = k.view().i32;
  mt.set(words.subarray(state, state + N));
  return words[index];
}

/** Fill the tables `dtype`'s stream reads, once per instance. */
function prepareTables(k: KernelInstance, dtype: DType): void {
  if (dtype === 'float64') return;
  if (!k.prepared.has('randn-float32')) fillFloatTables(k);
  if (dtype === 'float16' && !k.prepared.has('randn-float16')) fillHalfTables(k);
}

/**
 * The float32 stream's tables: box-muller.ts's LOG_TABLE / LOG_TSCALE and its sin / cos table,
 * from the same expressions, so that both paths round the same doubles.
 */
function fillFloatTables(k: KernelInstance): void {
  const f64 = k.view().f64;
  const ex = k.exports;
  const log = (ex.LOG_PAIRS.value as number) >> 3;
  for (let j = 0; j <= 256; j++) {
    f64[log + 2 * j] = Math.log(1 + j / 256);
    // 256 * LOG_TSCALE[j] of box-muller.ts: exact (a power of two), see logPair in randn.ts.
    f64[log + 2 * j + 1] = 256 * (2 ** -31 / (1 + j / 256));
  }
  const sincos = (ex.SINCOS_PAIRS.value as number) >> 3;
  const step = (2 * Math.PI) / 1024;
  for (let i = 0; i <= 1024; i++) {
    f64[sincos + 2 * i] = Math.sin(i * step);
    f64[sincos + 2 * i + 1] = Math.cos(i * step);
  }
  k.prepared.add('randn-float32');
}

/** The float16 stream's tables: box-muller.ts's own (radius, cos, sin per 11-bit word), as float32. */
function fillHalfTables(k: KernelInstance): void {
  const f32 = k.view().f32;
  const ex = k.exports;
  const half = halfBoxMullerTables();
  const radius = (ex.HALF_RADIUS.value as number) >> 2;
  const cossin = (ex.HALF_COSSIN.value as number) >> 2;
  for (let i = 0; i < 2048; i++) {
    // Each is a float32 value already (radius a float16 one): stored exactly.
    f32[radius + i] = half.radius[i];
    f32[cossin + 2 * i] = half.cos[i];
    f32[cossin + 2 * i + 1] = half.sin[i];
  }
  k.prepared.add('randn-float16');
}
