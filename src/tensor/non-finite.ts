/**
 * Naming the culprit of a non-finite result. The step kernel and the forward process only notice
 * that a result may be NaN / Inf (inside their one pass); these scans run only then, to name the
 * first bad element in the NumericError: a non-finite input first (the usual cause), else the
 * output that overflowed its dtype.
 *
 * Internal: not exported from the package entry.
 */
import { NumericError } from '../errors.js';
import { readElement } from './dtype.js';
import type { DType, TensorData, TensorLike } from './tensor.js';

/** Index of the first NaN / Inf element (float16 read through its bits), or -1. */
export function firstNonFinite(data: TensorData, dtype: DType): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(readElement(data, dtype, i))) return i;
  return -1;
}

/** An input to scan: the argument's name, the tensor, its checked dtype, and the fix to suggest. */
export interface ScannedInput {
  name: string;
  tensor: TensorLike;
  dtype: DType;
  fix: string;
}

/**
 * The NumericError for the first non-finite element of the first input that has one (field
 * `name[i]`, problem `is not finite <where>`), or null when every input is finite.
 */
export function nonFiniteInputError(inputs: readonly ScannedInput[], where: string): NumericError | null {
  for (const { name, tensor, dtype, fix } of inputs) {
    const i = firstNonFinite(tensor.data, dtype);
    if (i >= 0) {
      return new NumericError({
        field: `${name}[${i}]`,
        value: readElement(tensor.data, dtype, i),
        problem: `is not finite ${where}`,
        fix,
      });
    }
  }
  return null;
}
