/**
 * `SchedulerBase`: what `DDIMScheduler` (ddim.ts) and `DDIMInverseScheduler` (ddim-inverse.ts)
 * share, a thin stateful shell over the pure schedule, timestep and step functions with
 * diffusers' names and behaviour (scheduling_ddim.py): the schedule arrays, the timestep list and
 * its rule, the forward process, and the validated call of the fused step (step.ts). No I/O:
 * loading and saving are pretrained.ts'.
 */

import { ArgumentError, StateError } from '../errors.js';
import { guarded, unreadable } from '../guard.js';

import { GeneratorCheckpoint } from '../noise/generator.js';
import { randnInto } from '../noise/randn.js';
import type { DType, Tensor, TensorData, TensorLike } from '../tensor/tensor.js';
import { checkSameDims, checkTensor } from '../tensor/tensor.js';
import { kernelsFor } from '../wasm/backend.js';
import type { DDIMConfig, DDIMInverseConfig } from './config.js';
import { configToJSON } from './config.js';
import { checkTrainTimestep, type ForwardOptions, forwardProcess, type Timesteps } from './forward.js';
import type { ResolvedSchedulerOptions } from './options.js';
import { PREDICTIONS } from './prediction.js';
import { type DiffusersJsonOptions, savePretrained } from './pretrained.js';
import type { PreviousTimestepRule } from './previous-timestep.js';
import {
  alphasFromBetas,
  betasForConfig,
  checkAlphasCumprod,
  checkEtaFits,
  clampZeroTerminalAlphaBar,
  cumprod,
  ddimVariance,
} from './schedule.js';
import {
  ddimStepKernel,
  newFoldedStep,
  type StepCoefficients,
  type StepKernelArgs,
  stepCoefficients,
  thresholdPrecision,
  type X0Bound,
  x0BoundFor,
} from './step.js';
import { checkOutOverlap, StepBuffers, stepNonFiniteError } from './step-buffers.js';
import { newStepSettings, readStepOptions, resetStepSettings, type StepOutput } from './step-options.js';
import { checkCustomTimesteps, type TimestepOrder } from './timesteps.js';

/** `setTimesteps`' argument: a step count (diffusers' lists) or `{ timesteps }`, your own list. */
export type TimestepsChoice =
  | number
  | {
      /** Integers in 0 .. T - 1, strictly decreasing (strictly increasing for the inverse scheduler). */
      timesteps: ArrayLike<number> | ArrayLike<bigint>;
    };

/** Placeholder for the kernel's array arguments between steps. */
const NO_DATA = new Float32Array(0);

/**
 * Shared by DDIMScheduler and DDIMInverseScheduler, which differ only in the direction they step
 * (towards the data, or away from it), their timestep lists, and which neighbour of a timestep a
 * step pairs it with (`previousIn`).
 */
export abstract class SchedulerBase<C extends DDIMConfig | DDIMInverseConfig> {
  /** The complete config (defaults filled), frozen, with diffusers' snake_case keys. */
  readonly config: Readonly<C>;
  /** beta_t for every training timestep: diffusers' float32 values, as float64. */
  readonly betas: Float64Array;
  /** alpha_t = 1 - beta_t for every training timestep. */
  readonly alphas: Float64Array;
  /** alpha_bar_t, the cumulative product of alphas. */
  readonly alphasCumprod: Float64Array;
  /** Standard deviation of the initial noise (1 for DDIM). */
  readonly initNoiseSigma = 1;
  /** Model evaluations per step (1 for DDIM). */
  readonly order = 1;

  /** The previous-step rule in force (scheduler option `previousTimestepRule`; default "stride"). */
  readonly previousTimestepRule: PreviousTimestepRule;
  /** Whether alpha_bar[T - 1] = 0 was replaced by 2^-24 (scheduler option `clampZeroTerminalSnr`). */
  readonly clampZeroTerminalSnr: boolean;

  /**
   * alpha_bar at "timestep -1", the clean end of the schedule: 1 when `set_alpha_to_one`, else
   * alpha_bar_0 (Stable Diffusion's choice, with steps_offset 1). diffusers' `final_alpha_cumprod`
   * (where the last sampling step lands) and `initial_alpha_cumprod` (where inversion starts).
   */
  protected readonly cleanAlphaCumprod: number;
  /** How x0 is bounded (diffusers step 4). */
  private readonly bound: X0Bound;
  /** 'descending' for sampling (a step goes from t to the timestep it pairs with), 'ascending' for inversion. */
  private readonly direction: TimestepOrder;

  /** The schedule the scheduler works from; `timesteps` hands out a copy of it. */
  private schedule: Int32Array;
  /** Where the schedule came from: none yet (every training timestep), `setTimesteps(n)`, or a custom list. */
  private scheduleSource: 'none' | 'count' | 'custom' = 'none';
  private publicTimesteps: Int32Array;

  /**
   * Per-step scratch, reused so that a step with `out` buffers allocates (next to) nothing: the
   * step's scalars, the kernel's arguments, thresholding's |x0|, the drawn eta > 0 noise, the
   * step options.
   */
  private readonly coefficients: StepCoefficients = stepCoefficients('epsilon', 1, 1, 0, 0);
  private readonly kernelArgs: StepKernelArgs = {
    coefficients: this.coefficients,
    bound: { kind: 'none' },
    useClippedModelOutput: false,
    batch: 0,
    sample: NO_DATA,
    sampleType: 'float32',
    modelOutput: NO_DATA,
    modelOutputType: 'float32',
    noise: null,
    noiseType: 'float32',
    prevSample: NO_DATA,
    predOriginalSample: NO_DATA,
    outType: 'float32',
    scratch: undefined,
    folded: newFoldedStep(),
  };
  private readonly buffers = new StepBuffers();
  private readonly stepSettings = newStepSettings();
  /** Generator states saved before a step draws noise, restored if the step then throws. */
  private readonly generatorCheckpoint = new GeneratorCheckpoint();

  protected constructor(config: Readonly<C>, options: ResolvedSchedulerOptions, direction: TimestepOrder) {
    this.config = config;
    this.previousTimestepRule = options.previousTimestepRule;
    this.clampZeroTerminalSnr = options.clampZeroTerminalSnr;
    this.direction = direction;
    this.betas = betasForConfig(config);
    this.alphas = alphasFromBetas(this.betas);
    const alphasCumprod = cumprod(this.alphas);
    // betas / alphas stay as they are (as in diffusers' Euler scheduler): only alpha_bar moves.
    this.alphasCumprod = options.clampZeroTerminalSnr
      ? clampZeroTerminalAlphaBar(alphasCumprod)
      : alphasCumprod;
    // A config whose alpha_bar reaches 0 or stops decreasing in float32 (the values diffusers
    // steps with) would divide by zero mid-run: refused here, before the scheduler exists.
    checkAlphasCumprod(this.alphasCumprod, config, options.clampZeroTerminalSnr);
    this.cleanAlphaCumprod = config.set_alpha_to_one ? 1 : this.alphasCumprod[0];
    this.bound = x0BoundFor(config);
    // Before setTimesteps diffusers holds every training timestep, in stepping order.
    const T = config.num_train_timesteps;
    this.schedule = Int32Array.from({ length: T }, (_, i) => (direction === 'descending' ? T - 1 - i : i));
    this.publicTimesteps = this.schedule.slice();
  }

  /** The class name diffusers writes as `_class_name`. */
  abstract get className(): string;

  /** diffusers' list of `numInferenceSteps` timesteps for this scheduler's config, in stepping order. */
  protected abstract timestepsFor(numInferenceSteps: number): Int32Array;

  /**
   * The timestep a step from (sampling) or to (inversion) the validated timestep `t` pairs it
   * with, given a schedule and whether steps follow that list; -1 is the clean end.
   */
  protected abstract previousIn(schedule: Int32Array, followsList: boolean, t: number): number;

  /** Number of inference steps, or null until `setTimesteps` is called. */
  get numInferenceSteps(): number | null {
    return this.scheduleSource === 'none' ? null : this.schedule.length;
  }

  /** The inference timesteps, in the order they are stepped. */
  get timesteps(): Int32Array {
    return this.publicTimesteps;
  }

  /** True after `setTimesteps({ timesteps })`: steps then always follow the list. */
  get customTimesteps(): boolean {
    return this.scheduleSource === 'custom';
  }

  /** Whether steps look their neighbour up in the schedule (custom list, or rule "schedule"). */
  private followsList(custom: boolean): boolean {
    return custom || this.previousTimestepRule === 'schedule';
  }

  /**
   * Choose the inference timesteps. `setTimesteps(n)` is diffusers' `set_timesteps(n)` (the same
   * integers for every spacing). `setTimesteps({ timesteps })` takes your own list of training
   * timesteps (diffusers #2165), strictly decreasing for DDIMScheduler (e.g.
   * `quadraticTimesteps(T, S)`, the DDIM paper's skip: each step then lands on the next one and
   * the last on `finalAlphaCumprod`, as diffusers' DDPM does with custom timesteps) and strictly
   * increasing for DDIMInverseScheduler (e.g. a sampling list reversed, to invert exactly the
   * levels you will sample back through: the step to `timesteps[i]` starts from `timesteps[i - 1]`,
   * the first from `initialAlphaCumprod`). A schedule the prediction type cannot step through
   * (alpha_bar 0 for epsilon, zero terminal SNR; an inversion of a "sample" model from alpha_bar 1)
   * is a ConfigError here, before any model call; the scheduler is unchanged when this throws.
   */
  setTimesteps(choice: TimestepsChoice): this {
    const { timesteps, custom } = this.chooseTimesteps(choice);
    const followsList = this.followsList(custom);
    for (let i = 0; i < timesteps.length; i++) {
      const from = this.startOf(timesteps, followsList, timesteps[i]);
      this.checkStartLevel(from, this.levelAt(from));
    }
    this.schedule = timesteps;
    this.publicTimesteps = timesteps.slice();
    this.scheduleSource = custom ? 'custom' : 'count';
    return this;
  }

  /** Read `setTimesteps`' argument: a step count (diffusers' lists), or `{ timesteps }`, validated as a custom list. */
  private chooseTimesteps(choice: unknown): { timesteps: Int32Array; custom: boolean } {
    if (typeof choice === 'number') return { timesteps: this.timestepsFor(choice), custom: false };
    const isOptions =
      choice !== null && typeof choice === 'object' && !Array.isArray(choice) && !ArrayBuffer.isView(choice);
    if (!isOptions) {
      throw new ArgumentError({
        field: 'setTimesteps',
        value: choice,
        problem: 'takes a number of inference steps or { timesteps: [...] }',
        fix:
          Array.isArray(choice) || ArrayBuffer.isView(choice)
            ? 'wrap the list: setTimesteps({ timesteps: list }).'
            : 'pass e.g. 50.',
      });
    }
    const { extra, list, has } = guarded(
      () => {
        const o = choice as Record<string, unknown>;
        return {
          extra: Object.keys(o).filter((k) => k !== 'timesteps'),
          has: Object.hasOwn(o, 'timesteps'),
          list: o.timesteps,
        };
      },
      unreadable(ArgumentError, 'setTimesteps', 'pass a plain { timesteps: [...] } object.'),
    );
    if (!has || extra.length > 0) {
      throw new ArgumentError({
        field: 'setTimesteps',
        value: choice,
        problem: `takes { timesteps } and nothing else${extra.length > 0 ? ` (unknown: ${extra.join(', ')})` : ''}`,
        fix: 'pass { timesteps: [...] }; a custom list sets the number of inference steps itself.',
      });
    }
    return {
      timesteps: checkCustomTimesteps(list, this.config.num_train_timesteps, this.direction),
      custom: true,
    };
  }

  /**
   * The timestep whose alpha_bar a step pairs `timestep` with; -1 is the clean end. For
   * DDIMScheduler, the timestep a step from `timestep` lands on (-1: past the end,
   * `finalAlphaCumprod`): with the default rule "stride" diffusers' `t - T // n` for every spacing
   * (even trailing / linspace, where it is not the next scheduled timestep); with rule "schedule"
   * or custom timesteps the next element of `timesteps` (for a timestep between listed ones, the
   * next listed one below it). For DDIMInverseScheduler, the less noisy level a step to
   * `timestep` starts from (-1: before the start, `initialAlphaCumprod`): diffusers'
   * min(t - T // n, T - 1) with "stride"; the listed timestep below `timestep` with "schedule" or
   * custom timesteps.
   */
  previousTimestep(timestep: number): number {
    this.requireTimesteps();
    return this.previousIn(
      this.schedule,
      this.followsList(this.customTimesteps),
      this.checkTimestep(timestep),
    );
  }

  /**
   * alpha_bar at a timestep, or at the clean end for -1 (`finalAlphaCumprod` / `initialAlphaCumprod`).
   * A scheduled timestep past the training range (n = T with steps_offset, diffusers #10003)
   * reads alpha_bar[T - 1].
   */
  alphaBarAt(timestep: number): number {
    // Exactly -1, as previousTimestep returns it: any other negative is a mistake, not "the end".
    return this.levelAt(timestep === -1 ? -1 : this.checkTimestep(timestep));
  }

  /** The level a step from (sampling) or to (inversion) the validated timestep `t` starts from. */
  private startOf(schedule: Int32Array, followsList: boolean, t: number): number {
    return this.direction === 'descending' ? t : this.previousIn(schedule, followsList, t);
  }

  /** alpha_bar of -1 (the clean end) or of a timestep checkTimestep accepted (past the end reads T - 1). */
  private levelAt(t: number): number {
    if (t === -1) return this.cleanAlphaCumprod;
    const last = this.config.num_train_timesteps - 1;
    return this.alphasCumprod[t < last ? t : last];
  }

  /**
   * Refuse a start level the prediction type cannot step from (before any model call when called
   * from setTimesteps): where its recovery of x0 / eps divides by zero (prediction.ts: epsilon at
   * alpha_bar 0, zero terminal SNR, diffusers #3851; "sample" at alpha_bar 1, where only an
   * inversion starts, and diffusers returns NaN for the whole first step).
   */
  private checkStartLevel(from: number, alphaBar: number): void {
    const singular = PREDICTIONS[this.config.prediction_type].singular;
    if (singular !== null && alphaBar === singular.alphaBar) throw singular.error(from);
  }

  /**
   * diffusers #10003: with "leading" spacing and steps_offset >= 1, n = T steps schedule the
   * timestep T (T = 1000: 1000, 999, ..., 1), one past the schedule; diffusers then fails with an
   * IndexError in `step`. Those lists are diffusers' (and the fixtures'), so `setTimesteps` keeps
   * them; instead a timestep >= T that the scheduler itself scheduled reads alpha_bar at T - 1.
   * The step from T is then an identity step (it lands on T - 1 as well): the loop makes one model
   * call more than needed and gives what 999, ..., 1 would. Any other timestep >= T is still an
   * ArgumentError.
   */
  private isScheduledPastEnd(timestep: number): boolean {
    return (
      timestep >= this.config.num_train_timesteps &&
      this.scheduleSource !== 'none' &&
      this.schedule.includes(timestep)
    );
  }

  /**
   * A timestep for `step`, `previousTimestep`, `alphaBarAt`, `addNoise`: a training timestep (any
   * integer in 0 .. T - 1, scheduled or not, as in diffusers; a bigint is read as its number), or
   * one the scheduler scheduled past the end.
   */
  private checkTimestep(timestep: unknown, field = 'timestep'): number {
    const v =
      typeof timestep === 'bigint' && timestep >= 0n && timestep <= 2n ** 31n ? Number(timestep) : timestep;
    if (typeof v === 'number' && this.isScheduledPastEnd(v)) return v;
    return checkTrainTimestep(timestep, this.config.num_train_timesteps, field);
  }

  /** addNoise / getVelocity read scheduled past-the-end timesteps at T - 1, like steps do. */
  private readonly forwardResolver = (t: unknown, field: string): number =>
    Math.min(this.checkTimestep(t, field), this.config.num_train_timesteps - 1);

  private requireTimesteps(): void {
    if (this.scheduleSource === 'none') {
      throw new StateError({
        field: 'numInferenceSteps',
        value: null,
        problem: 'is not set: step() was called before setTimesteps()',
        fix: 'call scheduler.setTimesteps(numInferenceSteps) before the sampling loop.',
      });
    }
  }

  /** What diffusers' `save_config` writes (without `_diffusers_version`): `_class_name` and every config key. */
  toJSON(): Record<string, unknown> {
    return configToJSON(this.className, this.config);
  }

  /**
   * Write `${dir}/scheduler_config.json` exactly as diffusers' `save_pretrained` / `save_config`
   * does (`toJSON()` plus `_diffusers_version`, keys sorted), creating `dir`; diffusers'
   * `from_pretrained(dir)` reads it back. Needs the file system (Node): in a browser build it
   * throws a LoadError pointing at `toJSON()`. Returns the path written.
   */
  savePretrained(dir: string, options?: DiffusersJsonOptions): Promise<string> {
    return savePretrained(this.toJSON(), dir, options);
  }

  /**
   * Returns `sample` unchanged: DDIM needs no input scaling (diffusers' interface for K-samplers).
   * The sample is still checked, so a broken tensor fails here rather than inside the model.
   */
  scaleModelInput<T extends TensorLike>(sample: T, _timestep?: number): T {
    checkTensor(sample, 'sample');
    return sample;
  }

  /**
   * Forward process: sqrt(a_t) x0 + sqrt(1 - a_t) noise, per batch element. NaN / Inf results are
   * a NumericError unless `{ allowNonFinite: true }`.
   */
  addNoise(
    originalSamples: TensorLike,
    noise: TensorLike,
    timesteps: Timesteps,
    options?: ForwardOptions,
  ): Tensor {
    return forwardProcess(
      'addNoise',
      this.alphasCumprod,
      originalSamples,
      noise,
      timesteps,
      options,
      this.forwardResolver,
    );
  }

  /** The v_prediction target: sqrt(a_t) noise - sqrt(1 - a_t) sample (non-finite results as in addNoise). */
  getVelocity(sample: TensorLike, noise: TensorLike, timesteps: Timesteps, options?: ForwardOptions): Tensor {
    return forwardProcess(
      'getVelocity',
      this.alphasCumprod,
      sample,
      noise,
      timesteps,
      options,
      this.forwardResolver,
    );
  }

  /**
   * One DDIM step (eq. 12) between `timestep` and the timestep it pairs with: the subclasses'
   * `step`. Every argument is checked before anything is written or drawn; the step options are
   * dropped afterwards, so the scheduler keeps no reference to the caller's tensors.
   */
  protected stepAt(
    modelOutput: TensorLike,
    timestep: number,
    sample: TensorLike,
    options: unknown,
    allowedOptions: ReadonlySet<string>,
  ): StepOutput {
    this.requireTimesteps();
    const t = this.checkTimestep(timestep);
    try {
      const settings = readStepOptions(options, allowedOptions, this.stepSettings);
      const other = this.previousIn(this.schedule, this.followsList(this.customTimesteps), t);
      const sampling = this.direction === 'descending';
      const from = sampling ? t : other;
      const to = sampling ? other : t;
      const alphaFrom = this.levelAt(from);
      this.checkStartLevel(from, alphaFrom);
      const alphaTo = this.levelAt(to);
      const eta = settings.eta;
      const variance = eta > 0 ? ddimVariance(alphaFrom, alphaTo) : 0;
      if (eta > 1) checkEtaFits(eta, variance, alphaTo, from, to);
      stepCoefficients(this.config.prediction_type, alphaFrom, alphaTo, eta, variance, this.coefficients);
      return this.runKernel(modelOutput, sample, t);
    } finally {
      resetStepSettings(this.stepSettings);
    }
  }

  /**
   * Validate the step's tensors and output buffers, run the fused kernel with the coefficients
   * of this step, check the result. O(dims) work besides the kernel's one pass; allocates nothing
   * of its own when both `out` buffers are given. The eta > 0 noise is `varianceNoise`, or a draw
   * from the generator option.
   */
  private runKernel(modelOutput: TensorLike, sample: TensorLike, timestep: number): StepOutput {
    const settings = this.stepSettings;
    const sampleType = checkTensor(sample, 'sample');
    const modelType = checkTensor(modelOutput, 'modelOutput');
    checkSameDims(sample, 'sample', modelOutput, 'modelOutput');
    // varianceNoise is checked whenever given (also with eta = 0), so a wrong tensor never waits
    // for the first eta > 0 step to fail.
    const given = settings.varianceNoise;
    let noiseType: DType = 'float32';
    if (given !== null) {
      noiseType = checkTensor(given, 'varianceNoise');
      checkSameDims(sample, 'sample', given, 'varianceNoise');
    }
    const result = this.buffers.outputs(settings.out, sample, sampleType);
    checkOutOverlap(result.prevSample, result.predOriginalSample, sample, modelOutput, given);
    const batch = sample.dims.length > 0 ? sample.dims[0] : 1;
    const threshold = this.bound.kind === 'threshold';
    const perElement = batch > 0 ? sample.data.length / batch : 0;
    const precision = thresholdPrecision(sampleType, modelType);
    // The step's own temporaries (drawn noise, thresholding's |x0|) in the memory of the kernel
    // instance the step runs on -- the arena the sample lives in, else the shared one -- so that
    // they are read in place; ordinary arrays on the JS path.
    this.buffers.placeTemporaries(
      kernelsFor(sample.data),
      settings.eta > 0 && given === null ? modelType : null,
      sample.data.length,
      threshold ? precision : null,
      perElement,
    );
    // Noise for eta > 0 (as diffusers, drawn even when this step's variance is 0). Drawn only now,
    // after every input check, so a rejected call leaves the generator where it was, into a
    // buffer the scheduler keeps, so steps allocate nothing.
    const useGiven = settings.eta > 0 && given !== null;
    const draw = settings.eta > 0 && given === null;
    let noiseData: TensorData | null = useGiven ? given.data : null;
    if (draw) {
      // diffusers: randn_tensor(model_output.shape, generator, dtype=model_output.dtype). In torch
      // each dtype is its own stream, so the noise is drawn in the model output's dtype (float16
      // model: torch's float16 numbers, not float32 ones rounded) and the kernel converts it.
      const scratch = this.buffers.noiseFor(modelType, sample.data.length);
      // If the result turns out non-finite, the draw is undone: after the error the caller's
      // generators are where they were, and a retry draws the same noise.
      this.generatorCheckpoint.save(settings.generator);
      randnInto(scratch, sample.dims, settings.generator);
      noiseType = modelType;
      noiseData = scratch;
    }
    const args = this.kernelArgs;
    args.bound = this.bound;
    args.useClippedModelOutput = settings.useClippedModelOutput;
    args.batch = batch;
    args.sample = sample.data;
    args.sampleType = sampleType;
    args.modelOutput = modelOutput.data;
    args.modelOutputType = modelType;
    args.noise = noiseData;
    args.noiseType = noiseType;
    args.prevSample = result.prevSample.data;
    args.predOriginalSample = result.predOriginalSample.data;
    args.outType = sampleType;
    args.scratch = threshold ? this.buffers.thresholdScratch(perElement, precision) : undefined;
    const finite = ddimStepKernel(args);
    // Drop the references to the caller's arrays so the scheduler does not keep them alive, nor a
    // finished sampling loop's kernel memory (the temporaries may be views of its arena).
    args.sample = args.modelOutput = args.prevSample = args.predOriginalSample = NO_DATA;
    args.noise = null;
    args.scratch = undefined;
    this.buffers.releaseTemporaries();
    if (!finite && !settings.allowNonFinite) {
      // The kernel's test is cheap and may be cautious (huge but finite values); this scan is exact.
      const error = stepNonFiniteError(
        timestep,
        modelOutput,
        modelType,
        sample,
        sampleType,
        useGiven ? given : null,
        noiseType,
        result,
      );
      if (error !== null) {
        if (draw) {
          this.generatorCheckpoint.restore();
          this.generatorCheckpoint.release();
        }
        throw error;
      }
    }
    if (draw) this.generatorCheckpoint.release();
    return result;
  }
}
