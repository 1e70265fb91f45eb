/**
 * Scheduler options: the behaviour that is not a diffusers config key (the previous-timestep rule,
 * the zero-SNR clamp, where config warnings go), validated once when a scheduler is built.
 */

import type { WarningHandler } from '../errors.js';
import { ArgumentError } from '../errors.js';
import { checkFlag, checkOptionalFunction, readOptions } from '../guard.js';
import type { ConfigOptions } from './config.js';
import { PREVIOUS_TIMESTEP_RULES, type PreviousTimestepRule } from './previous-timestep.js';

/**
 * Scheduler behaviour that is not a diffusers config key. These live in the constructor /
 * `fromConfig` options, next to `onWarning`, and not in the config, because:
 *  - `toJSON()` must write exactly diffusers' keys, so a saved config still loads in Python;
 *  - they hold for the scheduler's whole life: the clamp changes `alphasCumprod` (which
 *    `addNoise` reads too), and a sampling loop must not switch previous-step rules between
 *    `setTimesteps` and `step`; so they are not `setTimesteps` arguments either.
 * The defaults give diffusers' results.
 */
export interface SchedulerOptions extends ConfigOptions {
  /**
   * How a step finds the timestep it lands on. `"stride"` (default): diffusers' `t - T // n`.
   * `"schedule"`: the next timestep of `scheduler.timesteps` (for the inverse scheduler, a step to
   * t starts from the one before it), which is what "trailing" and "linspace" spacing need
   * (diffusers #11347, #12633). Identical to "stride" for "leading" lists but at the last step when
   * steps_offset >= T // n, where the stride lands on timestep 0 and the list on the final alpha.
   * Custom timesteps always use the list.
   */
  previousTimestepRule?: PreviousTimestepRule;
  /**
   * Zero terminal SNR (`rescale_betas_zero_snr`) makes alpha_bar[T - 1] exactly 0, and an
   * epsilon-prediction step from there divides by 0 (diffusers #3851: silent Inf). By default that
   * is a ConfigError at `setTimesteps`; `true` instead sets alpha_bar[T - 1] to 2^-24, as diffusers'
   * EulerDiscreteScheduler does, so the step is finite. Changes `alphasCumprod` (and so `addNoise`).
   * No effect when alpha_bar[T - 1] is not 0. Default false.
   */
  clampZeroTerminalSnr?: boolean;
}

export interface ResolvedSchedulerOptions {
  previousTimestepRule: PreviousTimestepRule;
  clampZeroTerminalSnr: boolean;
  /** Read once with the others, so the config layer never reads the caller's object again. */
  onWarning?: WarningHandler;
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'onWarning',
  'previousTimestepRule',
  'clampZeroTerminalSnr',
]);

/** Validate scheduler options; unknown keys are errors, so a misspelt fix is never silently off. */
export function resolveSchedulerOptions(options: unknown): ResolvedSchedulerOptions {
  // Read once (a Proxy or getter may throw, or answer differently each time).
  const o = readOptions(options, {
    allowed: OPTION_KEYS,
    field: 'options',
    example: "{ previousTimestepRule: 'schedule' }",
    kind: 'a scheduler option',
    hint: () =>
      `use one of ${[...OPTION_KEYS].join(', ')}; diffusers config keys go in the config (or overrides).`,
  });
  if (o === null) return { previousTimestepRule: 'stride', clampZeroTerminalSnr: false };
  const rule = o.previousTimestepRule ?? 'stride';
  if (!PREVIOUS_TIMESTEP_RULES.includes(rule as PreviousTimestepRule)) {
    throw new ArgumentError({
      field: 'options.previousTimestepRule',
      value: rule,
      problem: `must be one of ${PREVIOUS_TIMESTEP_RULES.map((r) => JSON.stringify(r)).join(', ')}`,
      fix: '"stride" gives diffusers\' results; "schedule" lands each step on the next scheduled timestep.',
    });
  }
  const clamp = checkFlag(o.clampZeroTerminalSnr, 'options.clampZeroTerminalSnr');
  checkOptionalFunction(
    o.onWarning,
    'options.onWarning',
    'pass (message) => { ... }, or leave it out for console.warn.',
  );
  const resolved: ResolvedSchedulerOptions = {
    previousTimestepRule: rule as PreviousTimestepRule,
    clampZeroTerminalSnr: clamp,
  };
  if (o.onWarning !== undefined) resolved.onWarning = o.onWarning as WarningHandler;
  return resolved;
}
