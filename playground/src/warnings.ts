/**
 * Risky configs, said before sampling goes wrong. Each warning has a stable id (the page shows it
 * as data-warning="id"; tests look for it), a level, and a message saying what happens and what to
 * change. All of them follow from the schedule itself, so they are computed from a ScheduleView.
 */
import type { ScheduleView } from './schedule-view.js';

export type WarningId =
  | 'zero-snr-epsilon'
  | 'zero-snr-clamped'
  | 'zero-snr-not-trailing'
  | 'prev-stride'
  | 'trailing-extra-timestep'
  | 'clip-latent'
  | 'threshold-latent'
  | 'late-start';

export interface ConfigWarning {
  id: WarningId;
  level: 'warning' | 'info';
  message: string;
}

/** alpha_bar above which starting from pure noise is a visible mismatch (signal std > 0.1). */
const LATE_START_ALPHA_BAR = 0.01;

export function configWarnings(view: ScheduleView): ConfigWarning[] {
  const c = view.config;
  const T = view.numTrainTimesteps;
  const out: ConfigWarning[] = [];
  const terminal = view.alphaBar[T - 1];

  // Lin et al. 2023 §3.2: with alpha_bar = 0 at the last training step, x_T is pure noise and an
  // epsilon prediction says nothing about x0; diffusers' x0 = (x - sqrt(1 - a) eps) / sqrt(a)
  // divides by zero there. Such models must be trained (and sampled) with v_prediction.
  if (terminal === 0 && c.prediction_type === 'epsilon') {
    const hit = view.rows.find((r) => r.alphaBar === 0);
    out.push({
      id: 'zero-snr-epsilon',
      level: 'warning',
      message:
        'Zero terminal SNR with prediction_type "epsilon": alpha_bar is 0 at t = ' +
        `${T - 1}, where predicting the noise says nothing about x0` +
        (hit
          ? ` and x0 = (x - sqrt(1 - alpha_bar) eps) / sqrt(alpha_bar) divides by zero at step ${hit.index} (t = ${hit.t}): ` +
            'setTimesteps refuses this schedule with a ConfigError (diffusers returns Inf / NaN).'
          : '; these timesteps do not include it, so sampling works.') +
        ' Use prediction_type "v_prediction" (Lin et al. 2023), or turn off rescale_betas_zero_snr.',
    });
  }

  // The clampZeroTerminalSnr option (diffusers' Euler scheduler does the same) makes the step
  // finite, but an epsilon model's x0 there is its error times 1 / sqrt(2^-24) = 4096.
  if (view.options.clampZeroTerminalSnr && c.rescale_betas_zero_snr && c.prediction_type === 'epsilon') {
    out.push({
      id: 'zero-snr-clamped',
      level: 'info',
      message:
        `alpha_bar[${T - 1}] is clamped to 2^-24 (clampZeroTerminalSnr), so the first step is finite, but an ` +
        "epsilon model's x0 there is (x - sqrt(1 - alpha_bar) eps) * 4096: any error in eps is amplified 4096 times.",
    });
  }

  // Lin et al. 2023 §3.3: a zero-SNR schedule only helps if sampling starts at t = T - 1.
  if (c.rescale_betas_zero_snr && view.timesteps[0] !== T - 1) {
    out.push({
      id: 'zero-snr-not-trailing',
      level: 'warning',
      message:
        `Zero terminal SNR, but sampling starts at t = ${view.timesteps[0]}, not ${T - 1}: ` +
        `the zero-SNR step is never used. Use timestep_spacing "trailing".`,
    });
  }

  // diffusers steps from t to t - T // n for every spacing. For leading spacing that is the next
  // scheduled timestep; for trailing and linspace it often is not, so those steps land on noise
  // levels the loop never visits (the "previous-step stride" quirk).
  const offSchedule = view.rows.filter((r) => r.index + 1 < view.rows.length && r.prev !== r.nextScheduled);
  if (offSchedule.length > 0) {
    const r = offSchedule[0];
    out.push({
      id: 'prev-stride',
      level: 'warning',
      message:
        `${offSchedule.length} of ${view.rows.length} steps land off the schedule: diffusers steps from t to ` +
        `t - T // n (T // n = ${Math.floor(T / view.steps)}), e.g. from t = ${r.t} to ${r.prev}, while the next ` +
        `scheduled timestep is ${r.nextScheduled}. This is what diffusers does with "${c.timestep_spacing}" ` +
        'spacing; the next step then starts from a noise level the previous one did not reach. ' +
        'The scheduler option previousTimestepRule: "schedule" lands each step on the next timestep.',
    });
  }

  // numpy's float arange returns n + 1 values for some (T, n) (T = 1000: n = 61, 103, ...); diffusers
  // then steps through an extra timestep -1 read as alphas_cumprod[-1]. ddim keeps the n real ones.
  if (c.timestep_spacing === 'trailing' && numpyArangeLength(T, 0, -T / view.steps) > view.steps) {
    out.push({
      id: 'trailing-extra-timestep',
      level: 'info',
      message:
        `With T = ${T} and ${view.steps} trailing steps, diffusers gets ${view.steps + 1} timesteps (numpy's ` +
        'float arange overshoots) and its last step reads alphas_cumprod[-1], the noisiest level. ddim ' +
        `returns the ${view.steps} real timesteps, so results differ from diffusers at the last step.`,
    });
  }

  if (c.beta_schedule === 'scaled_linear' && c.clip_sample && !c.thresholding) {
    out.push({
      id: 'clip-latent',
      level: 'warning',
      message:
        `clip_sample clips the predicted x0 to [-${c.clip_sample_range}, ${c.clip_sample_range}], but ` +
        '"scaled_linear" is the latent-diffusion schedule, whose latents are not in that range. ' +
        'Stable Diffusion configs set clip_sample: false.',
    });
  }

  if (c.thresholding && c.beta_schedule === 'scaled_linear') {
    out.push({
      id: 'threshold-latent',
      level: 'warning',
      message:
        'Dynamic thresholding (Imagen) is meant for pixel-space models; on latents it distorts the ' +
        'sample, as diffusers warns. Turn thresholding off for latent models.',
    });
  }

  const first = view.rows[0];
  if (first.alphaBar > LATE_START_ALPHA_BAR) {
    out.push({
      id: 'late-start',
      level: 'warning',
      message:
        `Sampling starts at t = ${first.t}, where alpha_bar = ${first.alphaBar.toPrecision(3)}: the model ` +
        `expects x_t to still hold ${(Math.sqrt(first.alphaBar) * 100).toPrecision(2)}% of the signal, ` +
        'but sampling starts from pure noise. Use "trailing" spacing or more steps.',
    });
  }
  return out;
}

/** The length numpy gives `np.arange(start, stop, step)` for floats: ceil((stop - start) / step). */
function numpyArangeLength(start: number, stop: number, step: number): number {
  return Math.max(0, Math.ceil((stop - start) / step));
}
