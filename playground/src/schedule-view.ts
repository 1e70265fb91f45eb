/**
 * Everything the schedule charts and the timesteps table show, computed from a config with the
 * library itself (no DOM here, so unit tests can check it too).
 */
import { type DDIMConfig, DDIMScheduler } from 'ddim';

/** One inference step as diffusers' DDIMScheduler.step takes it. */
export interface StepRow {
  /** 0-based position in the loop. */
  index: number;
  /** The timestep t passed to the model and to step(). */
  t: number;
  /** The timestep whose alpha_bar the step lands on: diffusers' t - T // n, or -1 (final alpha_bar). */
  prev: number;
  /** The next timestep of the loop (-1 after the last step): where a schedule-derived step would land. */
  nextScheduled: number;
  alphaBar: number;
  alphaBarPrev: number;
  /** log(alpha_bar / (1 - alpha_bar)); -Infinity at a zero-SNR step. */
  logSnr: number;
  /** DDIM eq. 16: eta * sqrt(variance(t, prev)), the std of the noise this step adds. */
  sigma: number;
}

export interface ScheduleView {
  config: Readonly<DDIMConfig>;
  steps: number;
  eta: number;
  numTrainTimesteps: number;
  timesteps: number[];
  rows: StepRow[];
  /** alpha_bar for every training timestep 0..T-1. */
  alphaBar: number[];
  /** log-SNR for every training timestep 0..T-1. */
  logSnr: number[];
  finalAlphaCumprod: number;
}

export function logSnrOf(alphaBar: number): number {
  return Math.log(alphaBar) - Math.log1p(-alphaBar);
}

/** Build the scheduler for `config`, set `steps` timesteps, and tabulate what each step does. */
export function scheduleView(config: Readonly<DDIMConfig>, steps: number, eta: number): ScheduleView {
  const scheduler = new DDIMScheduler(config as DDIMConfig, { onWarning: () => {} });
  scheduler.setTimesteps(steps);
  const timesteps = Array.from(scheduler.timesteps);
  const rows: StepRow[] = timesteps.map((t, index) => {
    const prev = scheduler.previousTimestep(t);
    const alphaBar = scheduler.alphaBarAt(t);
    const alphaBarPrev = scheduler.alphaBarAt(prev);
    const variance = scheduler.getVariance(t, prev);
    return {
      index,
      t,
      prev,
      nextScheduled: index + 1 < timesteps.length ? timesteps[index + 1] : -1,
      alphaBar,
      alphaBarPrev,
      logSnr: logSnrOf(alphaBar),
      // variance is 0/0 = NaN only when both alpha_bars are 1; clamp tiny negative rounding at 0.
      sigma: eta * Math.sqrt(Math.max(0, Number.isFinite(variance) ? variance : 0)),
    };
  });
  const alphaBar = Array.from(scheduler.alphasCumprod);
  return {
    config: scheduler.config,
    steps,
    eta,
    numTrainTimesteps: scheduler.config.num_train_timesteps,
    timesteps,
    rows,
    alphaBar,
    logSnr: alphaBar.map(logSnrOf),
    finalAlphaCumprod: scheduler.finalAlphaCumprod,
  };
}
