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
import type { DDIMInverseConfig } from './config.js';
import { resolveDDIMInverseConfig } from './config.js';
import { ConfigError } from './errors.js';
import { loadSchedulerConfig } from './hub.js';
import { scheduleInverseStartTimestep, strideInverseStartTimestep } from './previous-timestep.js';
import {
  INVERSE_STEP_OPTION_KEYS,
  type PretrainedOptions,
  readStepOptions,
  resolveSchedulerOptions,
  SchedulerBase,
  type SchedulerOptions,
  type StepOptions,
  type StepOutput,
  splitPretrainedOptions,
  type TimestepsChoice,
  zeroSnrEpsilonError,
} from './scheduler.js';
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
  /** The inverse step clips x0 when clip_sample is set; it has no thresholding. */
  private readonly bound: X0Bound;

  constructor(config: Partial<DDIMInverseConfig> = {}, options?: SchedulerOptions) {
    const resolvedOptions = resolveSchedulerOptions(options);
    const { config: resolved } = resolveDDIMInverseConfig(config, undefined, resolvedOptions);
    const T = resolved.num_train_timesteps;
    // Before setTimesteps diffusers holds every training timestep, ascending.
    const all = new Int32Array(T);
    for (let i = 0; i < T; i++) all[i] = i;
    super(resolved, all, resolvedOptions);
    this.initialAlphaCumprod = resolved.set_alpha_to_one ? 1 : this.alphasCumprod[0];
    this.bound = resolved.clip_sample
      ? { kind: 'clip', range: resolved.clip_sample_range }
      : { kind: 'none' };
  }

  /** Like `DDIMScheduler.fromConfig`: any diffusers scheduler config, unused keys warned. */
  static fromConfig(
    config: unknown,
    overrides?: Partial<DDIMInverseConfig>,
    options?: SchedulerOptions,
  ): DDIMInverseScheduler {
    const o = resolveSchedulerOptions(options);
    const { config: resolved } = resolveDDIMInverseConfig(config, overrides, o);
    return new DDIMInverseScheduler(resolved as DDIMInverseConfig, { ...o, onWarning: () => {} });
  }

  /** Like `DDIMScheduler.fromPretrained`: a Hub repo id, a URL, or (Node) a local folder or file. */
  static async fromPretrained(
    source: string,
    options: PretrainedOptions<DDIMInverseConfig> = {},
  ): Promise<DDIMInverseScheduler> {
    const { schedulerOptions, load, overrides } = splitPretrainedOptions<DDIMInverseConfig>(options);
    const { config } = await loadSchedulerConfig(source, load);
    return DDIMInverseScheduler.fromConfig(config, overrides, schedulerOptions);
  }

  get className(): string {
    return 'DDIMInverseScheduler';
  }

  /**
   * Ascending inference timesteps. `setTimesteps(n)` is diffusers' `set_timesteps(n)` (spacing
   * leading or trailing). `setTimesteps({ timesteps })` takes your own strictly increasing list
   * (e.g. a sampling list reversed, to invert exactly the levels you will sample back through):
   * the step to `timesteps[i]` starts from `timesteps[i - 1]`, the first from `initialAlphaCumprod`.
   */
  setTimesteps(choice: TimestepsChoice): this {
    const c = this.config;
    const { timesteps, numInferenceSteps, custom } = this.chooseTimesteps(choice, 'ascending', (n) =>
      ddimInverseTimesteps(c.num_train_timesteps, n, c.timestep_spacing, c.steps_offset),
    );
    if (c.prediction_type !== 'v_prediction') {
      // Inversion divides by the alpha_bar it starts from (epsilon), which is 0 only at T - 1; a
      // list step never starts there, and diffusers' stride only past the end (steps_offset >= 2,
      // n = T). A "sample" model instead divides by 1 - alpha_bar, which is 0 at the start level 1
      // (set_alpha_to_one).
      const T = c.num_train_timesteps;
      for (let i = 0; i < timesteps.length; i++) {
        const from =
          custom || this.previousTimestepRule === 'schedule'
            ? i > 0
              ? timesteps[i - 1]
              : -1
            : strideInverseStartTimestep(timesteps[i], T, numInferenceSteps);
        // Not alphaBarAt: the list is not committed yet, and a list element past the end (n = T
        // with steps_offset) reads alpha_bar[T - 1], as alphaBarAt will once it is.
        this.checkStartLevel(
          from,
          from < 0 ? this.initialAlphaCumprod : this.alphasCumprod[Math.min(from, T - 1)],
        );
      }
    }
    this.commitTimesteps(timesteps, numInferenceSteps, custom);
    return this;
  }

  /**
   * The less noisy level a step to `timestep` starts from, -1 for "before the start"
   * (initialAlphaCumprod): diffusers' min(t - T // n, T - 1) with the default rule "stride"; the
   * list element before `timestep` with rule "schedule" or custom timesteps.
   */
  previousTimestep(timestep: number): number {
    const n = this.requireTimesteps();
    const t = this.checkTimestep(timestep);
    if (this.stepsFollowList) return scheduleInverseStartTimestep(this.schedule, t);
    return strideInverseStartTimestep(t, this.config.num_train_timesteps, n);
  }

  /**
   * alpha_bar at a timestep, or initialAlphaCumprod for -1 (before the start). A scheduled
   * timestep past the training range (n = T with steps_offset, diffusers #10003) reads alpha_bar[T - 1].
   */
  alphaBarAt(timestep: number): number {
    // Exactly -1, as previousTimestep returns it: any other negative is a mistake.
    return timestep === -1 ? this.initialAlphaCumprod : this.alphasCumprod[this.alphaIndex(timestep)];
  }

  /**
   * Refuse a start level the prediction type cannot step from (before any model call when
   * called from setTimesteps): epsilon at alpha_bar 0 (zero terminal SNR, diffusers #3851), and
   * "sample" at alpha_bar 1, where eps = (x - sqrt(1) x0) / sqrt(1 - 1) is 0 / 0 (diffusers
   * returns NaN for the whole first inversion step).
   */
  private checkStartLevel(from: number, a: number): void {
    const prediction = this.config.prediction_type;
    if (a === 0 && prediction === 'epsilon') throw zeroSnrEpsilonError(from);
    if (a === 1 && prediction === 'sample') {
      throw new ConfigError({
        field: 'prediction_type',
        value: 'sample',
        problem:
          'cannot start an inversion step from alpha_bar = 1 (set_alpha_to_one): a "sample" model gives x0, and eps = (x - x0) / sqrt(1 - alpha_bar) is 0 / 0 there',
        fix: 'set set_alpha_to_one to false (the first step then starts from alpha_bar_0), or use an epsilon or v_prediction model.',
      });
    }
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
    const settings = readStepOptions(options, INVERSE_STEP_OPTION_KEYS, this.stepSettings);
    const c = this.config;
    const from = this.previousTimestep(t);
    const alphaProdT = this.alphaBarAt(from);
    this.checkStartLevel(from, alphaProdT);
    const alphaProdNext = this.alphaBarAt(t);
    // eta = 0: the direction weight is sqrt(1 - alpha_bar_next), as in diffusers' inverse step.
    const coefficients = stepCoefficients(
      c.prediction_type,
      alphaProdT,
      alphaProdNext,
      0,
      0,
      this.coefficients,
    );
    // diffusers' inverse step never re-derives eps from the clipped x0.
    try {
      return this.runStep(modelOutput, sample, t, coefficients, this.bound, null, settings);
    } finally {
      this.releaseStepSettings();
    }
  }
}
