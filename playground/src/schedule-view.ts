/**
 * Everything the schedule charts and the timesteps table show, computed from a config with the
 * library itself (no DOM here, so unit tests can check it too).
 */
import { ConfigError, type DDIMConfig, DDIMScheduler, type PreviousTimestepRule } from 'ddim';

/** The scheduler options the page offers (constructor options, not config keys). */
export interface PageSchedulerOptions {
  previousTimestepRule: PreviousTimestepRule;
  clampZeroTerminalSnr: boolean;
}

export const DEFAULT_OPTIONS: Readonly<PageSchedulerOptions> = Object.freeze({
  previousTimestepRule: 'stride',
  clampZeroTerminalSnr: false,
});

/** One inference step as diffusers' DDIMScheduler.step takes it. */
export interface StepRow {
  /** 0-based position in the loop. */
  index: number;
  /** The timestep t passed to the model and to step(). */
  t: number;
  /**
   * The timestep whose alpha_bar the step lands on, by the scheduler's previousTimestepRule:
   * diffusers' t - T // n ("stride") or the next scheduled one ("schedule"); -1 is the final alpha_bar.
   */
  prev: number;
  /** The next timestep of the loop (-1 after the last step): where the "schedule" rule lands. */
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
  options: Readonly<PageSchedulerOptions>;
  /**
   * The library's refusal to step through this schedule (zero terminal SNR with epsilon
   * prediction: setTimesteps throws a ConfigError), or null. The schedule itself is still shown.
   */
  stepError: string | null;
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

function makeScheduler(config: Readonly<DDIMConfig>, options: Readonly<PageSchedulerOptions>): DDIMScheduler {
  return new DDIMScheduler(config as DDIMConfig, { ...options, onWarning: () => {} });
}

/** Build the scheduler for `config`, set `steps` timesteps, and tabulate what each step does. */
export function scheduleView(
  config: Readonly<DDIMConfig>,
  steps: number,
  eta: number,
  options: Readonly<PageSchedulerOptions> = DEFAULT_OPTIONS,
): ScheduleView {
  let scheduler = makeScheduler(config, options);
  let stepError: string | null = null;
  try {
    scheduler.setTimesteps(steps);
  } catch (error) {
    // Zero terminal SNR + epsilon: the library refuses to step (a division by zero). Timesteps,
    // betas and the previous-step rule do not depend on prediction_type, so the page still draws
    // the schedule, from the same config with a prediction type the check lets through.
    if (!(error instanceof ConfigError && error.field === 'prediction_type')) throw error;
    stepError = error.message;
    scheduler = makeScheduler({ ...config, prediction_type: 'v_prediction' }, options);
    scheduler.setTimesteps(steps);
  }
  const timesteps = Array.from(scheduler.timesteps);
  const rows: StepRow[] = timesteps.map((t, index) => {
    const prev = scheduler.previousTimestep(t);
    const alphaBar = scheduler.alphaBarAt(t);
    const alphaBarPrev = scheduler.alphaBarAt(prev);
    return {
      index,
      t,
      prev,
      nextScheduled: index + 1 < timesteps.length ? timesteps[index + 1] : -1,
      alphaBar,
      alphaBarPrev,
      logSnr: logSnrOf(alphaBar),
      sigma: eta * Math.sqrt(scheduler.getVariance(t, prev)),
    };
  });
  const alphaBar = Array.from(scheduler.alphasCumprod);
  return {
    config,
    options,
    stepError,
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
