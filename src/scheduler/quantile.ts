/**
 * `torch.quantile` by selection, bit for bit in float32 and float64: what Imagen's dynamic
 * thresholding (diffusers' `_threshold_sample`) takes of |x0| per batch element, in expected O(n)
 * instead of torch's sort.
 */

/** float32 or float64 data, computed on in its own precision (float16 bits are not accepted here). */
export type FloatData = Float32Array | Float64Array;

/**
 * `torch.quantile(values[0 .. n), q)` (linear interpolation) in the precision of the array, by
 * selection in expected O(n) instead of sorting; `values` is reordered.
 *
 * torch (aten/src/ATen/native/Sorting.cpp, quantile_compute) turns q into a rank `q * (n - 1)`
 * computed in the input's dtype (q itself is first made a tensor of that dtype), takes the order
 * statistics at floor(rank) and ceil(rank), and lerps them with weight `rank - floor(rank)` using
 * torch.lerp's two-sided form, again in the input's dtype: a Float32Array reproduces a float32
 * tensor's result bit for bit, a Float64Array a float64 tensor's. A NaN anywhere gives NaN (torch
 * sorts NaN last and moves the rank there); n = 0 gives NaN (torch raises).
 */
export function quantileInPlace(values: FloatData, n: number, q: number): number {
  if (!(n > 0) || containsNaN(values, n)) return Number.NaN;
  return quantileOfNumbers(values, n, q);
}

function containsNaN(values: FloatData, n: number): boolean {
  for (let i = 0; i < n; i++) if (Number.isNaN(values[i])) return true;
  return false;
}

/** quantileInPlace for values known to hold no NaN. */
export function quantileOfNumbers(values: FloatData, n: number, q: number): number {
  const single = values instanceof Float32Array;
  const rank = single ? Math.fround(Math.fround(q) * (n - 1)) : q * (n - 1);
  const lo = Math.floor(rank);
  const below = selectKth(values, n, lo);
  // After selection everything right of lo is >= values[lo]: the next order statistic is their minimum.
  const above = lo + 1 < n && rank > lo ? minFrom(values, lo + 1, n) : below;
  // rank - lo is exact in either precision (it is rank's fractional part).
  return single ? lerpFloat32(below, above, rank - lo) : lerp(below, above, rank - lo);
}

/** torch.lerp: start + w (end - start) for |w| < 0.5, else end - (end - start)(1 - w). */
function lerp(start: number, end: number, w: number): number {
  return Math.abs(w) < 0.5 ? start + w * (end - start) : end - (end - start) * (1 - w);
}

/** torch.lerp on float32 tensors: the same formula with every operation rounded to float32. */
function lerpFloat32(start: number, end: number, w: number): number {
  const f = Math.fround;
  const d = f(end - start);
  return Math.abs(w) < 0.5 ? f(start + f(w * d)) : f(end - f(d * f(1 - w)));
}

function minFrom(values: FloatData, from: number, to: number): number {
  let min = values[from];
  for (let i = from + 1; i < to; i++) if (values[i] < min) min = values[i];
  return min;
}

/**
 * Put the k-th smallest of values[0 .. n) at index k, smaller-or-equal ones before it and
 * greater-or-equal ones after it, and return it. Floyd and Rivest's SELECT (CACM 1975, Algorithm
 * 489): partition around a pivot picked from a small sample so that k lands in a short middle
 * range; about n + min(k, n - k) comparisons instead of quickselect's 2n to 3.4n. NaN-free input.
 */
export function selectKth(values: FloatData, n: number, k: number): number {
  selectRange(values, 0, n - 1, k);
  return values[k];
}

function selectRange(a: FloatData, left: number, right: number, k: number): void {
  while (right > left) {
    if (right - left > 600) {
      // Recurse on a sample of about n^(2/3) elements around where k should fall, so that the
      // pivots a[k] left by it bracket the k-th smallest tightly.
      const n = right - left + 1;
      const i = k - left + 1;
      const z = Math.log(n);
      const s = 0.5 * Math.exp((2 * z) / 3);
      const sd = 0.5 * Math.sqrt((z * s * (n - s)) / n) * (i < n / 2 ? -1 : 1);
      const newLeft = Math.max(left, Math.floor(k - (i * s) / n + sd));
      const newRight = Math.min(right, Math.floor(k + ((n - i) * s) / n + sd));
      selectRange(a, newLeft, newRight, k);
    }
    // Partition a[left .. right] around t = a[k] (Hoare-style, with t moved to an end as a sentinel).
    const t = a[k];
    let i = left;
    let j = right;
    swap(a, left, k);
    if (a[right] > t) swap(a, right, left);
    while (i < j) {
      swap(a, i, j);
      i++;
      j--;
      while (a[i] < t) i++;
      while (a[j] > t) j--;
    }
    if (a[left] === t) swap(a, left, j);
    else {
      j++;
      swap(a, j, right);
    }
    // Now a[j] = t is in its final place; keep the side that holds k.
    if (j <= k) left = j + 1;
    if (k <= j) right = j - 1;
  }
}

function swap(a: FloatData, i: number, j: number): void {
  const t = a[i];
  a[i] = a[j];
  a[j] = t;
}
