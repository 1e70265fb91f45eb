/**
 * Prediction types: what a model outputs, and everything that depends on it, in one table.
 *
 * DDIM's update (eq. 12) needs the predicted clean sample x0 and the predicted noise eps at the
 * current level a = alpha_bar_t. A model outputs one of three things m, and each gives x0 and eps
 * linearly in (x, m), with sqrt(a) and sqrt(1 - a) as the weights (x = sqrt(a) x0 + sqrt(1 - a) eps,
 * eq. 4):
 *
 *   epsilon       m = eps:  x0 = (x - sqrt(1-a) m) / sqrt(a)      eps = m
 *   sample        m = x0:   x0 = m                                 eps = (x - sqrt(a) m) / sqrt(1-a)
 *   v_prediction  m = v:    x0 = sqrt(a) x - sqrt(1-a) m           eps = sqrt(1-a) x + sqrt(a) m
 *                 (v = sqrt(a) eps - sqrt(1-a) x0; Salimans & Ho 2022, "Progressive Distillation", sec. 4)
 *
 * (diffusers' `DDIMScheduler.step`, step 3, "compute predicted original sample from predicted
 * noise also called predicted_x0 of formula (12)"; an unknown type is its ValueError.) The
 * epsilon form divides by sqrt(a), so it cannot step from a = 0 (zero terminal SNR, diffusers
 * #3851); the sample form divides by sqrt(1 - a), so it cannot step from a = 1 (an inversion that
 * starts at alpha_bar = 1). v never divides.
 *
 * To add a prediction type: add its name to PREDICTION_TYPES and its entry to PREDICTIONS; the
 * compiler then points at every other place that must change (none today: the step, the
 * schedulers' start-level checks and the exact denoisers read this table).
 */
import { ConfigError } from '../errors.js';

/** diffusers' `prediction_type` values. */
export const PREDICTION_TYPES = ['epsilon', 'sample', 'v_prediction'] as const;
/**
 * What the model predicts: `epsilon` the noise, `sample` the clean sample x0, `v_prediction`
 * v = sqrt(alpha_bar) eps - sqrt(1 - alpha_bar) x0 (Salimans and Ho).
 */
export type PredictionType = (typeof PREDICTION_TYPES)[number];

/** x0 = x0FromSample x + x0FromModel m and eps = epsFromSample x + epsFromModel m. */
export interface Recovery {
  /** The sample's weight in x0. */
  x0FromSample: number;
  /** The model output's weight in x0. */
  x0FromModel: number;
  /** The sample's weight in eps. */
  epsFromSample: number;
  /** The model output's weight in eps. */
  epsFromModel: number;
}

export interface Prediction {
  /**
   * Write into `out` the weights that recover x0 and eps from (x, m) at a level with
   * sqrtA = sqrt(alpha_bar), sqrtB = sqrt(1 - alpha_bar) (the table above).
   */
  recover(sqrtA: number, sqrtB: number, out: Recovery): void;
  /** The model output that is exactly right for x0 at that level: what an exact denoiser returns. */
  output(x: number, x0: number, sqrtA: number, sqrtB: number): number;
  /**
   * The alpha_bar a step cannot start from because `recover` divides by zero there, or null, and
   * the error saying so for a step from `timestep` (refused before any model call).
   */
  singular: { alphaBar: number; error(timestep: number): ConfigError } | null;
}

/** The prediction types' table: every per-type formula of the library. */
export const PREDICTIONS: { readonly [P in PredictionType]: Prediction } = {
  epsilon: {
    recover(sqrtA, sqrtB, out) {
      out.x0FromSample = 1 / sqrtA;
      out.x0FromModel = -sqrtB / sqrtA;
      out.epsFromSample = 0;
      out.epsFromModel = 1;
    },
    output: (x, x0, sqrtA, sqrtB) => (x - sqrtA * x0) / sqrtB,
    singular: { alphaBar: 0, error: zeroSnrEpsilonError },
  },
  sample: {
    recover(sqrtA, sqrtB, out) {
      out.x0FromSample = 0;
      out.x0FromModel = 1;
      out.epsFromSample = 1 / sqrtB;
      out.epsFromModel = -sqrtA / sqrtB;
    },
    output: (_x, x0) => x0,
    singular: {
      alphaBar: 1,
      error: () =>
        new ConfigError({
          field: 'prediction_type',
          value: 'sample',
          problem:
            'cannot start an inversion step from alpha_bar = 1 (set_alpha_to_one): a "sample" model gives x0, and eps = (x - x0) / sqrt(1 - alpha_bar) is 0 / 0 there',
          fix: 'set set_alpha_to_one to false (the first step then starts from alpha_bar_0), or use an epsilon or v_prediction model.',
        }),
    },
  },
  v_prediction: {
    recover(sqrtA, sqrtB, out) {
      out.x0FromSample = sqrtA;
      out.x0FromModel = -sqrtB;
      out.epsFromSample = sqrtB;
      out.epsFromModel = sqrtA;
    },
    // v = sqrt(a) eps - sqrt(1 - a) x0, with eps = (x - sqrt(a) x0) / sqrt(1 - a).
    output: (x, x0, sqrtA, sqrtB) => sqrtA * ((x - sqrtA * x0) / sqrtB) - sqrtB * x0,
    singular: null,
  },
};

/**
 * diffusers #3851: with zero terminal SNR, alpha_bar = 0 at the last training timestep, and an
 * epsilon model's x0 = (x - sqrt(1 - a) eps) / sqrt(a) is Inf / NaN. diffusers returns that
 * silently; we refuse before any model call.
 */
export function zeroSnrEpsilonError(timestep: number): ConfigError {
  return new ConfigError({
    field: 'prediction_type',
    value: 'epsilon',
    problem: `cannot step from timestep ${timestep}: alpha_bar is 0 there (zero terminal SNR, e.g. rescale_betas_zero_snr), and an epsilon prediction gives x0 = (x - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar), a division by zero (diffusers #3851)`,
    fix: 'use a model trained with prediction_type "v_prediction" (as Lin et al. 2023 do for zero SNR), or pass { clampZeroTerminalSnr: true } in the scheduler options to set alpha_bar[T - 1] = 2^-24 as diffusers\' EulerDiscreteScheduler does, or use timestep_spacing "leading", which schedules the last timestep only in corner cases (e.g. n = T with steps_offset 0).',
  });
}
