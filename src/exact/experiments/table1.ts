/**
 * The DDIM paper's Table 1 (Song et al. 2021: sample quality against the number of steps S and
 * eta), asked of an exact denoiser for a 2-D Gaussian mixture instead of a trained network. With
 * the exact posterior mean, what remains is the sampler's own error; the distance to the true
 * mixture is the unbiased kernel MMD^2 with the mixture's side in closed form (src/exact/mmd.ts), and
 * every figure is reported beside its noise floor: the spread of the same statistic for N exact
 * draws from the mixture, whose mean is 0.
 */

import { ArgumentError } from '../../errors.js';
import { Generator } from '../../noise/generator.js';
import { sample } from '../../sampling/loop.js';
import type { DDIMConfig } from '../../scheduler/config.js';
import { DDIMScheduler } from '../../scheduler/ddim.js';
import { PREVIOUS_TIMESTEP_RULES, type PreviousTimestepRule } from '../../scheduler/previous-timestep.js';
import { circleMixture, mmdNullStd, mmdToMixture } from '../mmd.js';
import { type GaussianMixture, gaussianMixtureDenoiser } from '../models.js';

/** Options of {@link runTable1}. */
export interface Table1Options {
  /** Points sampled per cell (N). Default 2000. */
  samples?: number;
  /** Numbers of steps S. Default [10, 20, 50, 100, 1000]. */
  steps?: number[];
  /** etas. Default [0, 0.2, 0.5, 1]. */
  etas?: number[];
  /** Seed of the generator; every cell starts from the same x_T. Default 0. */
  seed?: number;
  /** The mixture. Default 8 modes on the unit circle, standard deviation 0.2. */
  mixture?: GaussianMixture;
  /** RBF kernel width. Default 0.3 (resolves the modes: about 1.5 mode standard deviations). */
  bandwidth?: number;
  /** The scheduler config. Default DDPM's linear betas as in the DDIM paper, no clipping. */
  config?: Partial<DDIMConfig>;
  /**
   * Steps S for the previous-step rows (issue 9): linspace spacing with diffusers' stride t - T // n
   * against the schedule-derived previous step, every eta; at eta = 0 also each rule's distance
   * from the S = T endpoint (one more run). Default [10, 20]; [] to skip.
   */
  ruleSteps?: number[];
  /** Progress: cells done out of the total. */
  onCell?: (done: number, total: number) => void;
}

/** One cell of the previous-step rows: a {@link Table1Cell} for one previous-step rule. */
export interface Table1RuleCell extends Table1Cell {
  /** The previous-step rule of the run. */
  rule: PreviousTimestepRule;
  /**
   * eta = 0 only (null otherwise): the root-mean-square distance per sample from the endpoint of
   * the deterministic run over every training timestep (S = T, where the two rules coincide) from
   * the same x_T. That endpoint is what deterministic DDIM approximates with fewer steps, so this is
   * the step rule's own discretisation error, measured per sample rather than over the distribution.
   */
  endpointRms: number | null;
}

/** One cell of the table: the MMD of N samples drawn with S steps at one eta. */
export interface Table1Cell {
  /** The number of steps S. */
  steps: number;
  /** DDIM's eta. */
  eta: number;
  /** Unbiased MMD^2 between the N samples and the mixture. */
  mmd2: number;
  /** |mmd2| <= 2 floor: not distinguishable from exact sampling with this N. */
  withinFloor: boolean;
}

/** What {@link runTable1} measured: every cell, the noise floor, and what it was measured with. */
export interface Table1Result {
  /** Points sampled per cell (N). */
  samples: number;
  /** The seed every cell's x_T was drawn with. */
  seed: number;
  /** The RBF kernel width of the MMD. */
  bandwidth: number;
  /** The mixture sampled. */
  mixture: GaussianMixture;
  /** The scheduler's complete config. */
  config: Readonly<DDIMConfig>;
  /** The numbers of steps S: the table's rows. */
  steps: number[];
  /** The etas: the table's columns. */
  etas: number[];
  /** Standard deviation of MMD^2 over N exact draws (its mean is 0). */
  floor: number;
  /** The previous-step rows: linspace spacing, each rule. */
  ruleSteps: number[];
  /** The previous-step rows' cells: for each S of `ruleSteps`, each rule and each eta. */
  ruleCells: Table1RuleCell[];
  /** MMD^2 of N exact draws from the mixture with the same generator: one look at the floor. */
  exactDraws: number;
  /** The table's cells: for each S of `steps`, each eta of `etas`. */
  cells: Table1Cell[];
}

/** The DDIM paper's scheduler for the table: DDPM's linear betas 0.0001 .. 0.02 over 1000 steps, no clipping. */
export const TABLE1_CONFIG: Readonly<Partial<DDIMConfig>> = Object.freeze({
  beta_schedule: 'linear',
  beta_start: 0.0001,
  beta_end: 0.02,
  num_train_timesteps: 1000,
  // The modes sit at radius 1 +- 0.2: clipping x0 to [-1, 1] would cut them.
  clip_sample: false,
});

/** N exact draws from an isotropic mixture: the component by weight, then a Gaussian around its mean. */
export function sampleMixture(mixture: GaussianMixture, n: number, generator: Generator): Float32Array {
  const d = mixture.means[0].length;
  const out = new Float32Array(n * d);
  const noise = new Float32Array(d);
  for (let i = 0; i < n; i++) {
    let u = generator.nextUint32() / 2 ** 32;
    let k = 0;
    while (k < mixture.weights.length - 1 && u >= mixture.weights[k]) u -= mixture.weights[k++];
    generator.fillRandn(noise);
    const s = Math.sqrt(mixture.variances[k]);
    for (let c = 0; c < d; c++) out[i * d + c] = mixture.means[k][c] + s * noise[c];
  }
  return out;
}

/**
 * The experiment: for every S and eta, N DDIM samples of the mixture drawn with its exact
 * denoiser from the same seeded x_T, and their unbiased MMD^2 to the mixture beside the noise
 * floor; then the previous-step rows (`ruleSteps`).
 */
export async function runTable1(options: Table1Options = {}): Promise<Table1Result> {
  const samples = options.samples ?? 2000;
  const steps = options.steps ?? [10, 20, 50, 100, 1000];
  const etas = options.etas ?? [0, 0.2, 0.5, 1];
  const seed = options.seed ?? 0;
  const mixture = options.mixture ?? circleMixture(8, 1, 0.2);
  const bandwidth = options.bandwidth ?? 0.3;
  const ruleSteps = options.ruleSteps ?? [10, 20];
  const config = { ...TABLE1_CONFIG, ...options.config };
  const scheduler = new DDIMScheduler(config);
  const floor = mmdNullStd(samples, mixture, bandwidth);
  const dim = mixture.means[0].length;
  const total = (steps.length + 2 * ruleSteps.length) * etas.length;
  let done = 0;
  const draw = async (s: DDIMScheduler, S: number, eta: number) => {
    const { latents } = await sample(s, gaussianMixtureDenoiser(s, mixture), {
      shape: [samples, dim],
      numInferenceSteps: S,
      eta,
      generator: new Generator().manualSeed(seed),
    });
    return latents.data;
  };
  const score = (x: ArrayLike<number>, S: number, eta: number): Table1Cell => {
    const mmd2 = mmdToMixture(x, mixture, bandwidth);
    options.onCell?.(++done, total);
    return { steps: S, eta, mmd2, withinFloor: Math.abs(mmd2) <= 2 * floor };
  };
  const cells: Table1Cell[] = [];
  for (const S of steps) for (const eta of etas) cells.push(score(await draw(scheduler, S, eta), S, eta));
  const ruleCells: Table1RuleCell[] = [];
  if (ruleSteps.length > 0) {
    const linspace = { ...config, timestep_spacing: 'linspace' } as const;
    // With S = T every training timestep is scheduled and t - T // S = t - 1 is the next one, so the
    // reference is the same for both rules.
    const endpoint = etas.includes(0)
      ? await draw(new DDIMScheduler(linspace), scheduler.config.num_train_timesteps, 0)
      : null;
    for (const S of ruleSteps) {
      for (const rule of PREVIOUS_TIMESTEP_RULES) {
        const s = new DDIMScheduler(linspace, { previousTimestepRule: rule });
        for (const eta of etas) {
          const x = await draw(s, S, eta);
          const endpointRms = eta === 0 && endpoint ? rmsDistance(x, endpoint, samples) : null;
          ruleCells.push({ ...score(x, S, eta), rule, endpointRms });
        }
      }
    }
  }
  const exactDraws = mmdToMixture(
    sampleMixture(mixture, samples, new Generator().manualSeed(seed)),
    mixture,
    bandwidth,
  );
  return {
    samples,
    seed,
    bandwidth,
    mixture,
    config: scheduler.config,
    steps,
    etas,
    floor,
    exactDraws,
    cells,
    ruleSteps,
    ruleCells,
  };
}

/** sqrt(mean over the n samples of |a_i - b_i|^2). */
function rmsDistance(a: ArrayLike<number>, b: ArrayLike<number>, n: number): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return Math.sqrt(sum / n);
}

/** The cell for (S, eta). */
export function table1Cell(result: Table1Result, steps: number, eta: number): Table1Cell {
  const cell = result.cells.find((c) => c.steps === steps && c.eta === eta);
  if (!cell) {
    throw new ArgumentError({
      field: 'steps, eta',
      value: [steps, eta],
      problem: 'is not a cell of this table',
      fix: `use S in [${result.steps.join(', ')}] and eta in [${result.etas.join(', ')}].`,
    });
  }
  return cell;
}

/** The previous-step cell for (S, rule, eta). */
export function table1RuleCell(
  result: Table1Result,
  steps: number,
  rule: PreviousTimestepRule,
  eta: number,
): Table1RuleCell {
  const cell = result.ruleCells.find((c) => c.steps === steps && c.rule === rule && c.eta === eta);
  if (!cell) {
    throw new ArgumentError({
      field: 'steps, rule, eta',
      value: [steps, rule, eta],
      problem: 'is not a previous-step cell of this table',
      fix: `use S in [${result.ruleSteps.join(', ')}] and eta in [${result.etas.join(', ')}].`,
    });
  }
  return cell;
}
