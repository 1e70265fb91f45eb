/**
 * `DDIMScheduler`: a thin stateful shell over the pure schedule, timestep and step functions,
 * with diffusers' names and behaviour (scheduling_ddim.py).
 */
import type { ConfigOptions, DDIMConfig, DDIMInverseConfig } from './config.js';
import { configToJSON, resolveDDIMConfig } from './config.js';
import type { DiffusersJsonOptions } from './diffusers-json.js';
import { ArgumentError, ConfigError, NumericError, StateError } from './errors.js';
import { addNoise, checkTrainTimestep, getVelocity, type Timesteps } from './forward.js';
import { type FromPretrainedOptions, loadSchedulerConfig, saveSchedulerConfig } from './hub.js';
import { type GeneratorOption, randnInto } from './noise.js';
import {
  PREVIOUS_TIMESTEP_RULES,
  type PreviousTimestepRule,
  schedulePreviousTimestep,
  stridePreviousTimestep,
} from './previous-timestep.js';
import {
  alphasFromBetas,
  betasForConfig,
  clampZeroTerminalAlphaBar,
  cumprod,
  ddimVariance,
} from './schedule.js';
import {
  ddimStepKernel,
  type FloatData,
  type StepCoefficients,
  type StepKernelArgs,
  stepCoefficients,
  thresholdPrecision,
  type X0Bound,
} from './step.js';
import type { DType, Tensor, TensorData, TensorLike } from './tensor.js';
import { checkSameDims, checkTensor, emptyLike, float16Table } from './tensor.js';
import { checkCustomTimesteps, ddimTimesteps, type TimestepOrder } from './timesteps.js';

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

/** `fromPretrained` options: where to load from, config overrides, and the scheduler options. */
export type PretrainedOptions<C> = FromPretrainedOptions<C> &
  Pick<SchedulerOptions, 'previousTimestepRule' | 'clampZeroTerminalSnr'>;

/**
 * The scheduler options carried by `fromPretrained`'s options, validated before anything is
 * loaded (a bad option fails fast, without a network round trip).
 */
export function pretrainedSchedulerOptions(options: unknown): SchedulerOptions {
  const o = options !== null && typeof options === 'object' ? (options as SchedulerOptions) : {};
  const picked = {
    previousTimestepRule: o.previousTimestepRule,
    clampZeroTerminalSnr: o.clampZeroTerminalSnr,
  };
  return { ...resolveSchedulerOptions(picked), onWarning: o.onWarning };
}

/** `setTimesteps`' argument: a step count (diffusers' lists) or `{ timesteps }`, your own list. */
export type TimestepsChoice = number | { timesteps: ArrayLike<number> | ArrayLike<bigint> };

const OPTION_KEYS = new Set(['onWarning', 'previousTimestepRule', 'clampZeroTerminalSnr']);

interface ResolvedSchedulerOptions {
  previousTimestepRule: PreviousTimestepRule;
  clampZeroTerminalSnr: boolean;
}

/** Validate scheduler options; unknown keys are errors, so a misspelt fix is never silently off. */
export function resolveSchedulerOptions(options: unknown): ResolvedSchedulerOptions {
  if (options === undefined || options === null) {
    return { previousTimestepRule: 'stride', clampZeroTerminalSnr: false };
  }
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new ArgumentError({
      field: 'options',
      value: options,
      problem: 'must be an object',
      fix: "pass e.g. { previousTimestepRule: 'schedule' }, or nothing.",
    });
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!OPTION_KEYS.has(key)) {
      throw new ArgumentError({
        field: `options.${key}`,
        value: o[key],
        problem: 'is not a scheduler option',
        fix: `use one of ${[...OPTION_KEYS].join(', ')}; diffusers config keys go in the config (or overrides).`,
      });
    }
  }
  const rule = o.previousTimestepRule ?? 'stride';
  if (!PREVIOUS_TIMESTEP_RULES.includes(rule as PreviousTimestepRule)) {
    throw new ArgumentError({
      field: 'options.previousTimestepRule',
      value: rule,
      problem: `must be one of ${PREVIOUS_TIMESTEP_RULES.map((r) => JSON.stringify(r)).join(', ')}`,
      fix: '"stride" gives diffusers\' results; "schedule" lands each step on the next scheduled timestep.',
    });
  }
  const clamp = o.clampZeroTerminalSnr ?? false;
  if (typeof clamp !== 'boolean') {
    throw new ArgumentError({
      field: 'options.clampZeroTerminalSnr',
      value: clamp,
      problem: 'must be a boolean',
      fix: 'pass true or false.',
    });
  }
  if (o.onWarning !== undefined && typeof o.onWarning !== 'function') {
    throw new ArgumentError({
      field: 'options.onWarning',
      value: o.onWarning,
      problem: 'must be a function',
      fix: 'pass (message) => { ... }, or leave it out for console.warn.',
    });
  }
  return { previousTimestepRule: rule as PreviousTimestepRule, clampZeroTerminalSnr: clamp };
}

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
    fix: 'use a model trained with prediction_type "v_prediction" (as Lin et al. 2023 do for zero SNR), or pass { clampZeroTerminalSnr: true } in the scheduler options to set alpha_bar[T - 1] = 2^-24 as diffusers\' EulerDiscreteScheduler does, or use timestep_spacing "leading", which never schedules the last timestep.',
  });
}

/** Placeholder for the kernel's array arguments between steps. */
const NO_DATA = new Float32Array(0);

export interface StepOutput {
  /** x_{t-1}: the next model input. */
  prevSample: Tensor;
  /** The predicted x0 (after clipping / thresholding): a preview of the final result. */
  predOriginalSample: Tensor;
}

/** Buffers to write a step's results into, so a sampling loop allocates nothing per step. */
export interface StepOutBuffers {
  prevSample?: TensorLike;
  predOriginalSample?: TensorLike;
}

export interface StepOptions {
  /** DDIM's eta (eq. 16): 0 is deterministic DDIM, 1 is DDPM-like ancestral sampling. Default 0. */
  eta?: number;
  /** Re-derive the noise prediction from the clipped x0 (Glide). Default false. */
  useClippedModelOutput?: boolean;
  /**
   * Where the eta > 0 noise comes from, as in diffusers: `randn_tensor(model_output.shape,
   * generator)`, i.e. `torch.randn` on this PyTorch-exact generator (a list: one generator per batch
   * element). Neither this nor `varianceNoise`: the module's default generator (see `manualSeed`).
   * Noise is always drawn in float32, even for float16 tensors (torch would draw float16 values
   * with a different algorithm on CPU; float32 noise is what a float32 pipeline draws).
   */
  generator?: GeneratorOption;
  /** The noise z for eta > 0, instead of drawing it (CycleDiffusion). Not together with `generator`. */
  varianceNoise?: TensorLike | null;
  /** Write results into these tensors (same dims and dtype as `sample`; may alias `sample`). */
  out?: StepOutBuffers;
  /**
   * Let NaN / Inf through instead of throwing a NumericError. Default false: a non-finite value in
   * the result means the model or the schedule broke, and silently propagating it wastes the run.
   */
  allowNonFinite?: boolean;
}

/** Shared by DDIMScheduler and DDIMInverseScheduler: the schedule arrays and the forward process. */
export abstract class SchedulerBase<C extends DDIMConfig | DDIMInverseConfig> {
  /** The complete config (defaults filled), frozen, with diffusers' snake_case keys. */
  readonly config: Readonly<C>;
  readonly betas: Float64Array;
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

  protected numInferenceStepsValue: number | null = null;
  /** The schedule the scheduler works from; `timesteps` hands out a copy of it. */
  protected schedule: Int32Array;
  /** True when the schedule came from `setTimesteps({ timesteps })`. */
  protected customSchedule = false;
  private publicTimesteps: Int32Array;
  /**
   * Per-step scratch, reused so that a step with `out` buffers allocates (next to) nothing: the
   * step's scalars, the kernel's arguments, thresholding's |x0|, the drawn eta > 0 noise.
   */
  protected readonly coefficients: StepCoefficients = stepCoefficients('epsilon', 1, 1, 0, 0);
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
  };
  private thresholdScratch: FloatData | null = null;
  private noiseScratch: Float32Array | null = null;
  /**
   * The results handed back for the last two pairs of `out` buffers (see StepOptions.out): two,
   * so that a loop alternating ping-pong buffers allocates nothing either.
   */
  private readonly outResults: (OutResult | null)[] = [null, null];

  protected constructor(
    config: Readonly<C>,
    initialTimesteps: Int32Array,
    options: ResolvedSchedulerOptions,
  ) {
    this.config = config;
    this.previousTimestepRule = options.previousTimestepRule;
    this.clampZeroTerminalSnr = options.clampZeroTerminalSnr;
    this.betas = betasForConfig(config);
    this.alphas = alphasFromBetas(this.betas);
    const alphasCumprod = cumprod(this.alphas);
    // betas / alphas stay as they are (as in diffusers' Euler scheduler): only alpha_bar moves.
    this.alphasCumprod = options.clampZeroTerminalSnr
      ? clampZeroTerminalAlphaBar(alphasCumprod)
      : alphasCumprod;
    this.schedule = initialTimesteps;
    this.publicTimesteps = initialTimesteps.slice();
  }

  /** The class name diffusers writes as `_class_name`. */
  abstract get className(): string;

  /** Number of inference steps, or null until `setTimesteps` is called. */
  get numInferenceSteps(): number | null {
    return this.numInferenceStepsValue;
  }

  /** The inference timesteps, in the order they are stepped. */
  get timesteps(): Int32Array {
    return this.publicTimesteps;
  }

  /** True after `setTimesteps({ timesteps })`: steps then always follow the list. */
  get customTimesteps(): boolean {
    return this.customSchedule;
  }

  /** Whether the previous step is looked up in the schedule (custom list, or rule "schedule"). */
  protected get stepsFollowList(): boolean {
    return this.customSchedule || this.previousTimestepRule === 'schedule';
  }

  protected commitTimesteps(timesteps: Int32Array, numInferenceSteps: number, custom: boolean): void {
    this.schedule = timesteps;
    this.publicTimesteps = timesteps.slice();
    this.numInferenceStepsValue = numInferenceSteps;
    this.customSchedule = custom;
  }

  /**
   * Read `setTimesteps`' argument: a step count goes to `fromCount` (diffusers' lists), and
   * `{ timesteps }` is validated as a custom list in the given order.
   */
  protected chooseTimesteps(
    choice: unknown,
    order: TimestepOrder,
    fromCount: (numInferenceSteps: number) => Int32Array,
  ): { timesteps: Int32Array; numInferenceSteps: number; custom: boolean } {
    if (typeof choice === 'number') {
      const timesteps = fromCount(choice);
      return { timesteps, numInferenceSteps: choice, custom: false };
    }
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
    const o = choice as Record<string, unknown>;
    const extra = Object.keys(o).filter((k) => k !== 'timesteps');
    if (!Object.hasOwn(o, 'timesteps') || extra.length > 0) {
      throw new ArgumentError({
        field: 'setTimesteps',
        value: choice,
        problem: `takes { timesteps } and nothing else${extra.length > 0 ? ` (unknown: ${extra.join(', ')})` : ''}`,
        fix: 'pass { timesteps: [...] }; a custom list sets the number of inference steps itself.',
      });
    }
    const timesteps = checkCustomTimesteps(o.timesteps, this.config.num_train_timesteps, order);
    return { timesteps, numInferenceSteps: timesteps.length, custom: true };
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
  protected isScheduledPastEnd(timestep: number): boolean {
    return (
      timestep >= this.config.num_train_timesteps &&
      this.numInferenceStepsValue !== null &&
      this.schedule.includes(timestep)
    );
  }

  /** The alpha_bar index of a timestep: itself, or T - 1 for a scheduled timestep past the end. */
  protected alphaIndex(timestep: number): number {
    if (typeof timestep === 'number' && this.isScheduledPastEnd(timestep)) {
      return this.config.num_train_timesteps - 1;
    }
    return checkTrainTimestep(timestep, this.config.num_train_timesteps);
  }

  /** `timesteps` for addNoise / getVelocity with scheduled past-the-end timesteps read at T - 1. */
  private forwardTimesteps(timesteps: Timesteps): Timesteps {
    const T = this.config.num_train_timesteps;
    if (typeof timesteps === 'number') return this.isScheduledPastEnd(timesteps) ? T - 1 : timesteps;
    if (!(Array.isArray(timesteps) || ArrayBuffer.isView(timesteps))) return timesteps;
    const list = timesteps as ArrayLike<number | bigint>;
    let any = false;
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      if (typeof v === 'number' && this.isScheduledPastEnd(v)) any = true;
    }
    if (!any) return timesteps;
    return Array.from(list, (v) =>
      typeof v === 'number' && this.isScheduledPastEnd(v) ? T - 1 : v,
    ) as number[];
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
    return saveSchedulerConfig(dir, this.toJSON(), options);
  }

  /** Returns `sample` unchanged: DDIM needs no input scaling (diffusers' interface for K-samplers). */
  scaleModelInput<T extends TensorLike>(sample: T, _timestep?: number): T {
    return sample;
  }

  /** Forward process: sqrt(a_t) x0 + sqrt(1 - a_t) noise, per batch element. */
  addNoise(originalSamples: TensorLike, noise: TensorLike, timesteps: Timesteps): Tensor {
    return addNoise(this.alphasCumprod, originalSamples, noise, this.forwardTimesteps(timesteps));
  }

  /** The v_prediction target: sqrt(a_t) noise - sqrt(1 - a_t) sample. */
  getVelocity(sample: TensorLike, noise: TensorLike, timesteps: Timesteps): Tensor {
    return getVelocity(this.alphasCumprod, sample, noise, this.forwardTimesteps(timesteps));
  }

  protected requireTimesteps(): number {
    if (this.numInferenceStepsValue === null) {
      throw new StateError({
        field: 'numInferenceSteps',
        value: null,
        problem: 'is not set: step() was called before setTimesteps()',
        fix: 'call scheduler.setTimesteps(numInferenceSteps) before the sampling loop.',
      });
    }
    return this.numInferenceStepsValue;
  }

  /** A timestep for `step`: a training timestep, or one the scheduler scheduled past the end. */
  protected checkTimestep(timestep: unknown): number {
    if (typeof timestep === 'number' && this.isScheduledPastEnd(timestep)) return timestep;
    return checkTrainTimestep(timestep, this.config.num_train_timesteps);
  }

  /**
   * Validate step inputs and output buffers, run the fused kernel, check the result. O(dims) work
   * besides the kernel's one pass; allocates nothing of its own when both `out` buffers are given.
   */
  protected runStep(
    modelOutput: TensorLike,
    sample: TensorLike,
    timestep: number,
    coefficients: StepCoefficients,
    bound: X0Bound,
    useClippedModelOutput: boolean,
    noise: NoiseSource | null,
    options: StepOptions,
  ): StepOutput {
    const sampleType = checkTensor(sample, 'sample');
    const modelType = checkTensor(modelOutput, 'modelOutput');
    checkSameDims(sample, 'sample', modelOutput, 'modelOutput');
    const result = this.outputsFor(options.out, sample, sampleType);
    const batch = sample.dims.length > 0 ? sample.dims[0] : 1;
    // Draw the noise only now, after every input check, so a rejected call leaves the generator
    // where it was. The draw goes into a buffer the scheduler keeps, so steps allocate nothing.
    let noiseData: TensorData | null = null;
    let noiseType: DType = 'float32';
    if (noise !== null && noise.kind === 'tensor') {
      noiseType = checkTensor(noise.tensor, 'varianceNoise');
      checkSameDims(sample, 'sample', noise.tensor, 'varianceNoise');
      noiseData = noise.tensor.data;
    } else if (noise !== null) {
      if (this.noiseScratch === null || this.noiseScratch.length !== sample.data.length) {
        this.noiseScratch = new Float32Array(sample.data.length);
      }
      randnInto(this.noiseScratch, sample.dims, noise.generator);
      noiseData = this.noiseScratch;
    }
    const args = this.kernelArgs;
    args.coefficients = coefficients;
    args.bound = bound;
    args.useClippedModelOutput = useClippedModelOutput;
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
    args.scratch =
      bound.kind === 'threshold'
        ? this.scratchFor(
            batch > 0 ? sample.data.length / batch : 0,
            thresholdPrecision(sampleType, modelType),
          )
        : undefined;
    const finite = ddimStepKernel(args);
    // Drop the references to the caller's arrays so the scheduler does not keep them alive.
    args.sample = args.modelOutput = args.prevSample = args.predOriginalSample = NO_DATA;
    args.noise = null;
    if (!finite && options.allowNonFinite !== true) {
      throw nonFiniteError(timestep, modelOutput, modelType, sample, sampleType);
    }
    return result;
  }

  private scratchFor(length: number, precision: 'float32' | 'float64'): FloatData {
    const s = this.thresholdScratch;
    if (s !== null && s.length >= length && s instanceof Float64Array === (precision === 'float64')) return s;
    const fresh = precision === 'float64' ? new Float64Array(length) : new Float32Array(length);
    this.thresholdScratch = fresh;
    return fresh;
  }

  /** The result tensors: the validated `out` buffers (last steps' results when they are the same), or new ones. */
  private outputsFor(out: StepOutBuffers | undefined, sample: TensorLike, sampleType: DType): StepOutput {
    const givenPrev = out?.prevSample;
    const givenX0 = out?.predOriginalSample;
    if (givenPrev !== undefined) checkOutBuffer(givenPrev, 'out.prevSample', sample, sampleType);
    if (givenX0 !== undefined) checkOutBuffer(givenX0, 'out.predOriginalSample', sample, sampleType);
    const cache = this.outResults;
    for (let i = 0; i < cache.length; i++) {
      const hit = cache[i];
      if (
        hit !== null &&
        hit.prev === givenPrev &&
        hit.x0 === givenX0 &&
        sameView(hit.result.prevSample, givenPrev) &&
        sameView(hit.result.predOriginalSample, givenX0)
      ) {
        return hit.result;
      }
    }
    const result: StepOutput = {
      prevSample: givenPrev === undefined ? emptyLike(sample, sampleType) : viewOf(givenPrev, sampleType),
      predOriginalSample: givenX0 === undefined ? emptyLike(sample, sampleType) : viewOf(givenX0, sampleType),
    };
    if (givenPrev !== undefined && givenX0 !== undefined) {
      cache[1] = cache[0];
      cache[0] = { prev: givenPrev, x0: givenX0, result };
    }
    return result;
  }
}

/** The eta > 0 noise of a step: a tensor the caller gave, or draws from a generator (null: the default one). */
type NoiseSource = { kind: 'tensor'; tensor: TensorLike } | { kind: 'generator'; generator: GeneratorOption };

interface OutResult {
  prev: TensorLike;
  x0: TensorLike;
  result: StepOutput;
}

function checkOutBuffer(given: TensorLike, field: string, sample: TensorLike, sampleType: DType): void {
  const type = checkTensor(given, field);
  checkSameDims(sample, 'sample', given, field);
  if (type !== sampleType) {
    throw new ArgumentError({
      field,
      value: type,
      problem: `has dtype ${type} but sample has ${sampleType}; results have the sample's dtype`,
      fix: `allocate ${field} with the same dtype as sample.`,
    });
  }
}

function viewOf(given: TensorLike, type: DType): Tensor {
  return { data: given.data, dims: [...given.dims], type };
}

/** Whether a result tensor we handed out still shows exactly the buffer `given` (same data, dims). */
function sameView(t: Tensor, given: TensorLike | undefined): boolean {
  if (given === undefined || t.data !== given.data || t.dims.length !== given.dims.length) return false;
  for (let i = 0; i < t.dims.length; i++) if (t.dims[i] !== given.dims[i]) return false;
  return true;
}

function firstNonFinite(data: TensorData, type: DType): number {
  const table = type === 'float16' ? float16Table() : null;
  for (let i = 0; i < data.length; i++) {
    const v = table === null ? data[i] : table[data[i]];
    if (!Number.isFinite(v)) return i;
  }
  return -1;
}

function nonFiniteError(
  timestep: number,
  modelOutput: TensorLike,
  modelType: DType,
  sample: TensorLike,
  sampleType: DType,
): NumericError {
  const badModel = firstNonFinite(modelOutput.data, modelType);
  if (badModel >= 0) {
    return new NumericError({
      field: `modelOutput[${badModel}]`,
      value:
        modelType === 'float16' ? float16Table()[modelOutput.data[badModel]] : modelOutput.data[badModel],
      problem: `is not finite at timestep ${timestep}`,
      fix: 'check the model (float16 overflow, bad weights, bad inputs); pass allowNonFinite: true to step anyway.',
    });
  }
  const badSample = firstNonFinite(sample.data, sampleType);
  if (badSample >= 0) {
    return new NumericError({
      field: `sample[${badSample}]`,
      value: sampleType === 'float16' ? float16Table()[sample.data[badSample]] : sample.data[badSample],
      problem: `is not finite at timestep ${timestep}`,
      fix: 'check the previous step and the initial latents; pass allowNonFinite: true to step anyway.',
    });
  }
  return new NumericError({
    field: 'prevSample',
    problem: `became non-finite at timestep ${timestep} although the inputs are finite`,
    fix: 'the schedule divides by zero here (zero terminal SNR needs prediction_type "v_prediction"), or the inputs are too large for the dtype.',
  });
}

export class DDIMScheduler extends SchedulerBase<DDIMConfig> {
  /**
   * alpha_bar used for the step after the last one (diffusers' `final_alpha_cumprod`): 1 when
   * `set_alpha_to_one`, else alpha_bar_0 (Stable Diffusion's choice, with steps_offset 1).
   */
  readonly finalAlphaCumprod: number;
  /** How x0 is bounded (diffusers step 4: thresholding takes precedence over clip_sample). */
  private readonly bound: X0Bound;

  constructor(config: Partial<DDIMConfig> = {}, options?: SchedulerOptions) {
    const resolvedOptions = resolveSchedulerOptions(options);
    const { config: resolved } = resolveDDIMConfig(config, undefined, options);
    const T = resolved.num_train_timesteps;
    // Before setTimesteps diffusers holds every training timestep, descending.
    const all = new Int32Array(T);
    for (let i = 0; i < T; i++) all[i] = T - 1 - i;
    super(resolved, all, resolvedOptions);
    this.finalAlphaCumprod = resolved.set_alpha_to_one ? 1 : this.alphasCumprod[0];
    this.bound = resolved.thresholding
      ? { kind: 'threshold', ratio: resolved.dynamic_thresholding_ratio, maxValue: resolved.sample_max_value }
      : resolved.clip_sample
        ? { kind: 'clip', range: resolved.clip_sample_range }
        : { kind: 'none' };
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
    const { config: resolved } = resolveDDIMConfig(config, overrides, options);
    return new DDIMScheduler(resolved as DDIMConfig, { ...o, onWarning: () => {} });
  }

  /**
   * Load a scheduler the way diffusers' `DDIMScheduler.from_pretrained` does: from a Hub repo id
   * (`'stabilityai/stable-diffusion-2-1'` with `{ subfolder: 'scheduler' }`), an http(s) URL, or
   * under Node a local folder or file and the Hugging Face cache. Any scheduler's config loads;
   * keys DDIM does not use go to `onWarning`. See `loadSchedulerConfig` for the loading options;
   * `previousTimestepRule` and `clampZeroTerminalSnr` are the scheduler options (SchedulerOptions).
   */
  static async fromPretrained(
    source: string,
    options: PretrainedOptions<DDIMConfig> = {},
  ): Promise<DDIMScheduler> {
    const schedulerOptions = pretrainedSchedulerOptions(options);
    const { config } = await loadSchedulerConfig(source, options);
    return DDIMScheduler.fromConfig(config, options.overrides, schedulerOptions);
  }

  get className(): string {
    return 'DDIMScheduler';
  }

  /**
   * Choose the inference timesteps. `setTimesteps(n)` is diffusers' `set_timesteps(n)` (the same
   * integers for every spacing). `setTimesteps({ timesteps })` takes your own strictly decreasing
   * list of training timesteps (diffusers #2165; e.g. `quadraticTimesteps(T, S)`, the DDIM paper's
   * skip): each step then lands on the next one and the last on `finalAlphaCumprod`, as diffusers'
   * DDPM does with custom timesteps. A schedule an epsilon model cannot step through (alpha_bar 0,
   * zero terminal SNR) is a ConfigError here, before any model call; the scheduler is unchanged
   * when this throws.
   */
  setTimesteps(choice: TimestepsChoice): this {
    const c = this.config;
    const { timesteps, numInferenceSteps, custom } = this.chooseTimesteps(choice, 'descending', (n) =>
      ddimTimesteps(c.num_train_timesteps, n, c.timestep_spacing, c.steps_offset),
    );
    if (c.prediction_type === 'epsilon') {
      const T = c.num_train_timesteps;
      // With "leading" spacing the last training timestep is never scheduled, so zero-SNR
      // schedules work there as in diffusers; trailing / linspace start at T - 1.
      for (const t of timesteps)
        if (this.alphasCumprod[Math.min(t, T - 1)] === 0) throw zeroSnrEpsilonError(t);
    }
    this.commitTimesteps(timesteps, numInferenceSteps, custom);
    return this;
  }

  /**
   * The timestep whose alpha_bar a step from `timestep` lands on, or -1 meaning "past the end"
   * (alpha_bar = finalAlphaCumprod). With the default rule "stride" this is diffusers' `t - T // n`
   * for every spacing (even trailing/linspace, where it is not the next scheduled timestep); with
   * rule "schedule" or custom timesteps it is the next element of `timesteps`.
   */
  previousTimestep(timestep: number): number {
    const n = this.requireTimesteps();
    if (this.stepsFollowList) return schedulePreviousTimestep(this.schedule, timestep);
    return stridePreviousTimestep(timestep, this.config.num_train_timesteps, n);
  }

  /**
   * alpha_bar at a timestep, or finalAlphaCumprod for -1 (past the end). A scheduled timestep
   * past the training range (n = T with steps_offset, diffusers #10003) reads alpha_bar[T - 1].
   */
  alphaBarAt(timestep: number): number {
    return timestep < 0 ? this.finalAlphaCumprod : this.alphasCumprod[this.alphaIndex(timestep)];
  }

  /** DDIM eq. 16's variance sigma_t^2 / eta^2 between `timestep` and `prevTimestep` (diffusers' `_get_variance`). */
  getVariance(timestep: number, prevTimestep: number): number {
    return ddimVariance(this.alphaBarAt(timestep), this.alphaBarAt(prevTimestep));
  }

  /**
   * One reverse step from `timestep` (DDIM eq. 12): returns x_{t-1} and the predicted x0.
   * Results have `sample`'s dtype and dims.
   */
  step(modelOutput: TensorLike, timestep: number, sample: TensorLike, options: StepOptions = {}): StepOutput {
    this.requireTimesteps();
    const t = this.checkTimestep(timestep);
    const eta = options.eta ?? 0;
    if (typeof eta !== 'number' || !Number.isFinite(eta) || eta < 0) {
      throw new ArgumentError({
        field: 'eta',
        value: eta,
        problem: 'must be a finite number >= 0',
        fix: 'use 0 for deterministic DDIM or 1 for DDPM-like sampling.',
      });
    }
    const c = this.config;
    const prev = this.previousTimestep(t);
    const alphaProdT = this.alphaBarAt(t);
    if (alphaProdT === 0 && c.prediction_type === 'epsilon') throw zeroSnrEpsilonError(t);
    const alphaProdPrev = this.alphaBarAt(prev);
    const coefficients = stepCoefficients(
      c.prediction_type,
      alphaProdT,
      alphaProdPrev,
      eta,
      eta > 0 ? ddimVariance(alphaProdT, alphaProdPrev) : 0,
      this.coefficients,
    );
    let noise: NoiseSource | null = null;
    if (eta > 0) {
      const given = options.varianceNoise ?? null;
      const generator = options.generator ?? null;
      if (given !== null && generator !== null) {
        // diffusers raises the same ValueError: the two would be two different noises.
        throw new ArgumentError({
          field: 'generator',
          value: 'a generator and varianceNoise',
          problem: 'cannot be given together with varianceNoise',
          fix: 'pass either generator (noise drawn like diffusers) or varianceNoise (your own noise), not both.',
        });
      }
      noise = given !== null ? { kind: 'tensor', tensor: given } : { kind: 'generator', generator };
    }
    return this.runStep(
      modelOutput,
      sample,
      t,
      coefficients,
      this.bound,
      options.useClippedModelOutput === true,
      noise,
      options,
    );
  }
}
