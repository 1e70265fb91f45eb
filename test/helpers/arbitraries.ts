/**
 * fast-check arbitraries for scheduler configs and tensors, shared by the property tests
 * (valid inputs) and the fuzz tests (invalid ones).
 *
 * Every run uses a fixed seed (FC_SEED in the environment overrides it) so failures reproduce;
 * fast-check prints the seed and the shrunk counterexample when a property fails.
 */
import fc from 'fast-check';
import type { DDIMConfig, PreviousTimestepRule, TimestepSpacing } from '../../src/index.js';

export const SEED = Number(process.env.FC_SEED ?? 20_251_010);

/** fc.assert parameters: the fixed seed, and `numRuns` runs. */
export function runs(numRuns: number): fc.Parameters<unknown> {
  return { seed: SEED, numRuns, endOnFailure: false };
}

/** A double in [min, max] (no NaN, no infinities). */
export function real(min: number, max: number): fc.Arbitrary<number> {
  return fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
}

/**
 * Valid configs in realistic ranges: every field, every schedule (trained_betas included),
 * prediction type and spacing, clip and threshold settings, zero terminal SNR. Betas stay in
 * [1e-5, 0.05] so that alpha_bar is far from underflow for T <= 2000 (the sum of betas is at
 * most 100: alpha_bar >= e^-103 > 1e-45).
 */
export const validConfig: fc.Arbitrary<DDIMConfig> = fc
  .record({
    T: fc.integer({ min: 2, max: 2000 }),
    schedule: fc.constantFrom('linear', 'scaled_linear', 'squaredcos_cap_v2', 'trained'),
    betaStart: real(1e-5, 0.005),
    betaSpan: real(0, 0.045),
    trainedSeed: fc.array(real(1e-5, 0.05), { minLength: 1, maxLength: 16 }),
    clip_sample: fc.boolean(),
    set_alpha_to_one: fc.boolean(),
    offsetFraction: real(0, 1),
    prediction_type: fc.constantFrom('epsilon', 'sample', 'v_prediction'),
    thresholding: fc.boolean(),
    dynamic_thresholding_ratio: real(0.5, 1),
    clip_sample_range: real(0.5, 10),
    sample_max_value: real(0.5, 10),
    timestep_spacing: fc.constantFrom('leading', 'trailing', 'linspace'),
    rescale_betas_zero_snr: fc.boolean(),
  })
  .map((r): DDIMConfig => {
    const trained =
      r.schedule === 'trained'
        ? Array.from({ length: r.T }, (_, i) => r.trainedSeed[i % r.trainedSeed.length])
        : null;
    return {
      num_train_timesteps: r.T,
      beta_start: r.betaStart,
      beta_end: r.betaStart + r.betaSpan,
      beta_schedule: r.schedule === 'trained' ? 'linear' : r.schedule,
      trained_betas: trained,
      clip_sample: r.clip_sample,
      set_alpha_to_one: r.set_alpha_to_one,
      // Mostly 0 or 1 (the real configs), sometimes anywhere below T.
      steps_offset:
        r.offsetFraction < 0.4
          ? 0
          : r.offsetFraction < 0.7
            ? 1
            : Math.min(r.T - 1, Math.floor(r.offsetFraction * r.T)),
      prediction_type: r.prediction_type,
      thresholding: r.thresholding,
      dynamic_thresholding_ratio: r.dynamic_thresholding_ratio,
      clip_sample_range: r.clip_sample_range,
      sample_max_value: r.sample_max_value,
      timestep_spacing: r.timestep_spacing as TimestepSpacing,
      rescale_betas_zero_snr: r.rescale_betas_zero_snr,
    };
  });

export const ruleArb: fc.Arbitrary<PreviousTimestepRule> = fc.constantFrom('stride', 'schedule');

/** The fields DDIMInverseScheduler takes (no thresholding; spacing leading or trailing). */
export function inverseConfigOf(c: DDIMConfig): Record<string, unknown> {
  return {
    num_train_timesteps: c.num_train_timesteps,
    beta_start: c.beta_start,
    beta_end: c.beta_end,
    beta_schedule: c.beta_schedule,
    trained_betas: c.trained_betas,
    clip_sample: c.clip_sample,
    set_alpha_to_one: c.set_alpha_to_one,
    steps_offset: c.steps_offset,
    prediction_type: c.prediction_type,
    clip_sample_range: c.clip_sample_range,
    timestep_spacing: c.timestep_spacing === 'linspace' ? 'trailing' : c.timestep_spacing,
    rescale_betas_zero_snr: c.rescale_betas_zero_snr,
  };
}

/** Tensor values: a flat list of `size` reals in [-bound, bound]. */
export function values(size: number, bound: number): fc.Arbitrary<number[]> {
  return fc.array(real(-bound, bound), { minLength: size, maxLength: size });
}
