import { describe, expect, it } from 'vitest';
import { nearestNeighbours } from '../src/exact/nearest.js';
import { ShapeError } from '../src/index.js';

describe('nearestNeighbours', () => {
  it('finds each sample its nearest dataset item and the RMS distance to it', () => {
    const dataset = { data: Float32Array.of(0, 0, 1, 1, -1, 2), dims: [3, 2] };
    const samples = { data: Float64Array.of(0.9, 1.2, -1, 2, 0.1, -0.1), dims: [3, 2] };
    const { index, rms } = nearestNeighbours(samples, dataset);
    expect(Array.from(index)).toEqual([1, 2, 0]);
    expect(rms[0]).toBeCloseTo(Math.sqrt((0.01 + 0.04) / 2), 12);
    expect(rms[1]).toBe(0);
    expect(rms[2]).toBeCloseTo(0.1, 12);
  });

  it('agrees with a brute-force search on random images', () => {
    let s = 1;
    const rand = () => {
      s = (s * 48271) % 2147483647;
      return s / 2147483647 - 0.5;
    };
    const dataset = { data: Float32Array.from({ length: 20 * 12 }, rand), dims: [20, 3, 2, 2] };
    const samples = { data: Float32Array.from({ length: 7 * 12 }, rand), dims: [7, 3, 2, 2] };
    const { index, rms } = nearestNeighbours(samples, dataset);
    for (let i = 0; i < 7; i++) {
      const dists = Array.from({ length: 20 }, (_, j) => {
        let d = 0;
        for (let k = 0; k < 12; k++) d += (samples.data[i * 12 + k] - dataset.data[j * 12 + k]) ** 2;
        return Math.sqrt(d / 12);
      });
      const best = Math.min(...dists);
      expect(index[i]).toBe(dists.indexOf(best));
      expect(rms[i]).toBeCloseTo(best, 6);
    }
  });

  it('refuses mismatched item shapes', () => {
    const a = { data: new Float32Array(8), dims: [2, 4] };
    const b = { data: new Float32Array(9), dims: [3, 3] };
    expect(() => nearestNeighbours(a, b)).toThrow(ShapeError);
    expect(() =>
      nearestNeighbours(
        { data: new Float32Array(8), dims: [2, 2, 2] },
        { data: new Float32Array(8), dims: [2, 4] },
      ),
    ).toThrow(/items shaped/);
  });
});
