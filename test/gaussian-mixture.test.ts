/**
 * The "table1" question of issue 9 on a problem with a perfect model: does the schedule-derived
 * previous step (`previousTimestepRule: 'schedule'`) with linspace spacing sample the data
 * distribution at least as well as diffusers' stride `t - T // n`?
 *
 * Data: a 2-D Gaussian mixture, whose denoiser E[x0 | x_t] is exact (helpers/gaussian-mixture.ts),
 * so all error is the sampler's. Measure: the energy distance between the deterministic DDIM
 * samples (eta = 0) and the mixture, a metric between distributions with no bandwidth to tune.
 * Both point sets are low-discrepancy lattices (fixed, no seed), so the numbers are converged to
 * ~1e-4 (the same to 3 digits for 1000 or 3000 points, two lattice shifts). Nearest-mode distance
 * and likelihood are not used: they reward samples that collapse onto the modes, and few-step
 * deterministic DDIM already over-concentrates (see the Gaussian test at the end).
 *
 * Result (energy distance, stride / schedule; floor = mixture points themselves: 0.0026):
 *   SD 1.5 betas (scaled_linear, set_alpha_to_one false)  S = 10: 0.1259 / 0.1219   S = 20: 0.0456 / 0.0463
 *   DDPM linear betas (diffusers' defaults)               S = 10: 0.1291 / 0.1514   S = 20: 0.0405 / 0.0591
 * The fix wins only at S = 10 with SD's betas; it is 1.5 % behind at S = 20 there, and clearly
 * behind on linear betas. The tests pin these relations.
 */
import { describe, expect, it } from 'vitest';
import { DDIMScheduler, type PreviousTimestepRule, SCHEDULER_PRESETS, type Tensor } from '../src/index.js';
import {
  energyDistanceTo,
  exactEpsilon,
  gaussianLattice,
  type Mixture,
  mixtureLattice,
} from './helpers/gaussian-mixture.js';

const mixture: Mixture = {
  means: [
    [-0.6, -0.4],
    [0.5, 0.5],
    [0.4, -0.6],
  ],
  weights: [0.5, 0.3, 0.2],
  stds: [0.08, 0.12, 0.05],
};

/** Stable Diffusion 1.5's scheduler config: scaled_linear betas, steps_offset 1, set_alpha_to_one false. */
const SD15 = SCHEDULER_PRESETS.sd.config;
const DDPM_LINEAR = { clip_sample: false } as const; // diffusers' defaults: linear 1e-4 .. 0.02

const N = 1000;
const initialNoise = gaussianLattice(N, 0.37);
const distance = energyDistanceTo(mixtureLattice(mixture, 2000));

function sample(scheduler: DDIMScheduler): Float64Array {
  let x: Tensor = { data: Float64Array.from(initialNoise), dims: [N, 2], type: 'float64' };
  for (const t of scheduler.timesteps) {
    const eps = exactEpsilon(mixture, x.data, scheduler.alphaBarAt(t));
    x = scheduler.step({ data: eps, dims: [N, 2] }, t, x).prevSample;
  }
  return x.data as Float64Array;
}

/** What a table1 row runs: the variant is one scheduler option. */
function linspaceRun(config: object, steps: number, rule: PreviousTimestepRule): number {
  const scheduler = DDIMScheduler.fromConfig(
    config,
    { timestep_spacing: 'linspace' },
    { previousTimestepRule: rule },
  ).setTimesteps(steps);
  return distance(sample(scheduler));
}

describe('DDIM on a 2-D Gaussian mixture with the exact denoiser (energy distance to the mixture)', () => {
  it('the measure: mixture points and a 1000-step DDIM run sit at the floor, 10 steps far above it', () => {
    expect(distance(mixtureLattice(mixture, N))).toBeLessThan(0.005);
    expect(distance(sample(new DDIMScheduler({ ...DDPM_LINEAR }).setTimesteps(1000)))).toBeLessThan(0.01);
    expect(linspaceRun(SD15, 10, 'schedule')).toBeGreaterThan(0.1);
  });

  it('SD 1.5 betas, linspace, S = 10: the schedule-derived previous step is closer than the stride', () => {
    // With the stride every step lands on a noisier level than the next one assumes; the step
    // from 111 lands on 11 and the final step treats that sample as being at 0, leaving
    // sqrt(1 - alpha_bar_11) ~ 0.1 of noise in every sample (SD's betas start at 0.00085): as
    // wide as the mixture's modes.
    const stride = linspaceRun(SD15, 10, 'stride');
    const schedule = linspaceRun(SD15, 10, 'schedule');
    expect(schedule).toBeLessThan(0.99 * stride);
  });

  it('SD 1.5 betas, linspace, S = 20: a near tie, within 3 % (the stride marginally closer)', () => {
    const stride = linspaceRun(SD15, 20, 'stride');
    const schedule = linspaceRun(SD15, 20, 'schedule');
    expect(schedule).toBeGreaterThan(stride);
    expect(schedule).toBeLessThan(1.03 * stride);
  });

  for (const steps of [10, 20]) {
    it(`DDPM linear betas, linspace, S = ${steps}: the stride is closer (reported, not a goal)`, () => {
      // Not every problem favours the fix. Few-step deterministic DDIM contracts the distribution
      // (each step keeps less variance than the target level has; see the Gaussian test below).
      // The stride lands each step on a noisier level than the next step assumes, which re-adds
      // variance and here more than cancels the contraction, while the residual noise at the end
      // is small (linear betas start at 1e-4). The schedule rule is the consistent one: it is
      // what DDIM's eq. 12 prescribes for the chosen timesteps.
      const stride = linspaceRun(DDPM_LINEAR, steps, 'stride');
      const schedule = linspaceRun(DDPM_LINEAR, steps, 'schedule');
      expect(stride).toBeLessThan(0.9 * schedule);
    });
  }
});

/** The exact epsilon for x0 ~ N(mu, s^2) per coordinate, at level a: eps = (x - sqrt(a) E[x0 | x]) / sqrt(1 - a). */
function gaussianEpsilon(mu: number, s: number) {
  return (x: ArrayLike<number>, a: number) =>
    Float64Array.from(x, (v) => {
      const x0 = mu + ((Math.sqrt(a) * s * s) / (a * s * s + 1 - a)) * (v - Math.sqrt(a) * mu);
      return (v - Math.sqrt(a) * x0) / Math.sqrt(1 - a);
    });
}

describe('deterministic DDIM on Gaussian data is affine, with the levels the rule picks', () => {
  // x0 ~ N(mu, s^2) per coordinate. With the exact denoiser a DDIM step from level a (what the
  // model is told) to level a' multiplies deviations by
  //   c(a, a') = (sqrt(a a') s^2 + sqrt((1 - a)(1 - a'))) / (a s^2 + 1 - a),
  // so the whole run scales x_T - E[x_T] by the product of c over the (a, a') pairs the rule uses.
  const mu = 0.3;
  const s = 0.2;
  const gaussianEps = gaussianEpsilon(mu, s);
  const c = (a: number, ap: number) =>
    (Math.sqrt(a * ap) * s * s + Math.sqrt((1 - a) * (1 - ap))) / (a * s * s + 1 - a);

  for (const rule of ['stride', 'schedule'] as const) {
    it(`linspace, T = 1000, n = 10, rule ${rule}`, () => {
      const scheduler = DDIMScheduler.fromConfig(
        SD15,
        { timestep_spacing: 'linspace' },
        { previousTimestepRule: rule },
      ).setTimesteps(10);
      const ts = Array.from(scheduler.timesteps);
      expect(ts).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
      const ab = scheduler.alphasCumprod;
      let expected = 1;
      ts.forEach((t, i) => {
        // The levels, written out: stride t - 100 (past the end below 0), schedule the next element.
        const prev = rule === 'stride' ? t - 100 : i + 1 < ts.length ? ts[i + 1] : -1;
        expected *= c(ab[t], prev >= 0 ? ab[prev] : ab[0]); // set_alpha_to_one false: final = ab[0]
      });
      let x: Tensor = { data: Float64Array.of(-1, 2), dims: [2], type: 'float64' };
      for (const t of scheduler.timesteps) {
        x = scheduler.step({ data: gaussianEps(x.data, ab[t]), dims: [2] }, t, x).prevSample;
      }
      const gain = (x.data[1] - x.data[0]) / 3;
      // (the closed form in float64; the step's scalars are float32, as diffusers' 0-dim tensors)
      expect(Math.abs(gain - expected)).toBeLessThan(1e-7);
      if (rule === 'schedule') {
        // Cauchy-Schwarz: c(a, a')^2 <= v(a') / v(a) with v(a) = a s^2 + 1 - a, equality only
        // for a = a', so the gain is below s / sqrt(v(alpha_bar_999)) ~ s: few-step DDIM
        // under-disperses even with a perfect model.
        expect(gain).toBeLessThan(s);
      }
    });
  }
});

describe('on Gaussian data the stride lands closer to the all-timesteps run, per sample (why table1 ranks it first)', () => {
  // Deterministic DDIM with S steps approximates the run over all T training timesteps from the
  // same x_T (the endpoint table1's last column measures against). For x0 ~ N(0, s^2) every run is
  // x_T -> gain * x_T, so "closer per sample" is |gain_S - gain_T| for every x_T at once, and
  // with DDPM's linear betas it holds for the stride at every data width. Each factor c(a, a') above
  // is sqrt(v(a') / v(a)) times the cosine of the angle between (sqrt(a) s, sqrt(1 - a)) and
  // (sqrt(a') s, sqrt(1 - a')). With the schedule rule the spread ratios telescope to the right
  // total and the cosines contract; the stride's steps are shorter (100 timesteps, not linspace's
  // 111), so its cosines contract less, and its ratios overshoot (each step keeps the spread of
  // t - 100 while the next starts at t - 111), adding spread back. This is the closed-form reason the issue-9
  // criterion "schedule-derived at least as good as the stride at S = 10, 20" fails on table1's
  // problem; it is measured, and stays reported.
  const gainOf = (scheduler: DDIMScheduler, s: number): number => {
    const eps = gaussianEpsilon(0, s);
    let x: Tensor = { data: Float64Array.of(1), dims: [1], type: 'float64' };
    const ab = scheduler.alphasCumprod;
    for (const t of scheduler.timesteps) {
      x = scheduler.step({ data: eps(x.data, ab[t]), dims: [1] }, t, x).prevSample;
    }
    return x.data[0];
  };
  const linspace = (steps: number, rule: PreviousTimestepRule) =>
    DDIMScheduler.fromConfig(
      DDPM_LINEAR,
      { timestep_spacing: 'linspace' },
      { previousTimestepRule: rule },
    ).setTimesteps(steps);

  for (const s of [0.1, 0.2, 0.5, 1]) {
    it(`s = ${s}`, () => {
      const full = gainOf(linspace(1000, 'schedule'), s);
      // The all-timesteps run keeps the width (within 2 %): it is the target, not another estimate.
      expect(Math.abs(full - s)).toBeLessThan(0.02 * s);
      expect(gainOf(linspace(1000, 'stride'), s)).toBe(full);
      for (const steps of [10, 20]) {
        const stride = gainOf(linspace(steps, 'stride'), s);
        const schedule = gainOf(linspace(steps, 'schedule'), s);
        // Both contract (few-step DDIM under-disperses), the schedule rule more.
        expect(schedule).toBeLessThan(stride);
        expect(stride).toBeLessThan(full);
      }
    });
  }

  it('s = 0.2, S = 10: the gains, in closed form (0.0979 and 0.1507 against 0.1985)', () => {
    // Independent of this package: numpy in float64, b = linspace(1e-4, 0.02, 1000),
    // a = cumprod(1 - b), the product of c(a_t, a_prev) over each rule's pairs (final alpha 1).
    // The step's float32 scalars move these in the 5th digit.
    expect(gainOf(linspace(10, 'schedule'), 0.2)).toBeCloseTo(0.0979, 3);
    expect(gainOf(linspace(10, 'stride'), 0.2)).toBeCloseTo(0.1507, 3);
    expect(gainOf(linspace(1000, 'schedule'), 0.2)).toBeCloseTo(0.1985, 3);
  });
});
