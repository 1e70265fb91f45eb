/**
 * Tensors are plain `{ data, dims, type }` objects: the field names of onnxruntime's and
 * transformers.js' tensors, so theirs pass straight in and ours pass straight back out
 * (`new ort.Tensor(t.type, t.data, t.dims)`).
 *
 * `data` is a Float32Array, a Float64Array, or a Uint16Array holding IEEE float16 bit patterns
 * (then `type` must be `'float16'`, because a Uint16Array alone cannot say what it holds).
 */
import { ArgumentError, DdimError, ShapeError } from '../errors.js';
import { unreadable } from '../guard.js';
import {
  allocate,
  checkDType,
  convertInto,
  type DType,
  type DTypeMap,
  dtypeOfArray,
  type TensorData,
} from './dtype.js';

export type { DType, DTypeMap, TensorData };

/** What the library accepts: anything with `data` and `dims` (and `type` for float16). */
export interface TensorLike {
  /** The elements, row-major. */
  readonly data: TensorData;
  /** The shape; its product is `data.length`. */
  readonly dims: readonly number[];
  /** The element type; required (`'float16'`) when `data` is a Uint16Array, else read from `data`. */
  readonly type?: string;
}

/**
 * What the library returns. `type` names `data`'s array type (DTypeMap), so checking `t.type`
 * narrows `t.data`: `Tensor` alone is the union of the three, `Tensor<'float16'>` one of them.
 */
export type Tensor<T extends DType = DType> = {
  [K in T]: {
    /** The elements, row-major, in the dtype's array type. */
    data: DTypeMap[K];
    /** The shape; its product is `data.length`. */
    dims: number[];
    /** The element type. */
    type: K;
  };
}[T];

/** A float32 tensor. */
export type Float32Tensor = Tensor<'float32'>;

/** Largest element count we will allocate for one tensor (2^31 - 1, the typed-array limit in browsers). */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

/** Build a tensor from data and dims, checking that they agree. */
export function tensor(data: Float32Array, dims: readonly number[], type?: 'float32'): Tensor<'float32'>;
export function tensor(data: Float64Array, dims: readonly number[], type?: 'float64'): Tensor<'float64'>;
export function tensor(data: Uint16Array, dims: readonly number[], type: 'float16'): Tensor<'float16'>;
export function tensor(data: TensorData, dims: readonly number[], type?: DType): Tensor;
export function tensor(data: TensorData, dims: readonly number[], type?: DType): Tensor {
  sizeOf(dims, 'dims'); // before copying: dims may be anything
  const t = { data, dims: [...dims], type: type ?? dtypeFromData(data, type, 'tensor') } as Tensor;
  checkTensor(t, 'tensor');
  return t;
}

function dtypeFromData(data: unknown, type: unknown, field: string): DType {
  // isView as well as instanceof: a Proxy of a Float32Array passes instanceof (its prototype is
  // forwarded) but every element read would go through its traps, which may throw mid-step.
  if (ArrayBuffer.isView(data)) {
    const dtype = dtypeOfArray(data);
    if (dtype !== null) return dtype;
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
  if (!sameDims(da, db)) {
    throw new ShapeError({
      field: bName,
      value: db.length > 8 ? formatDims(db) : [...db],
      problem: `has dims ${formatDims(db)} but ${aName} has dims ${formatDims(da)}; they must be equal`,
      fix: `pass ${bName} with the same shape as ${aName}.`,
    });
  }
}

/** Whether two dims lists are equal, entry for entry. */
export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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

/**
 * A tensor of `data` known to be of `type` (no checks: for data the library made or checked). The
 * cast is the one place a (data, type) pair that TypeScript cannot correlate becomes a Tensor.
 */
export function tensorOf(data: TensorData, dims: number[], type: DType): Tensor {
  return { data, dims, type } as Tensor;
}

/**
 * The library's one output convention: a result goes into an optional `out` (the last argument,
 * or the `out` field of the options object where the function takes one) of the same dims and
 * dtype as the result, else into a new tensor. `checkOut` checks a given `out` against `like` (the
 * input whose dims and dtype the result has); `outputLike` returns the checked `out` as a Tensor
 * view, or a new zero tensor when there is none.
 */
export function checkOut(
  out: TensorLike,
  field: string,
  like: TensorLike,
  likeName: string,
  dtype: DType,
): void {
  const type = checkTensor(out, field);
  checkSameDims(like, likeName, out, field);
  if (type !== dtype) {
    throw new ArgumentError({
      field,
      value: type,
      problem: `has dtype ${type} but ${likeName} has ${dtype}; the result has ${likeName}'s dtype`,
      fix: `allocate ${field} with dtype ${dtype}.`,
    });
  }
}

/** `out` checked (see checkOut) as a Tensor view of its data, or a new zero tensor like `like`. */
export function outputLike(
  out: TensorLike | undefined,
  field: string,
  like: TensorLike,
  likeName: string,
  dtype: DType,
): Tensor {
  if (out === undefined || out === null) return emptyLike(like, dtype);
  checkOut(out, field, like, likeName, dtype);
  return tensorOf(out.data, [...out.dims], dtype);
}

/** A new zero tensor with the same dims and dtype as `t`. */
export function emptyLike<T extends DType>(t: TensorLike, dtype: T): Tensor<T> {
  checkTensor(t, 'tensor');
  checkDType(dtype, 'dtype', 'pass one of the dtypes the library computes in.');
  return { data: allocate(dtype, t.data.length), dims: [...t.dims], type: dtype } as Tensor<T>;
}

/** Copy any tensor into a new Float64Array (for non-hot paths: tests, guidance statistics). */
export function toFloat64(t: TensorLike): Float64Array {
  const dtype = checkTensor(t, 'tensor');
  const out = new Float64Array(t.data.length);
  convertInto(t.data, dtype, out, 'float64');
  return out;
}
