import { describe, expect, it } from 'vitest';
import { SHAPE_KINDS, shapesDataset } from '../src/exact/datasets.js';
import { ArgumentError } from '../src/index.js';

function meanBrightness(data: Float32Array, index: number, per: number): number {
  let s = 0;
  for (let j = 0; j < per; j++) s += data[index * per + j];
  return (s / per + 1) / 2;
}

describe('shapesDataset', () => {
  const set = shapesDataset();
  const per = 3 * 32 * 32;

  it('is [48, 3, 32, 32] float32 in [-1, 1] by default, with every shape kind', () => {
    expect(set.images.dims).toEqual([48, 3, 32, 32]);
    expect(set.images.type).toBe('float32');
    expect(set.images.data.length).toBe(48 * per);
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const v of set.images.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect(lo).toBeGreaterThanOrEqual(-1);
    expect(hi).toBeLessThanOrEqual(1);
    expect(new Set(set.kinds)).toEqual(new Set(SHAPE_KINDS));
  });

  it('is deterministic, bit for bit', () => {
    const again = shapesDataset();
    expect(Buffer.from(again.images.data.buffer).equals(Buffer.from(set.images.data.buffer))).toBe(true);
    // A prefix of a larger set is the smaller set: image i depends only on i.
    const more = shapesDataset({ count: 60 });
    expect(
      Buffer.from(more.images.data.buffer, 0, 48 * per * 4).equals(Buffer.from(set.images.data.buffer)),
    ).toBe(true);
  });

  it('spans near-black to near-white mean brightness', () => {
    const b = Array.from({ length: 48 }, (_, i) => meanBrightness(set.images.data, i, per));
    expect(Math.min(...b)).toBeLessThan(0.12);
    expect(Math.max(...b)).toBeGreaterThan(0.88);
    // and spreads in between: every fifth of the range holds at least three images.
    for (let k = 0; k < 5; k++) {
      const lo = 0.1 + 0.16 * k;
      expect(b.filter((v) => v >= lo && v < lo + 0.16).length).toBeGreaterThanOrEqual(3);
    }
  });

  it('draws distinct images with visible shapes', () => {
    for (let i = 0; i < 48; i++) {
      // Every image has both a background and a shape: its pixel values are not all alike.
      let lo = 1;
      let hi = -1;
      for (let j = 0; j < per; j++) {
        lo = Math.min(lo, set.images.data[i * per + j]);
        hi = Math.max(hi, set.images.data[i * per + j]);
      }
      expect(hi - lo).toBeGreaterThan(0.15);
      for (let k = 0; k < i; k++) {
        let d = 0;
        for (let j = 0; j < per; j++) d += (set.images.data[i * per + j] - set.images.data[k * per + j]) ** 2;
        expect(Math.sqrt(d / per)).toBeGreaterThan(0.05);
      }
    }
  });

  it('takes a size and a count, and refuses bad ones', () => {
    expect(shapesDataset({ size: 8, count: 3 }).images.dims).toEqual([3, 3, 8, 8]);
    expect(() => shapesDataset({ size: 2 })).toThrow(ArgumentError);
    expect(() => shapesDataset({ count: 0 })).toThrow(/count/);
    expect(() => shapesDataset({ size: 16.5 })).toThrow(/integer/);
  });
});
