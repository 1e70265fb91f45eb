/**
 * Element types: the one place that knows which typed array holds which dtype, how float16 bits
 * decode and encode, and how to convert between them.
 *
 * As in onnxruntime-common (`Tensor.DataTypeMap`), a dtype names its array type: float16 lives
 * in a Uint16Array of IEEE half-precision bit patterns, because a Uint16Array alone cannot say
 * what it holds (and `Float16Array` is not in Node 20 nor every browser). Every choice over the
 * dtypes is a `switch` with a `never` check, so a dtype added to DTYPES is a type error wherever
 * it is not handled yet.
 */
import { ArgumentError } from '../errors.js';
import { kernelsFor } from '../wasm/backend.js';
import { convertHalfWasm, WASM_CONVERT_MIN } from './convert-wasm.js';

/** The dtypes the library computes in, as diffusers' `torch_dtype`. */
export const DTYPES = ['float32', 'float64', 'float16'] as const;
/** One of {@link DTYPES}: the element types of tensors, with onnxruntime's names. */
export type DType = (typeof DTYPES)[number];

/** The typed array each dtype's data lives in (float16: IEEE half-precision bits). */
export interface DTypeMap {
  /** float32 data. */
  float32: Float32Array;
  /** float64 data. */
  float64: Float64Array;
  /** float16 data: IEEE half-precision bit patterns. */
  float16: Uint16Array;
}

/** Data of any dtype. */
export type TensorData = DTypeMap[DType];

/** Unreachable: a value of type `never` means a variant was not handled (a compile-time check). */
export function assertNever(value: never, what: string): never {
  throw new Error(`unhandled ${what}: ${String(value)}`);
}

export function isDType(value: unknown): value is DType {
  return (DTYPES as readonly unknown[]).includes(value);
}

/** A new zero-filled array of `length` elements for `dtype`. */
export function allocate<T extends DType>(dtype: T, length: number): DTypeMap[T];
export function allocate(dtype: DType, length: number): TensorData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
    case 'float16':
      return new Uint16Array(length);
    default:
      return assertNever(dtype, 'dtype');
  }
}

/** Whether `data` is the array type `dtype` lives in. */
export function holds(data: unknown, dtype: DType): boolean {
  switch (dtype) {
    case 'float32':
      return data instanceof Float32Array;
    case 'float64':
      return data instanceof Float64Array;
    case 'float16':
      return data instanceof Uint16Array;
    default:
      return assertNever(dtype, 'dtype');
  }
}

/**
 * The dtype an array holds when it can tell by itself: float32 and float64; a Uint16Array needs
 * `type: 'float16'` to be read as half bits, so it is null here like any other array.
 */
export function dtypeOfArray(data: unknown): 'float32' | 'float64' | null {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  return null;
}

/** A dtype argument, checked: one of DTYPES, else an ArgumentError naming `field`. */
export function checkDType(value: unknown, field: string, fix: string): DType {
  if (!isDType(value)) {
    throw new ArgumentError({
      field,
      value,
      problem: `must be one of ${DTYPES.map((d) => `'${d}'`).join(', ')}`,
      fix,
    });
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// float16 <-> float32. Decoding uses a 64k-entry table (built once, on first use): one load per
// element, which is what a fused kernel wants. Encoding rounds to nearest even, as numpy/torch do.

let f16Table: Float32Array | null = null;

function decodeHalfBits(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Table mapping every float16 bit pattern to its value. */
export function float16Table(): Float32Array {
  if (f16Table === null) {
    const table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) table[h] = decodeHalfBits(h);
    f16Table = table;
  }
  return f16Table;
}

/** The value of a float16 bit pattern. */
export function float16ToNumber(bits: number): number {
  return float16Table()[bits & 0xffff];
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * Round a number (a float64) to the nearest float16, ties to even, and return its bit pattern.
 *
 * The fast route goes through float32 bits. Rounding twice (float64 -> float32 -> float16) is
 * wrong only when the float32 lands exactly halfway between two float16s although the float64 was
 * not: then the float64's side of the float32 decides, as a single rounding would.
 */
export function numberToFloat16(value: number): number {
  f32Scratch[0] = value;
  const f = f32Scratch[0];
  // Which way a float32 tie really goes: to even when the float32 is exact, else up when
  // |value| > |float32(value)| and down when below. 0/1 flags, not branches (see below).
  const exact = +(f === value);
  const above = +(Math.abs(value) > Math.abs(f));
  return float32BitsToFloat16(u32Scratch[0], exact, above);
}

/**
 * The float16 nearest to the float32 with bit pattern `x`; a float32 exactly halfway between two
 * float16s goes to the even one when `exact` is 1, else to the larger magnitude when `above` is 1
 * and to the smaller when it is 0.
 */
function float32BitsToFloat16(x: number, exact: number, above: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x38800000 && abs < 0x47800000) {
    // |value| in [2^-14, 2^16): a normal half, or 65520 and up, which round to Inf. Re-bias the
    // exponent (127 -> 15) and round off 13 mantissa bits without a branch (a data-dependent
    // branch here mispredicts half the time in fused kernels): adding 0xfff plus `up` carries into
    // the kept bits exactly when the dropped bits are above half, or exactly half and `up` is 1
    // (ties to even: the lowest kept bit; `above` is 0 when exact). A carry out of the mantissa
    // correctly bumps the exponent.
    const up = ((abs >>> 13) & 1 & exact) | above;
    return sign | (((abs + 0x0fff + up) >>> 13) - ((127 - 15) << 10));
  }
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf / NaN
  if (exp - 127 + 15 >= 31) return sign | 0x7c00; // overflow -> Inf
  // Subnormal half (or zero): shift the mantissa, including the implicit 1, into place.
  const e = exp - 127 + 15;
  if (e < -10) return sign;
  mant |= 0x800000;
  const shift = 14 - e;
  let half = mant >>> shift;
  const rem = mant & ((1 << shift) - 1);
  const mid = 1 << (shift - 1);
  if (rem > mid || (rem === mid && (above === 1 || (exact === 1 && half & 1)))) half++;
  return sign | half;
}

/**
 * The table to decode `dtype`'s elements through (`table[bits]`), or null when they are plain
 * numbers: for loops that read any dtype without a branch per element on the dtype.
 */
export function decodeTable(dtype: DType): Float32Array | null {
  switch (dtype) {
    case 'float16':
      return float16Table();
    case 'float32':
    case 'float64':
      return null;
    default:
      return assertNever(dtype, 'dtype');
  }
}

/** Read element i of any dtype's data as a number. */
export function readElement(data: TensorData, dtype: DType, i: number): number {
  switch (dtype) {
    case 'float16':
      return float16Table()[data[i]];
    case 'float32':
    case 'float64':
      return data[i];
    default:
      return assertNever(dtype, 'dtype');
  }
}

/** Store `value` as element i of any dtype's data (float16: rounded to nearest even). */
export function writeElement(data: TensorData, dtype: DType, i: number, value: number): void {
  switch (dtype) {
    case 'float16':
      data[i] = numberToFloat16(value);
      return;
    case 'float32':
    case 'float64':
      data[i] = value;
      return;
    default:
      assertNever(dtype, 'dtype');
  }
}

/**
 * Convert `src[from .. to)` (of dtype `srcType`) into `dst[at ...]` (of `dstType`). Rounding is to
 * nearest even throughout, as numpy's and torch's casts: float64 -> float16 is rounded once,
 * directly (not via float32, which would round twice). The one converter of the library: the ONNX
 * adapter, the step's float16 chunks and the tensor helpers all go through it.
 */
export function convertInto(
  src: TensorData,
  srcType: DType,
  dst: TensorData,
  dstType: DType,
  from = 0,
  to = src.length,
  at = 0,
): void {
  if (srcType === dstType || (srcType !== 'float16' && dstType !== 'float16')) {
    // Same bits, or float32 <-> float64: the typed-array store rounds to nearest even.
    if (from === 0 && to === src.length && at === 0) dst.set(src as never);
    else for (let i = from; i < to; i++) dst[at + i - from] = src[i];
    return;
  }
  if (to - from >= WASM_CONVERT_MIN) {
    // The WebAssembly kernels, when in effect: the same bits, 4 to 7x faster.
    const k = kernelsFor(dst);
    if (k !== null) {
      convertHalfWasm(k, src, srcType, dst, dstType, from, to, at);
      return;
    }
  }
  if (dstType === 'float16') {
    for (let i = from; i < to; i++) dst[at + i - from] = numberToFloat16(src[i]);
    return;
  }
  const table = float16Table();
  for (let i = from; i < to; i++) dst[at + i - from] = table[src[i]];
}
