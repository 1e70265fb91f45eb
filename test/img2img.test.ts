import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  DDIMScheduler,
  img2imgTimesteps,
  noiseInitLatents,
  type Tensor,
} from '../src/index.js';
import { img2imgStartIndex } from '../src/sampling/img2img.js';
import { type Img2ImgCase, loadFixture } from './helpers/fixtures.js';

describe('img2img_timesteps.json (diffusers get_timesteps)', () => {
  const { cases } = loadFixture<Img2ImgCase>('img2img_timesteps.json');
  it('has cases, including one with zero kept steps', () => {
    expect(cases.length).toBeGreaterThan(0);
    expect(cases.some((c) => c.timesteps.length === 0)).toBe(true);
  });
  for (const c of cases) {
    it(`${c.config_name} n=${c.num_inference_steps} strength=${c.strength}`, () => {
      const s = new DDIMScheduler(c.config);
      const kept = img2imgTimesteps(s, c.num_inference_steps, c.strength);
      expect(Array.from(kept)).toEqual(c.timesteps);
      // It set the scheduler's timesteps, and kept a tail of them.
      expect(s.numInferenceSteps).toBe(c.num_inference_steps);
      const all = Array.from(s.timesteps);
      expect(all.slice(all.length - kept.length)).toEqual(c.timesteps);
    });
  }
});

describe('img2imgStartIndex', () => {
  it('follows int(n * strength) truncation', () => {
    // 50 * 0.55 = 27.500000000000004 -> 27 kept, start 23
    expect(img2imgStartIndex(50, 0.55)).toBe(23);
    expect(img2imgStartIndex(10, 1)).toBe(0);
    expect(img2imgStartIndex(10, 0)).toBe(10);
    // 3 * 0.7 = 2.0999999999999996 -> 2 kept
    expect(img2imgStartIndex(3, 0.7)).toBe(1);
    // order multiplies the start (multistep schedulers)
    expect(img2imgStartIndex(10, 0.5, 2)).toBe(10);
  });

  it('rejects strength outside [0, 1] (diffusers raises ValueError) without touching the scheduler', () => {
    const s = new DDIMScheduler();
    for (const bad of [-0.1, 1.01, Number.NaN, '0.5' as unknown as number]) {
      expect(() => img2imgTimesteps(s, 10, bad)).toThrow(ArgumentError);
    }
    expect(s.numInferenceSteps).toBeNull();
  });
});

describe('noiseInitLatents (diffusers prepare_latents: add_noise at the first kept timestep)', () => {
  it('is sqrt(a_t) x0 + sqrt(1 - a_t) noise at timesteps[0]', () => {
    const { cases } = loadFixture<Img2ImgCase>('img2img_timesteps.json');
    const c = cases.find((k) => k.config_name === 'sd15' && k.strength === 0.8)!;
    const s = new DDIMScheduler(c.config);
    const kept = img2imgTimesteps(s, c.num_inference_steps, c.strength);
    const t = kept[0];
    expect(t).toBe(c.timesteps[0]);
    // alpha_bar for SD's scaled_linear schedule, computed here independently in float64.
    const T = 1000;
    const lo = Math.sqrt(0.00085);
    const hi = Math.sqrt(0.012);
    let a = 1;
    for (let i = 0; i <= t; i++) {
      const b = (lo + ((hi - lo) * i) / (T - 1)) ** 2;
      a *= 1 - b;
    }
    const x0: Tensor = { data: Float32Array.from([0.5, -1, 2, 0, 1, 1]), dims: [2, 3], type: 'float32' };
    const noise: Tensor = {
      data: Float32Array.from([1, 0, -1, 2, 0.5, -0.5]),
      dims: [2, 3],
      type: 'float32',
    };
    const got = noiseInitLatents(s, x0, noise, t);
    expect(got.dims).toEqual([2, 3]);
    for (let i = 0; i < 6; i++) {
      expect(got.data[i]).toBeCloseTo(Math.sqrt(a) * x0.data[i] + Math.sqrt(1 - a) * noise.data[i], 5);
    }
  });
});
