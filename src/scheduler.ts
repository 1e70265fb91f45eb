/**
 * `DDIMScheduler`: a thin stateful shell over the pure schedule, timestep and step functions,
 * with diffusers' names and behaviour (scheduling_ddim.py).
 */
import type { ConfigOptions, DDIMConfig, DDIMInverseConfig, WarningHandler } from './config.js';
import { configToJSON, resolveDDIMConfig } from './config.js';
import type { DiffusersJsonOptions } from './diffusers-json.js';
import { ArgumentError, ConfigError, NumericError, StateError } from './errors.js';
import { checkTrainTimestep, type ForwardOptions, forwardProcess, type Timesteps } from './forward.js';
import { checkOptionKeys, guarded, unreadable } from './guard.js';
import {
  type FromPretrainedOptions,
  LOAD_OPTION_KEYS,
  type LoadConfigOptions,
  loadSchedulerConfig,
  saveSchedulerConfig,
} from './hub.js';
import {
  type Generator,
  GeneratorCheckpoint,
  type GeneratorOption,
  isGenerator,
  randnInto,
} from './noise.js';
import {
  PREVIOUS_TIMESTEP_RULES,
  type PreviousTimestepRule,
  schedulePreviousTimestep,
  stridePreviousTimestep,
} from './previous-timestep.js';
import {
  alphasFromBetas,
  betasForConfig,
  checkAlphasCumprod,
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
import { checkSameDims, checkTensor, emptyLike, float16Table, memoryOverlap } from './tensor.js';
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
  const picked = guarded(
    () => {
      const o = options !== null && typeof options === 'object' ? (options as SchedulerOptions) : {};
      return {
        previousTimestepRule: o.previousTimestepRule,
        clampZeroTerminalSnr: o.clampZeroTerminalSnr,
        onWarning: o.onWarning,
      };
    },
    unreadable(ArgumentError, 'options', 'pass a plain options object.'),
  );
  const { onWarning, ...resolved } = resolveSchedulerOptions(picked);
  return onWarning === undefined ? resolved : { ...resolved, onWarning };
}

const PRETRAINED_EXTRA_KEYS: ReadonlySet<string> = new Set([
  'overrides',
  'previousTimestepRule',
  'clampZeroTerminalSnr',
]);

/**
 * `fromPretrained`'s options, read once and split: the scheduler options (validated), the load
 * options for `loadSchedulerConfig`, and the config overrides. Unknown keys are ArgumentErrors,
 * before anything is loaded.
 */
export function splitPretrainedOptions<C>(options: unknown): {
  schedulerOptions: SchedulerOptions;
  load: LoadConfigOptions;
  overrides: Partial<C> | undefined;
} {
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw new ArgumentError({
      field: 'options',
      value: options,
      problem: 'must be an options object',
      fix: "pass e.g. { subfolder: 'scheduler' }, or nothing.",
    });
  }
  const copy = guarded(
    () => {
      const c: Record<string, unknown> = {};
      for (const key of Object.keys(options ?? {})) c[key] = (options as Record<string, unknown>)[key];
      return c;
    },
    unreadable(ArgumentError, 'options', 'pass a plain options object.'),
  );
  for (const key of Object.keys(copy)) {
    if (!LOAD_OPTION_KEYS.has(key) && !PRETRAINED_EXTRA_KEYS.has(key)) {
      throw new ArgumentError({
        field: `options.${key}`,
        value: copy[key],
        problem: 'is not a fromPretrained option',
        fix: `use only ${[...LOAD_OPTION_KEYS, ...PRETRAINED_EXTRA_KEYS].join(', ')}; config keys go in overrides.`,
      });
    }
  }
  const schedulerOptions = pretrainedSchedulerOptions(copy);
  const { overrides, previousTimestepRule: _rule, clampZeroTerminalSnr: _clamp, ...load } = copy;
  return {
    schedulerOptions,
    load: load as LoadConfigOptions,
    overrides: overrides as Partial<C> | undefined,
  };
}

/** `setTimesteps`' argument: a step count (diffusers' lists) or `{ timesteps }`, your own list. */
export type TimestepsChoice = number | { timesteps: ArrayLike<number> | ArrayLike<bigint> };

const OPTION_KEYS = new Set(['onWarning', 'previousTimestepRule', 'clampZeroTerminalSnr']);

interface ResolvedSchedulerOptions {
  previousTimestepRule: PreviousTimestepRule;
  clampZeroTerminalSnr: boolean;
  /** Read once with the others, so the config layer never reads the caller's object again. */
  onWarning?: WarningHandler;
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
  // Copy the caller's object once (a Proxy or getter may throw, or answer differently each time).
  const o = guarded(
    () => {
      const copy: Record<string, unknown> = Object.create(null);
      for (const key of Object.keys(options)) copy[key] = (options as Record<string, unknown>)[key];
      return copy;
    },
    unreadable(ArgumentError, 'options', 'pass a plain options object.'),
  );
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
  const resolved: ResolvedSchedulerOptions = {
    previousTimestepRule: rule as PreviousTimestepRule,
    clampZeroTerminalSnr: clamp,
  };
  if (o.onWarning !== undefined) resolved.onWarning = o.onWarning as WarningHandler;
  return resolved;
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
  /**
   * Write results into these tensors (same dims and dtype as `sample`). Each may be exactly the
   * memory of an input (`sample`, `modelOutput`, `varianceNoise`): the pass reads element i
   * before writing it. Any other overlap is an ArgumentError: the two outputs sharing memory, or
   * a buffer overlapping an input at an offset (it would overwrite inputs not yet read).
   */
  out?: StepOutBuffers;
  /**
   * Let NaN / Inf through instead of throwing a NumericError. Default false: a non-finite value in
   * the result means the model or the schedule broke, and silently propagating it wastes the run.
   * Covers NaN / Inf inputs and finite results that overflow the output dtype (float16: 65504).
   */
  allowNonFinite?: boolean;
}

const STEP_OPTION_KEYS: ReadonlySet<string> = new Set([
  'eta',
  'useClippedModelOutput',
  'generator',
  'varianceNoise',
  'out',
  'allowNonFinite',
]);
/** The inverse step takes no eta, noise or clipped-output option: inversion is deterministic DDIM. */
export const INVERSE_STEP_OPTION_KEYS: ReadonlySet<string> = new Set(['out', 'allowNonFinite']);
const OUT_KEYS: ReadonlySet<string> = new Set(['prevSample', 'predOriginalSample']);

/** Step options after validation: read once from the caller's object, every field typed. */
export interface StepSettings {
  eta: number;
  useClippedModelOutput: boolean;
  generator: GeneratorOption;
  varianceNoise: TensorLike | null;
  out: StepOutBuffers;
  allowNonFinite: boolean;
}

/** Fresh step settings: the defaults. */
export function defaultStepSettings(): StepSettings {
  return {
    eta: 0,
    useClippedModelOutput: false,
    generator: null,
    varianceNoise: null,
    out: {},
    allowNonFinite: false,
  };
}

/**
 * Read and validate a step's options into `into` (a scheduler-owned object, reused every step so
 * that a step allocates nothing here). Each option is read once. Unknown keys are errors (as for
 * the scheduler options), so `{ etta: 1 }` or an inverse step given `eta` fails instead of
 * silently running without it.
 */
export function readStepOptions(
  options: unknown,
  allowed: ReadonlySet<string>,
  into: StepSettings = defaultStepSettings(),
): StepSettings {
  const settings = into;
  settings.eta = 0;
  settings.useClippedModelOutput = false;
  settings.generator = null;
  settings.varianceNoise = null;
  settings.out.prevSample = undefined;
  settings.out.predOriginalSample = undefined;
  settings.allowNonFinite = false;
  if (!checkOptionKeys(options, allowed, 'options', '{ eta: 0, out: { prevSample } }')) return settings;
  let eta: unknown;
  let useClipped: unknown;
  let generator: unknown;
  let varianceNoise: unknown;
  let out: unknown;
  let allowNonFinite: unknown;
  try {
    eta = options.eta;
    useClipped = options.useClippedModelOutput;
    generator = options.generator;
    varianceNoise = options.varianceNoise;
    out = options.out;
    allowNonFinite = options.allowNonFinite;
  } catch (error) {
    throw unreadable(ArgumentError, 'options', 'pass a plain options object.')(error);
  }
  if (eta !== undefined && eta !== null) {
    if (typeof eta !== 'number' || !Number.isFinite(eta) || eta < 0) {
      throw new ArgumentError({
        field: 'eta',
        value: eta,
        problem: 'must be a finite number >= 0',
        fix: 'use 0 for deterministic DDIM or 1 for DDPM-like sampling.',
      });
    }
    settings.eta = eta;
  }
  settings.useClippedModelOutput = checkFlag(useClipped, 'options.useClippedModelOutput');
  settings.allowNonFinite = checkFlag(allowNonFinite, 'options.allowNonFinite');
  if (generator !== undefined && generator !== null) settings.generator = checkGeneratorOption(generator);
  if (varianceNoise !== undefined && varianceNoise !== null)
    settings.varianceNoise = varianceNoise as TensorLike;
  if (settings.generator !== null && settings.varianceNoise !== null) {
    // diffusers raises the same ValueError: the two would be two different noises.
    throw new ArgumentError({
      field: 'generator',
      value: 'a generator and varianceNoise',
      problem: 'cannot be given together with varianceNoise',
      fix: 'pass either generator (noise drawn like diffusers) or varianceNoise (your own noise), not both.',
    });
  }
  if (checkOptionKeys(out, OUT_KEYS, 'out', '{ prevSample: buffer }')) {
    let prev: unknown;
    let x0: unknown;
    try {
      prev = out.prevSample;
      x0 = out.predOriginalSample;
    } catch (error) {
      throw unreadable(
        ArgumentError,
        'out',
        'pass a plain { prevSample, predOriginalSample } object.',
      )(error);
    }
    // The caller's tensor objects themselves (not copies): the out-result cache compares them.
    if (prev !== undefined && prev !== null) settings.out.prevSample = prev as TensorLike;
    if (x0 !== undefined && x0 !== null) settings.out.predOriginalSample = x0 as TensorLike;
  }
  return settings;
}

function checkFlag(value: unknown, field: string): boolean {
  if (value !== undefined && value !== null && typeof value !== 'boolean') {
    throw new ArgumentError({ field, value, problem: 'must be a boolean', fix: 'pass true or false.' });
  }
  return value === true;
}

/** A Generator, or a plain list of them; the list's length is checked against the batch when drawing. */
function checkGeneratorOption(generator: unknown): GeneratorOption {
  if (isGenerator(generator)) return generator;
  let bad = -1;
  let isList = false;
  try {
    isList = Array.isArray(generator);
    if (isList) {
      const list = generator as readonly unknown[];
      for (let i = 0; i < list.length && bad < 0; i++) if (!isGenerator(list[i])) bad = i;
    }
  } catch (error) {
    throw unreadable(ArgumentError, 'generator', 'pass a plain array of Generators.')(error);
  }
  if (!isList) {
    throw new ArgumentError({
      field: 'generator',
      value: generator,
      problem: 'must be a Generator or a list of Generators',
      fix: 'pass new Generator().manualSeed(seed), one per batch element, or nothing.',
    });
  }
  if (bad >= 0) {
    throw new ArgumentError({
      field: `generator[${bad}]`,
      value: (generator as readonly unknown[])[bad],
      problem: 'must be a Generator',
      fix: 'pass new Generator().manualSeed(seed) for every batch element.',
    });
  }
  return generator as readonly Generator[];
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
  /** Generator states saved before a step draws noise, restored if the step then throws. */
  private readonly generatorCheckpoint = new GeneratorCheckpoint();
  /** The step options, read into this object every step (see readStepOptions). */
  protected readonly stepSettings: StepSettings = defaultStepSettings();

  /** Drop the step's references to the caller's tensors and generators, so they are not kept alive. */
  protected releaseStepSettings(): void {
    const settings = this.stepSettings;
    settings.varianceNoise = null;
    settings.generator = null;
    settings.out.prevSample = undefined;
    settings.out.predOriginalSample = undefined;
  }

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
    // A config whose alpha_bar reaches 0 or stops decreasing in float64 would divide by zero
    // mid-run: refused here, before the scheduler exists.
    checkAlphasCumprod(this.alphasCumprod, config, options.clampZeroTerminalSnr);
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
    const timesteps = checkCustomTimesteps(list, this.config.num_train_timesteps, order);
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
  protected alphaIndex(timestep: unknown): number {
    const t = this.checkTimestep(timestep);
    return t >= this.config.num_train_timesteps ? this.config.num_train_timesteps - 1 : t;
  }

  /** addNoise / getVelocity read scheduled past-the-end timesteps at T - 1, like steps do. */
  private readonly forwardResolver = (t: unknown, field: string): number => {
    const T = this.config.num_train_timesteps;
    const v = typeof t === 'bigint' && t >= 0n && t <= BigInt(2 ** 31) ? Number(t) : t;
    if (typeof v === 'number' && this.isScheduledPastEnd(v)) return T - 1;
    return checkTrainTimestep(t, T, field);
  };

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

  /**
   * A timestep for `step`, `previousTimestep`, `alphaBarAt`: a training timestep (any integer in
   * 0 .. T - 1, scheduled or not, as in diffusers; a bigint is read as its number), or one the
   * scheduler scheduled past the end.
   */
  protected checkTimestep(timestep: unknown): number {
    if (typeof timestep === 'number' && this.isScheduledPastEnd(timestep)) return timestep;
    return checkTrainTimestep(timestep, this.config.num_train_timesteps);
  }

  /**
   * Validate step inputs and output buffers, run the fused kernel, check the result. O(dims) work
   * besides the kernel's one pass; allocates nothing of its own when both `out` buffers are given.
   * `noise` is how the eta > 0 noise is obtained (null when sigma = 0): `settings.varianceNoise`,
   * or a draw from `settings.generator`.
   */
  protected runStep(
    modelOutput: TensorLike,
    sample: TensorLike,
    timestep: number,
    coefficients: StepCoefficients,
    bound: X0Bound,
    noise: 'tensor' | 'generator' | null,
    settings: StepSettings,
  ): StepOutput {
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
    const result = this.outputsFor(settings.out, sample, sampleType);
    checkOutOverlap(result.prevSample, result.predOriginalSample, sample, modelOutput, given);
    const batch = sample.dims.length > 0 ? sample.dims[0] : 1;
    // Draw the noise only now, after every input check, so a rejected call leaves the generator
    // where it was. The draw goes into a buffer the scheduler keeps, so steps allocate nothing.
    let noiseData: TensorData | null = null;
    let drew = false;
    if (noise === 'tensor' && given !== null) {
      noiseData = given.data;
    } else if (noise === 'generator') {
      if (this.noiseScratch === null || this.noiseScratch.length !== sample.data.length) {
        this.noiseScratch = new Float32Array(sample.data.length);
      }
      // If the result turns out non-finite, the draw is undone: after the error the caller's
      // generators are where they were, and a retry draws the same noise.
      this.generatorCheckpoint.save(settings.generator);
      randnInto(this.noiseScratch, sample.dims, settings.generator);
      drew = true;
      noiseType = 'float32';
      noiseData = this.noiseScratch;
    }
    const args = this.kernelArgs;
    args.coefficients = coefficients;
    args.bound = bound;
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
    if (!finite && !settings.allowNonFinite) {
      // The kernel's test is cheap and may be cautious (huge but finite values); this scan is exact.
      const error = nonFiniteError(
        timestep,
        { tensor: modelOutput, type: modelType },
        { tensor: sample, type: sampleType },
        noise === 'tensor' && given !== null ? { tensor: given, type: noiseType } : null,
        result.prevSample,
        result.predOriginalSample,
      );
      if (error !== null) {
        if (drew) this.generatorCheckpoint.restore();
        throw error;
      }
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

/**
 * The fused pass reads element i of every input, then writes element i of both outputs. So an
 * output may be exactly an input's memory (in place), but the two outputs must not share memory
 * (the second write would overwrite the first), and no output may overlap an input at an offset
 * or with another element size (it would overwrite elements not read yet). Either is silent
 * garbage, so it is refused before the pass.
 */
function checkOutOverlap(
  prevSample: Tensor,
  predOriginalSample: Tensor,
  sample: TensorLike,
  modelOutput: TensorLike,
  varianceNoise: TensorLike | null,
): void {
  if (memoryOverlap(prevSample.data, predOriginalSample.data) !== 'none') {
    throw new ArgumentError({
      field: 'out.predOriginalSample',
      problem: 'shares memory with out.prevSample; the step writes both, so one would overwrite the other',
      fix: 'pass two separate buffers (or leave one out to have it allocated).',
    });
  }
  checkOutAgainstInputs(prevSample.data, 'out.prevSample', sample, modelOutput, varianceNoise);
  checkOutAgainstInputs(
    predOriginalSample.data,
    'out.predOriginalSample',
    sample,
    modelOutput,
    varianceNoise,
  );
}

function checkOutAgainstInputs(
  out: TensorData,
  outName: string,
  sample: TensorLike,
  modelOutput: TensorLike,
  varianceNoise: TensorLike | null,
): void {
  const input =
    memoryOverlap(out, sample.data) === 'partial'
      ? 'sample'
      : memoryOverlap(out, modelOutput.data) === 'partial'
        ? 'modelOutput'
        : varianceNoise !== null && memoryOverlap(out, varianceNoise.data) === 'partial'
          ? 'varianceNoise'
          : null;
  if (input !== null) {
    throw new ArgumentError({
      field: outName,
      problem: `overlaps ${input} without being exactly its memory (another offset or element size), so writing it would overwrite ${input} elements not read yet`,
      fix: `write in place into ${input} itself (same array), or into a separate buffer.`,
    });
  }
}

function firstNonFinite(data: TensorData, type: DType): number {
  const table = type === 'float16' ? float16Table() : null;
  for (let i = 0; i < data.length; i++) {
    const v = table === null ? data[i] : table[data[i]];
    if (!Number.isFinite(v)) return i;
  }
  return -1;
}

interface Typed {
  tensor: TensorLike;
  type: DType;
}

/**
 * The NumericError for a non-finite step result, naming the culprit: the first NaN / Inf input
 * element (model output first: that is the usual cause), else the output element that overflowed
 * its dtype, else the schedule.
 */
function nonFiniteError(
  timestep: number,
  modelOutput: Typed,
  sample: Typed,
  varianceNoise: Typed | null,
  prevSample: Tensor,
  predOriginalSample: Tensor,
): NumericError | null {
  const inputs: [string, Typed | null, string][] = [
    [
      'modelOutput',
      modelOutput,
      'check the model (float16 overflow, bad weights, bad inputs); pass allowNonFinite: true to step anyway.',
    ],
    [
      'sample',
      sample,
      'check the previous step and the initial latents; pass allowNonFinite: true to step anyway.',
    ],
    ['varianceNoise', varianceNoise, 'pass finite noise; pass allowNonFinite: true to step anyway.'],
  ];
  for (const [name, input, fix] of inputs) {
    if (input === null) continue;
    const i = firstNonFinite(input.tensor.data, input.type);
    if (i >= 0) {
      const data = input.tensor.data;
      return new NumericError({
        field: `${name}[${i}]`,
        value: input.type === 'float16' ? float16Table()[data[i]] : data[i],
        problem: `is not finite at timestep ${timestep}`,
        fix,
      });
    }
  }
  for (const [name, out] of [
    ['prevSample', prevSample],
    ['predOriginalSample', predOriginalSample],
  ] as const) {
    const i = firstNonFinite(out.data, out.type);
    if (i >= 0) {
      return new NumericError({
        field: `${name}[${i}]`,
        problem:
          out.type === 'float16'
            ? `overflows float16 (which holds at most 65504) at timestep ${timestep} although the inputs are finite`
            : `is not finite at timestep ${timestep} although the inputs are finite: the result is past the ${out.type} range, or the schedule divides by zero here`,
        fix:
          out.type === 'float16'
            ? 'run the scheduler in float32 (pass a float32 sample and out buffers), or check the model output scale; pass allowNonFinite: true to step anyway.'
            : 'check the model output scale (and zero terminal SNR needs prediction_type "v_prediction"), or pass allowNonFinite: true.',
      });
    }
  }
  // Inputs and outputs all finite: the kernel's cautious test (RESULT_LIMIT in step.ts) was a
  // false alarm on huge finite values.
  return null;
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
    const { config: resolved } = resolveDDIMConfig(config, undefined, resolvedOptions);
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
    const { config: resolved } = resolveDDIMConfig(config, overrides, o);
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
    const { schedulerOptions, load, overrides } = splitPretrainedOptions<DDIMConfig>(options);
    const { config } = await loadSchedulerConfig(source, load);
    return DDIMScheduler.fromConfig(config, overrides, schedulerOptions);
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
    const t = this.checkTimestep(timestep);
    if (this.stepsFollowList) return schedulePreviousTimestep(this.schedule, t);
    return stridePreviousTimestep(t, this.config.num_train_timesteps, n);
  }

  /**
   * alpha_bar at a timestep, or finalAlphaCumprod for -1 (past the end). A scheduled timestep
   * past the training range (n = T with steps_offset, diffusers #10003) reads alpha_bar[T - 1].
   */
  alphaBarAt(timestep: number): number {
    // Exactly -1, as previousTimestep returns it: any other negative is a mistake, not "the end".
    return timestep === -1 ? this.finalAlphaCumprod : this.alphasCumprod[this.alphaIndex(timestep)];
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
    this.requireTimesteps();
    const t = this.checkTimestep(timestep);
    const settings = readStepOptions(options, STEP_OPTION_KEYS, this.stepSettings);
    const eta = settings.eta;
    const c = this.config;
    const prev = this.previousTimestep(t);
    const alphaProdT = this.alphaBarAt(t);
    if (alphaProdT === 0 && c.prediction_type === 'epsilon') throw zeroSnrEpsilonError(t);
    const alphaProdPrev = this.alphaBarAt(prev);
    const variance = eta > 0 ? ddimVariance(alphaProdT, alphaProdPrev) : 0;
    if (eta > 1) checkEtaFits(eta, variance, alphaProdPrev, t, prev);
    const coefficients = stepCoefficients(
      c.prediction_type,
      alphaProdT,
      alphaProdPrev,
      eta,
      variance,
      this.coefficients,
    );
    const noise = eta > 0 ? (settings.varianceNoise !== null ? 'tensor' : 'generator') : null;
    try {
      return this.runStep(modelOutput, sample, t, coefficients, this.bound, noise, settings);
    } finally {
      this.releaseStepSettings();
    }
  }
}

/**
 * eta > 1 is allowed where DDIM eq. 12 still holds: sigma^2 = eta^2 variance must not exceed
 * 1 - alpha_bar_prev, the weight left for the noise direction. For eta <= 1 it never does (up to
 * rounding, which stepCoefficients clamps); past that diffusers takes the square root of a
 * negative number (NaN) and a clamp would silently change the sampler, so it is an error naming
 * the largest eta this step takes.
 */
function checkEtaFits(eta: number, variance: number, alphaProdPrev: number, t: number, prev: number): void {
  const room = 1 - alphaProdPrev;
  const sigma2 = eta * eta * variance;
  if (sigma2 - room <= 8 * Number.EPSILON * Math.max(1, room)) return;
  const maxEta = variance > 0 ? Math.sqrt(room / variance) : Number.POSITIVE_INFINITY;
  throw new ArgumentError({
    field: 'eta',
    value: eta,
    problem: `is too large for the step from timestep ${t} to ${prev}: sigma^2 = eta^2 * variance = ${sigma2} exceeds 1 - alpha_bar_prev = ${room} (DDIM eq. 12 allows eta up to ${maxEta} here)`,
    fix: 'use eta in [0, 1] (1 is DDPM-like sampling), which every step accepts.',
  });
}
