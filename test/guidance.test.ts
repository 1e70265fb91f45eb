import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  classifierFreeGuidance,
  numberToFloat16,
  rescaleNoiseCfg,
  ShapeError,
  type Tensor,
} from '../src/index.js';
import { batchStd } from '../src/sampling/guidance.js';
import { float16Table } from '../src/tensor/dtype.js';
import { expectClose, f32, loadFixture } from './helpers/fixtures.js';

interface GuidanceCase {
  guidance_scale: number;
  guidance_rescale: number;
  shape: number[];
  noise_pred_uncond: number[];
  noise_pred_text: number[];
  noise_pred: number[];
  tol: number;
}

const t32 = (values: readonly number[], dims: number[]): Tensor => ({
  data: f32(values),
  dims,
  type: 'float32',
});

describe('guidance.json (diffusers: cfg, then rescale_noise_cfg when guidance_rescale > 0)', () => {
  const { cases } = loadFixture<GuidanceCase>('guidance.json');
  it('has cases, with and without rescale', () => {
    expect(cases.length).toBeGreaterThan(0);
    expect(cases.some((c) => c.guidance_rescale > 0)).toBe(true);
    expect(cases.some((c) => c.guidance_rescale === 0)).toBe(true);
  });
  for (const c of cases) {
    it(`scale ${c.guidance_scale}, rescale ${c.guidance_rescale}, shape [${c.shape}]`, () => {
      const uncond = t32(c.noise_pred_uncond, c.shape);
      const text = t32(c.noise_pred_text, c.shape);
      // The pipeline's order: guidance, then rescale only if guidance_rescale > 0.
      let pred = classifierFreeGuidance(uncond, text, c.guidance_scale);
      if (c.guidance_rescale > 0) pred = rescaleNoiseCfg(pred, text, c.guidance_rescale);
      expect(pred.dims).toEqual(c.shape);
      expect(pred.type).toBe('float32');
      expectClose(pred.data, c.noise_pred, c.tol, 'noise_pred');
      // In place through `out`, as the loop does it: same numbers.
      const buf = t32(new Array(c.noise_pred.length).fill(0), c.shape);
      classifierFreeGuidance(uncond, text, c.guidance_scale, buf);
      if (c.guidance_rescale > 0) rescaleNoiseCfg(buf, text, c.guidance_rescale, buf);
      expectClose(buf.data, c.noise_pred, c.tol, 'noise_pred (in place)');
    });
  }
});

describe('classifierFreeGuidance', () => {
  it('is uncond + scale * (text - uncond) elementwise', () => {
    const u = t32([1, 2, -3, 0.5], [2, 2]);
    const t = t32([2, 0, -1, 0.5], [2, 2]);
    expect(Array.from(classifierFreeGuidance(u, t, 3).data)).toEqual([4, -4, 3, 0.5]);
    // scale 1 is the text prediction, scale 0 the unconditional one.
    expect(Array.from(classifierFreeGuidance(u, t, 1).data)).toEqual([2, 0, -1, 0.5]);
    expect(Array.from(classifierFreeGuidance(u, t, 0).data)).toEqual([1, 2, -3, 0.5]);
  });

  it("returns the first argument's dtype, reading float16 and float64", () => {
    const bits = Uint16Array.from([1, 2, -3, 0.5].map(numberToFloat16));
    const u = { data: bits, dims: [4], type: 'float16' };
    const t = { data: Float64Array.from([2, 0, -1, 0.5]), dims: [4] };
    const r = classifierFreeGuidance(u, t, 3);
    expect(r.type).toBe('float16');
    expect(Array.from(r.data as Uint16Array, (h) => float16Table()[h])).toEqual([4, -4, 3, 0.5]);
    const r64 = classifierFreeGuidance(t, u, 2);
    expect(r64.type).toBe('float64');
    expect(Array.from(r64.data)).toEqual([0, 4, -5, 0.5]);
  });

  it('rejects mismatched shapes, bad scales and bad out buffers with typed errors', () => {
    const u = t32([1, 2, 3, 4], [2, 2]);
    expect(() => classifierFreeGuidance(u, t32([1, 2, 3, 4], [4]), 2)).toThrow(ShapeError);
    expect(() => classifierFreeGuidance(u, u, Number.NaN)).toThrow(ArgumentError);
    expect(() => classifierFreeGuidance(u, u, 2, t32([0, 0], [2]))).toThrow(ShapeError);
    expect(() =>
      classifierFreeGuidance(u, u, 2, { data: new Float64Array(4), dims: [2, 2], type: 'float64' }),
    ).toThrow(ArgumentError);
  });
});

describe('rescaleNoiseCfg', () => {
  it('uses the unbiased std over all axes but the batch, per batch element', () => {
    // Batch element 0: cfg values 0, 2 (std sqrt(2)), text values 0, 4 (std 2*sqrt(2)): ratio 2.
    // Batch element 1: cfg 1, 3, 5, 7 over dims [2, 2]; text 0, 0, 0, 8 -> stds by hand.
    const cfg = t32([0, 2, 0, 0, 1, 3, 5, 7], [2, 2, 2]);
    const text = t32([0, 4, 0, 0, 0, 0, 0, 8], [2, 2, 2]);
    const std = batchStd(cfg);
    // element 0: values 0,2,0,0: mean 0.5, squares 0.25+2.25+0.25+0.25 = 3 -> sqrt(3/3) = 1
    expect(std[0]).toBeCloseTo(1, 14);
    // element 1: 1,3,5,7: mean 4, squares 9+1+1+9 = 20 -> sqrt(20/3)
    expect(std[1]).toBeCloseTo(Math.sqrt(20 / 3), 14);
    const stdText = batchStd(text);
    expect(stdText[0]).toBeCloseTo(Math.sqrt((1 + 9 + 1 + 1) / 3), 14);
    expect(stdText[1]).toBeCloseTo(Math.sqrt((4 + 4 + 4 + 36) / 3), 14);
    const phi = 0.7;
    const r = rescaleNoiseCfg(cfg, text, phi);
    for (let b = 0; b < 2; b++) {
      const factor = phi * (stdText[b] / std[b]) + (1 - phi);
      for (let k = 0; k < 4; k++) {
        expect(r.data[b * 4 + k]).toBeCloseTo(Math.fround(cfg.data[b * 4 + k] * factor), 6);
      }
    }
    // phi = 1: the result has the text prediction's std exactly.
    const full = rescaleNoiseCfg(cfg, text, 1);
    const stdFull = batchStd(full);
    expect(stdFull[0]).toBeCloseTo(stdText[0], 6);
    expect(stdFull[1]).toBeCloseTo(stdText[1], 6);
    // phi = 0: unchanged.
    expect(Array.from(rescaleNoiseCfg(cfg, text, 0).data)).toEqual(Array.from(cfg.data));
  });

  it('leaves a constant (std 0) batch element unchanged instead of producing NaN', () => {
    const cfg = t32([3, 3, 3, 1, 2, 4], [2, 3]);
    const text = t32([1, 2, 3, 1, 2, 4], [2, 3]);
    const r = rescaleNoiseCfg(cfg, text, 0.5);
    expect(Array.from(r.data.subarray(0, 3))).toEqual([3, 3, 3]);
    // The second element has equal stds: factor 1.
    expect(Array.from(r.data.subarray(3))).toEqual([1, 2, 4]);
    expect(r.data.every(Number.isFinite)).toBe(true);
  });

  it('rejects mismatched shapes and non-finite rescale values', () => {
    const a = t32([1, 2, 3, 4], [2, 2]);
    expect(() => rescaleNoiseCfg(a, t32([1, 2, 3, 4], [1, 4]), 0.7)).toThrow(ShapeError);
    expect(() => rescaleNoiseCfg(a, a, Number.POSITIVE_INFINITY)).toThrow(ArgumentError);
  });
});
