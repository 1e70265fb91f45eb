/**
 * `torch.quantile(tensor(values, dtype), q)` with linear interpolation, written out plainly from
 * sorted values: the reference the selection-based `quantileInPlace` (and thresholding in the
 * step) is checked against. aten/src/ATen/native/Sorting.cpp quantile_compute: the rank
 * q * (n - 1) in the input dtype, weight rank - floor(rank), torch.lerp's two-sided formula in
 * the input dtype; NaN anywhere (or n = 0) gives NaN.
 */
export function sortedQuantile(
  sorted: readonly number[],
  q: number,
  precision: 'float32' | 'float64',
): number {
  if (sorted.length === 0 || sorted.some(Number.isNaN)) return Number.NaN;
  const r = precision === 'float32' ? Math.fround : (v: number) => v;
  const rank = r(r(q) * (sorted.length - 1));
  const below = sorted[Math.floor(rank)];
  const above = sorted[Math.ceil(rank)];
  const w = r(rank - Math.floor(rank));
  const diff = r(above - below);
  return Math.abs(w) < 0.5 ? r(below + r(w * diff)) : r(above - r(diff * r(1 - w)));
}
