/**
 * quantileInPlace / selectKth against the obvious implementation: sort, then torch.quantile's
 * linear interpolation (helpers/torch-quantile.ts).
 */
import { describe, expect, it } from 'vitest';
import { quantileInPlace } from '../src/index.js';
import { selectKth } from '../src/scheduler/quantile.js';
import { gaussians, uniformSource } from './helpers/random.js';
import { sortedQuantile } from './helpers/torch-quantile.js';

function ascending(values: readonly number[]): number[] {
  return [...values].sort((a, b) => a - b);
}

const SIZES = [1, 2, 3, 4, 5, 7, 8, 16, 99, 100, 600, 601, 602, 1000, 1001, 4097, 20000];
const RATIOS = [0, 1e-7, 0.001, 0.1, 0.25, 1 / 3, 0.5, 0.9, 0.995, 0.999, 0.9999999, 1];

const shapes: Record<string, (n: number, seed: number) => number[]> = {
  'uniform random': (n, seed) => {
    const u = uniformSource(seed);
    return Array.from({ length: n }, () => u() * 10);
  },
  '|gaussian| (what thresholding sees)': (n, seed) => gaussians(n, seed).map((v) => Math.abs(v * 3)),
  'many duplicates': (n, seed) => {
    const u = uniformSource(seed);
    return Array.from({ length: n }, () => Math.floor(u() * 5) / 4);
  },
  'all equal': (n) => Array.from({ length: n }, () => 0.75),
  sorted: (n) => Array.from({ length: n }, (_, i) => i / 7),
  reversed: (n) => Array.from({ length: n }, (_, i) => (n - i) / 7),
  'organ pipe': (n) => Array.from({ length: n }, (_, i) => Math.min(i, n - 1 - i)),
  'zeros and an infinity': (n) =>
    Array.from({ length: n }, (_, i) => (i === n >> 1 ? Number.POSITIVE_INFINITY : 0)),
  'signed, with -0': (n, seed) => gaussians(n, seed).map((v, i) => (i % 17 === 0 ? -0 : v)),
};

describe('quantileInPlace matches a sort-based torch.quantile exactly', () => {
  for (const [shape, make] of Object.entries(shapes)) {
    for (const precision of ['float32', 'float64'] as const) {
      it(`${shape}, ${precision}, sizes 1 .. 20000, ratios 0 .. 1`, () => {
        let seed = 1;
        for (const n of SIZES) {
          const raw = make(n, seed++);
          const values = precision === 'float32' ? Array.from(Float32Array.from(raw)) : raw;
          const sorted = ascending(values);
          for (const q of RATIOS) {
            const arr = precision === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
            const got = quantileInPlace(arr, n, q);
            const want = sortedQuantile(sorted, q, precision);
            // NaN = NaN here: lerp(inf, inf, w) is NaN in torch too (inf + w * (inf - inf)).
            if (!(got === want || Object.is(got, want)))
              expect.fail(`n=${n} q=${q}: got ${got}, want ${want}`);
            // The array is reordered, never changed.
            expect(ascending(Array.from(arr))).toEqual(sorted);
          }
        }
      });
    }
  }

  it('uses float32 rank rounding for a Float32Array: q = 0.995 over 16384 values', () => {
    // Over 0 .. 16383 the quantile is the rank itself. fl32(0.995) = 0.9950000047683716 and
    // fl32(0.9950000047683716 * 16383) = 16301.0849609375; in float64, 0.995 * 16383 = 16301.085.
    const values = Float32Array.from({ length: 16384 }, (_, i) => i);
    expect(quantileInPlace(values, 16384, 0.995)).toBe(16301.0849609375);
    const wide = Float64Array.from({ length: 16384 }, (_, i) => i);
    expect(quantileInPlace(wide, 16384, 0.995)).toBeCloseTo(16301.085, 9);
  });

  it('interpolates as torch does on simple rows', () => {
    expect(quantileInPlace(Float64Array.of(4, 1, 3, 2), 4, 0.5)).toBe(2.5);
    expect(quantileInPlace(Float64Array.of(4, 1, 3, 2), 4, 1)).toBe(4);
    expect(quantileInPlace(Float64Array.of(4, 1, 3, 2), 4, 0)).toBe(1);
    expect(quantileInPlace(Float64Array.of(10, 0), 2, 0.25)).toBe(2.5);
    expect(quantileInPlace(Float32Array.of(7), 1, 0.3)).toBe(7);
  });

  it('is NaN when a NaN is present (torch sorts it last and moves the rank there) or n = 0', () => {
    expect(quantileInPlace(Float32Array.of(1, Number.NaN, 2), 3, 0.1)).toBeNaN();
    expect(quantileInPlace(Float64Array.of(Number.NaN), 1, 0.5)).toBeNaN();
    expect(quantileInPlace(new Float64Array(0), 0, 0.5)).toBeNaN();
  });

  it('looks only at the first n values', () => {
    const arr = Float64Array.of(3, 1, 2, 100, -100);
    expect(quantileInPlace(arr, 3, 1)).toBe(3);
    expect(arr[3]).toBe(100);
    expect(arr[4]).toBe(-100);
  });
});

describe('selectKth', () => {
  it('puts the k-th smallest at k with smaller-or-equal values before it and larger-or-equal after', () => {
    let seed = 100;
    for (const n of [1, 2, 3, 10, 601, 700, 5000]) {
      for (const make of Object.values(shapes)) {
        const values = make(n, seed++);
        const sorted = ascending(values);
        for (const k of new Set([0, 1, n >> 1, n - 2, n - 1].filter((k) => k >= 0 && k < n))) {
          const arr = Float64Array.from(values);
          expect(selectKth(arr, n, k)).toBe(sorted[k]);
          expect(arr[k]).toBe(sorted[k]);
          for (let i = 0; i < k; i++) if (!(arr[i] <= arr[k])) expect.fail(`n=${n} k=${k}: a[${i}] > a[k]`);
          for (let i = k + 1; i < n; i++)
            if (!(arr[i] >= arr[k])) expect.fail(`n=${n} k=${k}: a[${i}] < a[k]`);
        }
      }
    }
  });
});
