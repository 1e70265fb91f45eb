import { describe, expect, it } from 'vitest';
import { ConfigError, DDIMInverseScheduler, DDIMScheduler, type Tensor } from '../src/index.js';
import { clampZeroTerminalAlphaBar, ZERO_SNR_ALPHA_BAR } from '../src/scheduler/schedule.js';
import { f32 } from './helpers/fixtures.js';
import { toyLoop as loop, REF_DIMS, refModel, refSample } from './helpers/models.js';

const dims = REF_DIMS;
const sample = refSample;
const model = refModel;
const zeroSnr = { rescale_betas_zero_snr: true, clip_sample: false } as const;

describe('zero terminal SNR with prediction_type "epsilon" (diffusers #3851)', () => {
  it('alpha_bar[T - 1] is exactly 0 after the rescale', () => {
    expect(new DDIMScheduler(zeroSnr).alphasCumprod[999]).toBe(0);
  });

  for (const spacing of ['trailing', 'linspace'] as const) {
    it(`${spacing} spacing schedules T - 1: a ConfigError at setTimesteps naming both fixes, scheduler unchanged`, () => {
      const s = new DDIMScheduler({ ...zeroSnr, timestep_spacing: spacing });
      expect(() => s.setTimesteps(10)).toThrow(ConfigError);
      expect(() => s.setTimesteps(10)).toThrow(
        /prediction_type cannot step from timestep 999: alpha_bar is 0/,
      );
      expect(() => s.setTimesteps(10)).toThrow(/v_prediction/);
      expect(() => s.setTimesteps(10)).toThrow(/clampZeroTerminalSnr: true/);
      expect(() => s.setTimesteps(10)).toThrow(/#3851/);
      expect(s.numInferenceSteps).toBeNull();
    });
  }

  it('custom timesteps containing T - 1 are refused the same way', () => {
    const s = new DDIMScheduler(zeroSnr).setTimesteps(10);
    expect(() => s.setTimesteps({ timesteps: [999, 500, 0] })).toThrow(ConfigError);
    expect(s.numInferenceSteps).toBe(10);
    s.setTimesteps({ timesteps: [998, 500, 0] });
    expect(s.numInferenceSteps).toBe(3);
  });

  it('leading spacing with 10 steps does not schedule T - 1, so it works as in diffusers; a direct step at 999 is refused', () => {
    const s = new DDIMScheduler(zeroSnr).setTimesteps(10);
    expect(s.timesteps[0]).toBe(900);
    const x = loop(s, sample);
    for (const v of x.data) expect(Number.isFinite(v)).toBe(true);
    expect(() => s.step(model, 999, sample)).toThrow(ConfigError);
  });

  it('leading spacing in the corners where it does schedule T - 1 is refused like the others', () => {
    // n = T with steps_offset 0: arange(0, T) * 1 reversed starts at 999.
    const full = new DDIMScheduler({ ...zeroSnr, steps_offset: 0 });
    expect(() => full.setTimesteps(1000)).toThrow(ConfigError);
    expect(full.numInferenceSteps).toBeNull();
    // T = 10, n = 5, steps_offset 1: arange(0, 5) * 2 + 1 = [9, 7, 5, 3, 1].
    const small = new DDIMScheduler({ ...zeroSnr, num_train_timesteps: 10, steps_offset: 1 });
    expect(() => small.setTimesteps(5)).toThrow(/timestep 9/);
  });

  it("clampZeroTerminalSnr sets alpha_bar[T - 1] to 2^-24 (as diffusers' Euler scheduler) and the step is finite", () => {
    expect(ZERO_SNR_ALPHA_BAR).toBe(1 / 16777216);
    const s = new DDIMScheduler({ ...zeroSnr, timestep_spacing: 'trailing' }, { clampZeroTerminalSnr: true });
    expect(s.alphasCumprod[999]).toBe(2 ** -24);
    // Only that value moves: betas and every other alpha_bar are the rescaled ones.
    const plain = new DDIMScheduler(zeroSnr);
    expect(Array.from(s.alphasCumprod.slice(0, 999))).toEqual(Array.from(plain.alphasCumprod.slice(0, 999)));
    expect(Array.from(s.betas)).toEqual(Array.from(plain.betas));
    s.setTimesteps(10);
    expect(s.timesteps[0]).toBe(999);
    const a = 2 ** -24;
    const aPrev = s.alphasCumprod[899];
    const want = Array.from(sample.data, (v, i) => {
      const x0 = (v - Math.sqrt(1 - a) * model.data[i]) / Math.sqrt(a);
      return Math.fround(Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * model.data[i]);
    });
    const got = s.step(model, 999, sample).prevSample.data;
    for (let i = 0; i < want.length; i++) {
      expect(Number.isFinite(got[i])).toBe(true);
      expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(want[i])));
    }
    const x = loop(s, sample);
    for (const v of x.data) expect(Number.isFinite(v)).toBe(true);
  });

  it('the clamp also reaches addNoise, and does nothing to a schedule whose terminal SNR is not 0', () => {
    const s = new DDIMScheduler(zeroSnr, { clampZeroTerminalSnr: true });
    const x0: Tensor = { data: f32([1, 1]), dims: [2], type: 'float32' };
    const noise: Tensor = { data: f32([0, 0]), dims: [2], type: 'float32' };
    expect(s.addNoise(x0, noise, 999).data[0]).toBeCloseTo(2 ** -12, 10);
    const regular = new DDIMScheduler({}, { clampZeroTerminalSnr: true });
    expect(Array.from(regular.alphasCumprod)).toEqual(Array.from(new DDIMScheduler().alphasCumprod));
    const fn = clampZeroTerminalAlphaBar(Float64Array.of(0.9, 0.5, 0));
    expect(Array.from(fn)).toEqual([0.9, 0.5, 2 ** -24]);
    expect(Array.from(clampZeroTerminalAlphaBar(Float64Array.of(0.9, 0.1)))).toEqual([0.9, 0.1]);
  });

  it('the inverse scheduler takes the option too (same alphas as the sampler it pairs with)', () => {
    const s = new DDIMInverseScheduler(
      { ...zeroSnr, timestep_spacing: 'trailing' },
      { clampZeroTerminalSnr: true },
    ).setTimesteps(10);
    expect(s.alphasCumprod[999]).toBe(2 ** -24);
    // Inversion divides by the level it starts from, never T - 1: epsilon works without the clamp too.
    const plain = new DDIMInverseScheduler({ ...zeroSnr, timestep_spacing: 'trailing' }).setTimesteps(10);
    const x = loop(plain, sample);
    for (const v of x.data) expect(Number.isFinite(v)).toBe(true);
  });
});

describe('at alpha_bar = 0, "v_prediction" and "sample" stay finite (no error, no clamp needed)', () => {
  // At a = 0: v_prediction gives x0 = sqrt(a) x - sqrt(1 - a) v = -v and eps = sqrt(a) v + sqrt(1 - a) x = x;
  // sample prediction gives x0 = m and eps = (x - sqrt(a) x0) / sqrt(1 - a) = x.
  const aPrevOf = (s: DDIMScheduler) => s.alphasCumprod[899];
  const expectStep = (got: ArrayLike<number>, x0: (i: number) => number, aPrev: number) => {
    for (let i = 0; i < got.length; i++) {
      const want = Math.sqrt(aPrev) * x0(i) + Math.sqrt(1 - aPrev) * sample.data[i];
      expect(Number.isFinite(got[i])).toBe(true);
      expect(Math.abs(got[i] - want)).toBeLessThanOrEqual(1e-6);
    }
  };

  it('v_prediction, trailing', () => {
    const s = new DDIMScheduler({
      ...zeroSnr,
      timestep_spacing: 'trailing',
      prediction_type: 'v_prediction',
    });
    s.setTimesteps(10);
    const out = s.step(model, 999, sample);
    expectStep(out.prevSample.data, (i) => -model.data[i], aPrevOf(s));
    const x = loop(s, sample);
    for (const v of x.data) expect(Number.isFinite(v)).toBe(true);
  });

  for (const useClippedModelOutput of [false, true]) {
    it(`sample prediction with clip_sample, useClippedModelOutput ${useClippedModelOutput}`, () => {
      const s = new DDIMScheduler({
        rescale_betas_zero_snr: true,
        timestep_spacing: 'trailing',
        prediction_type: 'sample',
        clip_sample: true,
        clip_sample_range: 0.5,
      }).setTimesteps(10);
      const clip = (v: number) => Math.min(0.5, Math.max(-0.5, v));
      const out = s.step(model, 999, sample, { useClippedModelOutput });
      // eps = (x - sqrt(0) x0) / 1 = x whether x0 is clipped or not.
      expectStep(out.prevSample.data, (i) => clip(model.data[i]), aPrevOf(s));
    });
  }

  it('eta = 1 at the zero-SNR step stays finite (the sqrt(1 - a_prev - sigma^2) clamp)', () => {
    const s = new DDIMScheduler({
      ...zeroSnr,
      timestep_spacing: 'trailing',
      prediction_type: 'v_prediction',
    });
    s.setTimesteps(10);
    const noise: Tensor = { data: f32([0.3, -0.2, 0.1, 0.7, -1.1, 0.4]), dims, type: 'float32' };
    const out = s.step(model, 999, sample, { eta: 1, varianceNoise: noise });
    for (const v of out.prevSample.data) expect(Number.isFinite(v)).toBe(true);
  });
});
