/**
 * Arrays of any dtype in a WebAssembly kernel instance's memory (wasm/instance.ts): where an array
 * of ours is (its byte offset there, when it lives in that instance), copying an ordinary array
 * into a staging slot and back, views of a region, and arrays allocated in an arena. The
 * WebAssembly paths of the step, the noise and the float16 conversion share these.
 *
 * Views of an instance's memory made here are for one call: the shared instance may grow (which
 * detaches them) on a later call. Only arrays allocated in a sealed arena outlive the call.
 *
 * (Tables keyed by the dtype rather than switches: dtype.ts's convertInto reaches this module, so
 * it imports only dtype.ts's types.)
 */
import type { KernelInstance } from '../wasm/instance.js';
import type { DType, DTypeMap, TensorData } from './dtype.js';

/** Bytes per element of each dtype. */
export const BYTES_PER_ELEMENT: { readonly [D in DType]: 2 | 4 | 8 } = {
  float32: 4,
  float64: 8,
  float16: 2,
};

/** The whole-memory view of each dtype's elements. */
const VIEW_OF: { readonly [D in DType]: 'f32' | 'f64' | 'u16' } = {
  float32: 'f32',
  float64: 'f64',
  float16: 'u16',
};

/** log2 of the element size: the index shift from a byte offset. */
const SHIFT: { readonly [D in DType]: 1 | 2 | 3 } = { float32: 2, float64: 3, float16: 1 };

type ArrayConstructor = new (buffer: ArrayBuffer, byteOffset: number, length: number) => TensorData;

const ARRAY_OF: { readonly [D in DType]: ArrayConstructor } = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
};

/** Whether `data` lives in `k`'s memory (then the kernels read and write it in place). */
export function livesIn(k: KernelInstance, data: TensorData): boolean {
  return data.buffer === k.buffer();
}

/**
 * The byte offset of `data[start]` for a kernel: in place when `data` lives in `k`, else after
 * copying `data[start .. start + length)` into the staging slot `slot`.
 */
export function placeInput(
  k: KernelInstance,
  data: TensorData,
  dtype: DType,
  start: number,
  length: number,
  slot: number,
): number {
  if (data.buffer === k.buffer()) return data.byteOffset + start * BYTES_PER_ELEMENT[dtype];
  const at = k.slot(slot);
  // A whole array is copied without a subarray (no allocation per step for arrays that fit a slot).
  const part = start === 0 && length === data.length ? data : data.subarray(start, start + length);
  (k.view()[VIEW_OF[dtype]] as TensorData).set(part as never, at >> SHIFT[dtype]);
  return at;
}

/**
 * The byte offset a kernel writes `data[start ..]` to: in place when `data` lives in `k`, else
 * the staging slot `slot` (then `copyOut` brings the results over).
 */
export function placeOutput(
  k: KernelInstance,
  data: TensorData,
  dtype: DType,
  start: number,
  slot: number,
): number {
  return data.buffer === k.buffer() ? data.byteOffset + start * BYTES_PER_ELEMENT[dtype] : k.slot(slot);
}

/** `length` elements of dtype `dtype` at byte offset `at` of `k`'s memory into `data[start ..]`. */
export function copyOut(
  k: KernelInstance,
  at: number,
  dtype: DType,
  length: number,
  data: TensorData,
  start: number,
): void {
  data.set(regionView(k, dtype, at, length) as never, start);
}

/**
 * A view of `length` elements of `dtype` at byte offset `at` of `k`'s memory, valid for this call.
 * The shared instance's last few are kept and handed out again while its memory has not grown,
 * so that the copies of a step over same-sized tensors allocate nothing.
 */
export function regionView(k: KernelInstance, dtype: DType, at: number, length: number): TensorData {
  const buffer = k.buffer();
  for (let i = 0; i < CACHE; i++) {
    const c = cache[i];
    if (c !== null && c.buffer === buffer && c.at === at && c.dtype === dtype && c.view.length === length) {
      return c.view;
    }
  }
  const view = new ARRAY_OF[dtype](buffer, at, length);
  // Only the shared instance's: a cached view of an arena would keep its memory alive after the
  // loop that made it has ended.
  if (k.isSealed) return view;
  cache[next] = { buffer, at, dtype, view };
  next = (next + 1) % CACHE;
  return view;
}

const CACHE = 8;
const cache: ({ buffer: ArrayBuffer; at: number; dtype: DType; view: TensorData } | null)[] = new Array(
  CACHE,
).fill(null);
let next = 0;

/** A new view of `length` elements of `dtype` at byte offset `at` of `k`'s memory. */
export function viewAt<D extends DType>(
  k: KernelInstance,
  dtype: D,
  at: number,
  length: number,
): DTypeMap[D] {
  return new ARRAY_OF[dtype](k.buffer(), at, length) as DTypeMap[D];
}

/**
 * A new array of `length` elements in `arena` (a sealed instance: the array is never detached), or
 * null when it does not fit. Zeros in a new arena; in a rewound one, what was left there.
 */
export function allocateIn<D extends DType>(
  arena: KernelInstance,
  dtype: D,
  length: number,
): DTypeMap[D] | null {
  const at = arena.allocateBytes(length * BYTES_PER_ELEMENT[dtype]);
  return at < 0 ? null : (new ARRAY_OF[dtype](arena.buffer(), at, length) as DTypeMap[D]);
}
