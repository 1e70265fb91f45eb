/**
 * `DDIMInverseScheduler`: DDIM run backwards (x0 -> x_T) for DDIM inversion, with diffusers'
 * config subset and behaviour (scheduling_ddim_inverse.py).
 *
 * A step "from" timestep t goes to the noisier level t: it reads alpha_bar at
 * t' = min(t - T // n, T - 1) (or `initialAlphaCumprod` when t' < 0) as the current level and
 * alpha_bar_t as the target, then applies the eta = 0 DDIM update (eq. 12) in that direction.
 */
import type { ConfigOptions, DDIMInverseConfig } from './config.js';
import { resolveDDIMInverseConfig } from './config.js';
import { type FromPretrainedOptions, loadSchedulerConfig } from './hub.js';
import { SchedulerBase, type StepOptions, type StepOutput } from './scheduler.js';
import { stepCoefficients, type X0Bound } from './step.js';
import type { TensorLike } from './tensor.js';
import { ddimInverseTimesteps } from './timesteps.js';

/** Options of an inverse step: no eta (inversion is deterministic), no noise. */
export type InverseStepOptions = Pick<StepOptions, 'out' | 'allowNonFinite'>;

export class DDIMInverseScheduler extends SchedulerBase<DDIMInverseConfig> {
  /**
   * alpha_bar before the first inversion step: 1 when `set_alpha_to_one` (the step then just
   * outputs the predicted noise direction from x0), else alpha_bar_0.
   */
  readonly initialAlphaCumprod: number;

  constructor(config: Partial<DDIMInverseConfig> = {}, options?: ConfigOptions) {
    const { config: resolved } = resolveDDIMInverseConfig(config, undefined, options);
    const T = resolved.num_train_timesteps;
    // Before setTimesteps diffusers holds every training timestep, ascending.
    const all = new Int32Array(T);
    for (let i = 0; i < T; i++) all[i] = i;
    super(resolved, all);
    this.initialAlphaCumprod = resolved.set_alpha_to_one ? 1 : this.alphasCumprod[0];
  }

  /** Like `DDIMScheduler.fromConfig`: any diffusers scheduler config, unused keys warned. */
  static fromConfig(
    config: unknown,
    overrides?: Partial<DDIMInverseConfig>,
    options?: ConfigOptions,
  ): DDIMInverseScheduler {
    const { config: resolved } = resolveDDIMInverseConfig(config, overrides, options);
    return new DDIMInverseScheduler(resolved as DDIMInverseConfig, { onWarning: () => {} });
  }

  /** Like `DDIMScheduler.fromPretrained`: a Hub repo id, a URL, or (Node) a local folder or file. */
  static async fromPretrained(
    source: string,
    options: FromPretrainedOptions<DDIMInverseConfig> = {},
  ): Promise<DDIMInverseScheduler> {
    const { config } = await loadSchedulerConfig(source, options);
    return DDIMInverseScheduler.fromConfig(config, options.overrides, { onWarning: options.onWarning });
  }

  get className(): string {
    return 'DDIMInverseScheduler';
  }

  /** Ascending inference timesteps (diffusers' `set_timesteps`; spacing leading or trailing). */
  setTimesteps(numInferenceSteps: number): this {
    const c = this.config;
    const timesteps = ddimInverseTimesteps(
      c.num_train_timesteps,
      numInferenceSteps,
      c.timestep_spacing,
      c.steps_offset,
    );
    this.commitTimesteps(timesteps, numInferenceSteps);
    return this;
  }

  /** The less noisy level a step to `timestep` starts from: min(t - T // n, T - 1), -1 for "before the start". */
  previousTimestep(timestep: number): number {
    const n = this.requireTimesteps();
    const T = this.config.num_train_timesteps;
    const from = Math.min(timestep - Math.floor(T / n), T - 1);
    return from >= 0 ? from : -1;
  }

  alphaBarAt(timestep: number): number {
    return timestep >= 0 ? this.alphasCumprod[timestep] : this.initialAlphaCumprod;
  }

  /** One inversion step to `timestep`: returns the noisier sample and the predicted x0. */
  step(
    modelOutput: TensorLike,
    timestep: number,
    sample: TensorLike,
    options: InverseStepOptions = {},
  ): StepOutput {
    this.requireTimesteps();
    const t = this.checkTimestep(timestep);
    const c = this.config;
    const alphaProdT = this.alphaBarAt(this.previousTimestep(t));
    const alphaProdNext = this.alphasCumprod[t];
    // eta = 0: the direction weight is sqrt(1 - alpha_bar_next), as in diffusers' inverse step.
    const coefficients = stepCoefficients(c.prediction_type, alphaProdT, alphaProdNext, 0, 0);
    const bound: X0Bound = c.clip_sample ? { kind: 'clip', range: c.clip_sample_range } : { kind: 'none' };
    // diffusers' inverse step never re-derives eps from the clipped x0.
    return this.runStep(modelOutput, sample, t, coefficients, bound, false, null, options);
  }
}
