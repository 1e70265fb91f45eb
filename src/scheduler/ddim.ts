/**
 * `DDIMScheduler`: diffusers' DDIMScheduler (scheduling_ddim.py): sampling from noise to data
 * with DDIM eq. 12, over the shared shell of scheduler-base.ts.
 */
import { ArgumentError } from '../errors.js';
import type { TensorLike } from '../tensor/tensor.js';
import { alreadyResolved, type DDIMConfig, resolveDDIMConfig } from './config.js';
import { resolveSchedulerOptions, type SchedulerOptions } from './options.js';
import { fromPretrainedWith, type PretrainedOptions } from './pretrained.js';
import { schedulePreviousTimestep, stridePreviousTimestep } from './previous-timestep.js';
import { ddimVariance } from './schedule.js';
import { SchedulerBase } from './scheduler-base.js';
import { STEP_OPTION_KEYS, type StepOptions, type StepOutput } from './step-options.js';
import { ddimTimesteps } from './timesteps.js';

/**
 * diffusers' `DDIMScheduler`: the same config (`scheduler_config.json`'s keys), the same timesteps
 * and the same steps, to diffusers' float32 results; seeded eta > 0 noise as PyTorch draws it.
 * Build it from a config (`new DDIMScheduler(config)`, `fromConfig`) or load it
 * (`fromPretrained`), pick the timesteps (`setTimesteps`), then `step` once per timestep.
 */
export class DDIMScheduler extends SchedulerBase<DDIMConfig> {
  /** A scheduler from a (partial) config, defaults filled in as diffusers' constructor does. */
  constructor(config: Partial<DDIMConfig> = {}, options?: SchedulerOptions) {
    const o = resolveSchedulerOptions(options);
    super(
      alreadyResolved<DDIMConfig>(config, 'DDIMScheduler') ?? resolveDDIMConfig(config, undefined, o).config,
      o,
      'descending',
    );
  }

  /**
   * Build a scheduler from any diffusers scheduler config (a parsed `scheduler_config.json`,
   * possibly of another class), with `overrides` applied on top, like diffusers'
   * `DDIMScheduler.from_config(config, **overrides)`.
   */
  static fromConfig(
    config: unknown,
    overrides?: Partial<DDIMConfig>,
    options?: SchedulerOptions,
  ): DDIMScheduler {
    const o = resolveSchedulerOptions(options);
    return new DDIMScheduler(resolveDDIMConfig(config, overrides, o).config as DDIMConfig, o);
  }

  /**
   * Load a scheduler the way diffusers' `DDIMScheduler.from_pretrained` does: from a Hub repo id
   * (`'stabilityai/stable-diffusion-2-1'` with `{ subfolder: 'scheduler' }`), an http(s) URL, or
   * under Node a local folder or file and the Hugging Face cache. Any scheduler's config loads;
   * keys DDIM does not use go to `onWarning`. See `loadSchedulerConfig` for the loading options;
   * `previousTimestepRule` and `clampZeroTerminalSnr` are the scheduler options (SchedulerOptions).
   */
  static fromPretrained(source: string, options: PretrainedOptions<DDIMConfig> = {}): Promise<DDIMScheduler> {
    return fromPretrainedWith(source, options, DDIMScheduler.fromConfig);
  }

  get className(): string {
    return 'DDIMScheduler';
  }

  /**
   * alpha_bar used for the step after the last one (diffusers' `final_alpha_cumprod`): 1 when
   * `set_alpha_to_one`, else alpha_bar_0 (Stable Diffusion's choice, with steps_offset 1).
   */
  get finalAlphaCumprod(): number {
    return this.cleanAlphaCumprod;
  }

  protected timestepsFor(n: number): Int32Array {
    const c = this.config;
    return ddimTimesteps(c.num_train_timesteps, n, c.timestep_spacing, c.steps_offset);
  }

  protected previousIn(schedule: Int32Array, followsList: boolean, t: number): number {
    return followsList
      ? schedulePreviousTimestep(schedule, t)
      : stridePreviousTimestep(t, this.config.num_train_timesteps, schedule.length);
  }

  /**
   * DDIM eq. 16's variance sigma_t^2 / eta^2 between `timestep` and `prevTimestep` (diffusers'
   * `_get_variance`). `prevTimestep` is -1 or a timestep no noisier than `timestep` (a step goes
   * towards the data); the other way round the formula gives a negative "variance".
   */
  getVariance(timestep: number, prevTimestep: number): number {
    const aT = this.alphaBarAt(timestep);
    const aPrev = this.alphaBarAt(prevTimestep);
    if (aPrev < aT) {
      throw new ArgumentError({
        field: 'prevTimestep',
        value: prevTimestep,
        problem: `is noisier than timestep ${timestep} (alpha_bar ${aPrev} < ${aT}); a DDIM step goes towards the data`,
        fix: 'pass scheduler.previousTimestep(timestep), or -1 for the step past the end.',
      });
    }
    return ddimVariance(aT, aPrev);
  }

  /**
   * One reverse step from `timestep` (DDIM eq. 12): returns x_{t-1} and the predicted x0.
   * Results have `sample`'s dtype and dims. Every argument is checked before anything is
   * written or drawn, so when it throws the scheduler and the caller's generators are as they
   * were and the next valid call works. A NumericError is found after the pass: out buffers then
   * hold partial results (a step written in place over its input has consumed that input), but
   * the generators are rolled back.
   */
  step(modelOutput: TensorLike, timestep: number, sample: TensorLike, options: StepOptions = {}): StepOutput {
    return this.stepAt(modelOutput, timestep, sample, options, STEP_OPTION_KEYS);
  }
}
