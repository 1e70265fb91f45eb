/**
 * `DDIMInverseScheduler`: DDIM run backwards (x0 -> x_T) for DDIM inversion, with diffusers'
 * config subset and behaviour (scheduling_ddim_inverse.py).
 *
 * A step "to" timestep t goes to the noisier level t: it reads alpha_bar at the start level
 * t' = min(t - T // n, T - 1) (diffusers' rule; or `initialAlphaCumprod` when t' < 0) as the
 * current level and alpha_bar_t as the target, then applies the eta = 0 DDIM update (eq. 12) in
 * that direction. With the scheduler option `previousTimestepRule: "schedule"`, or custom
 * timesteps, t' is the list element before t instead (-1 for the first): the mirror image of the
 * forward scheduler's "next element" rule, so inverting with a list and sampling back with the
 * same list revisit the same noise levels.
 */

import type { TensorLike } from '../tensor/tensor.js';
import { alreadyResolved, type DDIMInverseConfig, resolveDDIMInverseConfig } from './config.js';
import { resolveSchedulerOptions, type SchedulerOptions } from './options.js';
import { fromPretrainedWith, type PretrainedOptions } from './pretrained.js';
import { scheduleInverseStartTimestep, strideInverseStartTimestep } from './previous-timestep.js';
import { SchedulerBase } from './scheduler-base.js';
import { INVERSE_STEP_OPTION_KEYS, type StepOptions, type StepOutput } from './step-options.js';
import { ddimInverseTimesteps } from './timesteps.js';

/** Options of an inverse step: no eta (inversion is deterministic), no noise. */
export type InverseStepOptions = Pick<StepOptions, 'out' | 'allowNonFinite'>;

/**
 * diffusers' `DDIMInverseScheduler`: DDIM run backwards, from a clean sample towards the noise
 * that regenerates it (DDIM inversion), with timesteps in ascending order. Used by `invert`.
 */
export class DDIMInverseScheduler extends SchedulerBase<DDIMInverseConfig> {
  /** Like `DDIMScheduler`'s: no argument means the defaults; `null` is a ConfigError. */
  constructor(config: Partial<DDIMInverseConfig> = {}, options?: SchedulerOptions) {
    const o = resolveSchedulerOptions(options);
    super(
      alreadyResolved<DDIMInverseConfig>(config, 'DDIMInverseScheduler') ??
        resolveDDIMInverseConfig(config, undefined, o).config,
      o,
      'ascending',
    );
  }

  /** Like `DDIMScheduler.fromConfig`: any diffusers scheduler config, unused keys warned. */
  static fromConfig(
    config: unknown,
    overrides?: Partial<DDIMInverseConfig>,
    options?: SchedulerOptions,
  ): DDIMInverseScheduler {
    const o = resolveSchedulerOptions(options);
    return new DDIMInverseScheduler(
      resolveDDIMInverseConfig(config, overrides, o).config as DDIMInverseConfig,
      o,
    );
  }

  /** Like `DDIMScheduler.fromPretrained`: a Hub repo id, a URL, or (Node) a local folder or file. */
  static fromPretrained(
    source: string,
    options: PretrainedOptions<DDIMInverseConfig> = {},
  ): Promise<DDIMInverseScheduler> {
    return fromPretrainedWith(source, options, DDIMInverseScheduler.fromConfig);
  }

  get className(): string {
    return 'DDIMInverseScheduler';
  }

  /**
   * alpha_bar before the first inversion step (diffusers' `initial_alpha_cumprod`): 1 when
   * `set_alpha_to_one` (the step then just outputs the predicted noise direction from x0), else
   * alpha_bar_0.
   */
  get initialAlphaCumprod(): number {
    return this.cleanAlphaCumprod;
  }

  protected timestepsFor(n: number): Int32Array {
    const c = this.config;
    return ddimInverseTimesteps(c.num_train_timesteps, n, c.timestep_spacing, c.steps_offset);
  }

  protected previousIn(schedule: Int32Array, followsList: boolean, t: number): number {
    return followsList
      ? scheduleInverseStartTimestep(schedule, t)
      : strideInverseStartTimestep(t, this.config.num_train_timesteps, schedule.length);
  }

  /**
   * One inversion step to `timestep`: returns the noisier sample and the predicted x0. The step
   * clips x0 when clip_sample is set (there is no thresholding) and never re-derives eps from the
   * clipped x0, as diffusers' inverse step. Checks as `DDIMScheduler.step`.
   */
  step(
    modelOutput: TensorLike,
    timestep: number,
    sample: TensorLike,
    options: InverseStepOptions = {},
  ): StepOutput {
    return this.stepAt(modelOutput, timestep, sample, options, INVERSE_STEP_OPTION_KEYS);
  }
}
