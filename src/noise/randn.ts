/**
 * `torch.randn` / diffusers' `randn_tensor` on the PyTorch-exact generators of generator.ts: one
 * generator for the whole tensor, or one per batch element (each drawing its own slice), in the
 * dtype torch would draw in.
 */
import { ArgumentError, ShapeError } from '../errors.js';
import { guarded, readOptions, unreadable } from '../guard.js';
import { allocate, assertNever, checkDType, DTYPES, type DType, holds } from '../tensor/dtype.js';
import {
  checkTensor,
  formatDims,
  sizeOf,
  type Tensor,
  type TensorData,
  type TensorLike,
  tensorOf,
} from '../tensor/tensor.js';
import { checkGenerators, defaultGenerator, type Generator, type GeneratorOption } from './generator.js';

const RANDN_OPTION_KEYS: ReadonlySet<string> = new Set(['generator', 'dtype', 'out']);

/**
 * The dtype a raw noise buffer is drawn in: Float32Array, Float64Array, or a Uint16Array, which
 * `randnInto` (given no `type`) fills with float16 bits; else null.
 */
function noiseDTypeOf(out: unknown): DType | null {
  if (!ArrayBuffer.isView(out)) return null;
  return DTYPES.find((dtype) => holds(out, dtype)) ?? null;
}

/** One torch.randn call of `length` elements in `dtype` from `g`, into out[offset ..). */
function drawInto(g: Generator, out: TensorData, dtype: DType, offset: number, length: number): void {
  switch (dtype) {
    case 'float32':
      g.fillRandn(out as Float32Array, offset, length);
      return;
    case 'float64':
      g.fillRandnFloat64(out as Float64Array, offset, length);
      return;
    case 'float16':
      g.fillRandnFloat16(out as Uint16Array, offset, length);
      return;
    default:
      assertNever(dtype, 'dtype');
  }
}

function fillRandnChecked(
  out: TensorData,
  shape: readonly number[],
  generator: GeneratorOption,
  field: string,
): void {
  const n = sizeOf(shape, field);
  // Read the caller's array once; sizeOf has checked it holds n >= 0 elements' worth of integers.
  const dims = guarded(() => [...shape], unreadable(ShapeError, field, 'pass a plain array.'));
  const dtype = noiseDTypeOf(out);
  if (dtype === null || out.length !== n) {
    throw new ShapeError({
      field: 'out',
      value: out,
      problem: `must be a Float32Array, Float64Array or Uint16Array (float16 bits) of ${n} elements, the size of ${formatDims(dims)}`,
      fix: 'allocate e.g. new Float32Array(size) for the shape.',
    });
  }
  const gens = checkGenerators(generator, dims.length > 0 ? dims[0] : undefined);
  if (gens === null) drawInto(defaultGenerator(), out, dtype, 0, n);
  else if (!Array.isArray(gens)) drawInto(gens, out, dtype, 0, n);
  else {
    // Each generator draws torch.randn((1, *shape[1:])) -- one call per batch element -- concatenated.
    const per = n / gens.length;
    for (let i = 0; i < gens.length; i++) drawInto(gens[i], out, dtype, i * per, per);
  }
}

/**
 * `randnTensor` into a raw buffer (the scheduler's eta > 0 noise): fill `out` (length = product
 * of `dims`) exactly as `randnTensor(dims, { generator, dtype })` would, the dtype being the
 * array's: a Float32Array gets float32 noise, a Float64Array float64, a Uint16Array float16 bits.
 * Internal; the public form is `randnTensor(shape, { out })`.
 */
export function randnInto(
  out: Float32Array | Float64Array | Uint16Array,
  dims: readonly number[],
  generator?: GeneratorOption,
): void {
  fillRandnChecked(out, dims, generator, 'dims');
}

/** Options of `randnTensor`. */
export interface RandnOptions<T extends DType = DType> {
  /** One Generator, one per batch element, or none (the default generator). */
  generator?: GeneratorOption;
  /** The dtype drawn in, as torch's `dtype=` (default 'float32', or `out`'s). Each dtype is its own stream. */
  dtype?: T;
  /**
   * Draw into this tensor (the shape's size; its dtype is the dtype drawn in) instead of a new
   * one, so a loop allocates nothing but the returned view.
   */
  out?: TensorLike;
}

/**
 * diffusers' `randn_tensor(shape, generator, dtype)` on the CPU: `torch.randn(shape, generator=g,
 * dtype=dtype)` for one generator (or none: the default generator), or one
 * `torch.randn((1, *shape[1:]), dtype=dtype)` per batch element for a list of generators.
 *
 * `dtype` (default 'float32') is drawn in, not converted to: as in torch, float16 and float64 are
 * different streams from float32 (other uniforms, other arithmetic), so a Python pipeline in float16
 * (`randn_tensor(..., dtype=torch.float16)`) is matched only with `dtype: 'float16'`. Agreement with
 * torch 1.13 on Linux x86-64: float16 bit for bit (`{ data: Uint16Array of half bits, type:
 * 'float16' }`); float64 within a few ulps (libm's log / sin / cos against JavaScript's); float32
 * within 5e-7 (torch's AVX2 polynomials against ours). The generator ends where torch's ends.
 */
export function randnTensor(shape: readonly number[], options?: RandnOptions<'float32'>): Tensor<'float32'>;
export function randnTensor(shape: readonly number[], options: RandnOptions<'float64'>): Tensor<'float64'>;
export function randnTensor(shape: readonly number[], options: RandnOptions<'float16'>): Tensor<'float16'>;
export function randnTensor(shape: readonly number[], options?: RandnOptions): Tensor;
export function randnTensor(shape: readonly number[], options?: RandnOptions): Tensor {
  const o = readOptions(options, {
    allowed: RANDN_OPTION_KEYS,
    field: 'options',
    example: '{ generator, dtype, out }',
  });
  const generator = o?.generator as GeneratorOption;
  const out = o?.out as TensorLike | undefined;
  const outType = out === undefined || out === null ? null : checkTensor(out, 'options.out');
  const type = checkDType(
    o === null || o.dtype === undefined ? (outType ?? 'float32') : o.dtype,
    'options.dtype',
    "pass one of those (torch.float32, torch.float64, torch.float16), or omit it for 'float32'.",
  );
  const n = sizeOf(shape, 'shape');
  const dims = guarded(() => [...shape], unreadable(ShapeError, 'shape', 'pass a plain array.'));
  if (outType !== null && outType !== type) {
    throw new ArgumentError({
      field: 'options.dtype',
      value: type,
      problem: `differs from options.out's dtype (${outType}); the noise is drawn in out's dtype`,
      fix: 'drop dtype, or pass an out of that dtype.',
    });
  }
  const data = outType === null ? allocate(type, n) : (out as TensorLike).data;
  fillRandnChecked(data, dims, generator, 'shape');
  return tensorOf(data, dims, type);
}
