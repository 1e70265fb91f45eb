/**
 * Tensors are plain `{ data, dims, type }` objects: the field names of onnxruntime's and
 * transformers.js' tensors, so theirs pass straight in and ours pass straight back out
 * (`new ort.Tensor(t.type, t.data, t.dims)`).
 *
 * `data` is a Float32Array, a Float64Array, or a Uint16Array holding IEEE float16 bit patterns
 * (then `type` must be `'float16'`, because a Uint16Array alone cannot say what it holds).
 */
import { DdimError, ShapeError } from '../errors.js';
import { unreadable } from '../guard.js';

export type DType = 'float32' | 'float64' | 'float16';
export type TensorData = Float32Array | Float64Array | Uint16Array;

/** What the library accepts: anything with `data` and `dims` (and `type` for float16). */
export interface TensorLike {
  readonly data: TensorData;
  readonly dims: readonly number[];
  readonly type?: string;
}

/** What the library returns. */
export interface Tensor<D extends TensorData = TensorData> {
  data: D;
  dims: number[];
  type: DType;
}

export type Float32Tensor = Tensor<Float32Array>;

/** Largest element count we will allocate for one tensor (2^31 - 1, the typed-array limit in browsers). */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

/** Build a tensor from data and dims, checking that they agree. */
export function tensor<D extends TensorData>(data: D, dims: readonly number[], type?: DType): Tensor<D> {
  sizeOf(dims, 'dims'); // before copying: dims may be anything
  const t = { data, dims: [...dims], type: type ?? dtypeFromData(data, type, 'tensor') } as Tensor<D>;
  checkTensor(t, 'tensor');
  return t;
}

function dtypeFromData(data: unknown, type: unknown, field: string): DType {
  // isView as well as instanceof: a Proxy of a Float32Array passes instanceof (its prototype is
  // forwarded) but every element read would go through its traps, which may throw mid-step.
  if (ArrayBuffer.isView(data)) {
    if (data instanceof Float32Array) return 'float32';
    if (data instanceof Float64Array) return 'float64';
    if (data instanceof Uint16Array) {
      throw new ShapeError({
        field: `${field}.type`,
        value: type,
        problem: "must be 'float16' when data is a Uint16Array",
        fix: "pass type: 'float16' so the bits are read as half-precision floats.",
      });
    }
  }
  const ctor = constructorName(data);
  throw new ShapeError({
    field: `${field}.data`,
    value: data,
    problem: 'must be a Float32Array, a Float64Array, or a Uint16Array of float16 bits',
    fix:
      ctor === 'Float16Array'
        ? "pass the bits instead: { data: new Uint16Array(data.buffer, data.byteOffset, data.length), type: 'float16' }."
        : 'convert the data to one of those typed arrays (e.g. Float32Array.from(values)).',
  });
}

function constructorName(value: unknown): string | undefined {
  try {
    return (value as { constructor?: { name?: unknown } })?.constructor?.name as string | undefined;
  } catch {
    return undefined;
  }
}

/** dims for a message: at most 8 entries, so a hostile rank-10^6 shape cannot make a huge message. */
export function formatDims(dims: readonly unknown[]): string {
  const shown = dims.slice(0, 8).map(String).join(', ');
  return dims.length > 8 ? `[${shown}, ... (${dims.length} dims)]` : `[${shown}]`;
}

/**
 * Number of elements implied by dims; validates each dim. Refuses shapes over
 * MAX_TENSOR_ELEMENTS before anything is allocated: dims [1e9, 1e9] fail here, in O(rank).
 */
export function sizeOf(dims: readonly number[], field = 'dims'): number {
  try {
    return sizeOfUnguarded(dims, field);
  } catch (error) {
    throw asShapeError(error, field);
  }
}

function sizeOfUnguarded(dims: readonly number[], field: string): number {
  if (!Array.isArray(dims)) {
    throw new ShapeError({
      field,
      value: dims,
      problem: 'must be an array of non-negative integers',
      fix: 'pass the tensor shape, e.g. [1, 4, 64, 64].',
    });
  }
  let n = 1;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new ShapeError({
        field: `${field}[${i}]`,
        value: d,
        problem: 'must be a non-negative integer',
        fix: 'pass the tensor shape as integers, e.g. [1, 4, 64, 64].',
      });
    }
    // Saturate instead of overflowing: a later 0 must still give 0 (numpy allows [10^12, 0]),
    // and Infinity * 0 would be NaN.
    n = Math.min(n * d, MAX_TENSOR_ELEMENTS + 1);
  }
  if (n > MAX_TENSOR_ELEMENTS) {
    throw new ShapeError({
      field,
      value: dims,
      problem: `describes more than the ${MAX_TENSOR_ELEMENTS} elements a typed array can hold`,
      fix: 'split the work into smaller batches.',
    });
  }
  return n;
}

/** Element count of valid dims, or -1 when sizeOf would throw (the same rules, without building messages). */
function countElements(dims: readonly number[]): number {
  if (!Array.isArray(dims)) return -1;
  let n = 1;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i];
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) return -1;
    n = Math.min(n * d, MAX_TENSOR_ELEMENTS + 1);
  }
  return n > MAX_TENSOR_ELEMENTS ? -1 : n;
}

/** A foreign exception met while reading a caller's tensor, as a ShapeError. */
function asShapeError(error: unknown, field: string): unknown {
  if (error instanceof DdimError) return error;
  return unreadable(
    ShapeError,
    field,
    'pass a plain { data, dims } object (or an onnxruntime Tensor).',
  )(error);
}

/**
 * Validate a tensor-like input and return its dtype. Each property is read once; a getter or
 * Proxy that throws becomes a ShapeError naming the argument.
 */
export function checkTensor(t: TensorLike, field: string): DType {
  // try/catch rather than a closure: this runs several times per step and must not allocate.
  try {
    return checkTensorUnguarded(t, field);
  } catch (error) {
    throw asShapeError(error, field);
  }
}

function checkTensorUnguarded(t: TensorLike, field: string): DType {
  if (t === null || typeof t !== 'object') {
    throw new ShapeError({
      field,
      value: t,
      problem: 'must be a tensor object { data, dims }',
      fix: 'pass { data: Float32Array, dims: number[] } or an onnxruntime / transformers.js Tensor.',
    });
  }
  const type = t.type;
  const data = t.data;
  let dtype: DType;
  if (type === 'float16') {
    if (!ArrayBuffer.isView(data) || !(data instanceof Uint16Array)) {
      throw new ShapeError({
        field: `${field}.data`,
        value: data,
        problem: "must be a Uint16Array of float16 bits when type is 'float16'",
        fix: 'pass the raw half-precision bits in a Uint16Array (as onnxruntime does).',
      });
    }
    dtype = 'float16';
  } else {
    dtype = dtypeFromData(data, type, field);
    if (type !== undefined && type !== dtype) {
      throw new ShapeError({
        field: `${field}.type`,
        value: type,
        problem: `does not match its data (${dtype})`,
        fix: `set type to '${dtype}' or convert the data.`,
      });
    }
  }
  const dims = t.dims;
  // The field name is only built on failure: checkTensor runs on every step and must not allocate.
  const n = countElements(dims);
  if (n < 0) sizeOfUnguarded(dims as number[], `${field}.dims`);
  if (n !== data.length) {
    throw new ShapeError({
      field,
      value: { dims: dims.length > 8 ? formatDims(dims) : dims, length: data.length },
      problem: `has dims ${formatDims(dims)} (${n} elements) but data of length ${data.length}`,
      fix: 'make dims describe the data exactly.',
    });
  }
  return dtype;
}

/** Throw unless two tensors have identical dims. Allocates nothing when they do (it runs on every step). */
export function checkSameDims(a: TensorLike, aName: string, b: TensorLike, bName: string): void {
  let da: readonly number[];
  let db: readonly number[];
  try {
    da = a.dims;
    db = b.dims;
    // Names are built only on failure (countElements is sizeOf's test without the messages).
    if (countElements(da) < 0) sizeOfUnguarded(da, `${aName}.dims`);
    if (countElements(db) < 0) sizeOfUnguarded(db, `${bName}.dims`);
  } catch (error) {
    throw asShapeError(error, a === null || typeof a !== 'object' ? aName : bName);
  }
  let same = da.length === db.length;
  for (let i = 0; same && i < da.length; i++) same = da[i] === db[i];
  if (!same) {
    throw new ShapeError({
      field: bName,
      value: db.length > 8 ? formatDims(db) : [...db],
      problem: `has dims ${formatDims(db)} but ${aName} has dims ${formatDims(da)}; they must be equal`,
      fix: `pass ${bName} with the same shape as ${aName}.`,
    });
  }
}

/**
 * How two typed arrays share memory: `'none'`; `'same'`, the same elements (same buffer, offset,
 * element size and length), where an element-wise pass that reads element i before writing it is
 * safe in place; or `'partial'`, any other overlap, where writing element i can clobber an input
 * element not read yet.
 */
export function memoryOverlap(a: TensorData, b: TensorData): 'none' | 'same' | 'partial' {
  if (a.buffer !== b.buffer || a.byteLength === 0 || b.byteLength === 0) return 'none';
  const aStart = a.byteOffset;
  const bStart = b.byteOffset;
  if (aStart + a.byteLength <= bStart || bStart + b.byteLength <= aStart) return 'none';
  return aStart === bStart && a.BYTES_PER_ELEMENT === b.BYTES_PER_ELEMENT && a.length === b.length
    ? 'same'
    : 'partial';
}

/** A new zero tensor with the same dims and dtype as `t`. */
export function emptyLike(t: TensorLike, dtype: DType): Tensor {
  checkTensor(t, 'tensor');
  if (dtype !== 'float32' && dtype !== 'float64' && dtype !== 'float16') {
    throw new ShapeError({
      field: 'dtype',
      value: dtype,
      problem: "must be 'float32', 'float64' or 'float16'",
      fix: 'pass one of the dtypes the library computes in.',
    });
  }
  const n = t.data.length;
  const data =
    dtype === 'float64'
      ? new Float64Array(n)
      : dtype === 'float16'
        ? new Uint16Array(n)
        : new Float32Array(n);
  return { data, dims: [...t.dims], type: dtype };
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

/** Read element i of any supported tensor data as a number. */
export function readElement(data: TensorData, dtype: DType, i: number): number {
  return dtype === 'float16' ? float16Table()[data[i]] : data[i];
}

/** Copy any tensor into a new Float64Array (for non-hot paths: tests, guidance statistics). */
export function toFloat64(t: TensorLike): Float64Array {
  const dtype = checkTensor(t, 'tensor');
  const n = t.data.length;
  const out = new Float64Array(n);
  if (dtype === 'float16') {
    const table = float16Table();
    for (let i = 0; i < n; i++) out[i] = table[t.data[i]];
  } else {
    for (let i = 0; i < n; i++) out[i] = t.data[i];
  }
  return out;
}
