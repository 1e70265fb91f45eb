/**
 * `DDIMScheduler`: a thin stateful shell over the pure schedule, timestep and step functions,
 * with diffusers' names and behaviour (scheduling_ddim.py).
 */
import type { ConfigOptions, DDIMConfig, DDIMInverseConfig } from './config.js';
import { configToJSON, resolveDDIMConfig } from './config.js';
import type { DiffusersJsonOptions } from './diffusers-json.js';
import { ArgumentError, NumericError, StateError } from './errors.js';
import { addNoise, checkTrainTimestep, getVelocity, type Timesteps } from './forward.js';
import { type FromPretrainedOptions, loadSchedulerConfig, saveSchedulerConfig } from './hub.js';
import { alphasFromBetas, betasForConfig, cumprod, ddimVariance } from './schedule.js';
import { ddimStepKernel, type StepCoefficients, stepCoefficients, type X0Bound } from './step.js';
import type { DType, Tensor, TensorData, TensorLike } from './tensor.js';
import { checkSameDims, checkTensor, emptyLike, float16Table } from './tensor.js';
import { ddimTimesteps } from './timesteps.js';

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
  /** The noise z for eta > 0, instead of drawing it (CycleDiffusion). */
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

  protected numInferenceStepsValue: number | null = null;
  /** The schedule the scheduler works from; `timesteps` hands out a copy of it. */
  protected schedule: Int32Array;
  private publicTimesteps: Int32Array;
  private thresholdScratch: Float64Array | null = null;

  protected constructor(config: Readonly<C>, initialTimesteps: Int32Array) {
    this.config = config;
    this.betas = betasForConfig(config);
    this.alphas = alphasFromBetas(this.betas);
    this.alphasCumprod = cumprod(this.alphas);
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

  protected commitTimesteps(timesteps: Int32Array, numInferenceSteps: number): void {
    this.schedule = timesteps;
    this.publicTimesteps = timesteps.slice();
    this.numInferenceStepsValue = numInferenceSteps;
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
    return addNoise(this.alphasCumprod, originalSamples, noise, timesteps);
  }

  /** The v_prediction target: sqrt(a_t) noise - sqrt(1 - a_t) sample. */
  getVelocity(sample: TensorLike, noise: TensorLike, timesteps: Timesteps): Tensor {
    return getVelocity(this.alphasCumprod, sample, noise, timesteps);
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

  protected checkTimestep(timestep: unknown): number {
    return checkTrainTimestep(timestep, this.config.num_train_timesteps);
  }

  /** Validate step inputs and output buffers, run the fused kernel, check the result. */
  protected runStep(
    modelOutput: TensorLike,
    sample: TensorLike,
    timestep: number,
    coefficients: StepCoefficients,
    bound: X0Bound,
    useClippedModelOutput: boolean,
    noise: { data: TensorData; type: DType } | null,
    options: StepOptions,
  ): StepOutput {
    const sampleType = checkTensor(sample, 'sample');
    const modelType = checkTensor(modelOutput, 'modelOutput');
    checkSameDims(sample, 'sample', modelOutput, 'modelOutput');
    const prevSample = outBuffer(options.out?.prevSample, 'out.prevSample', sample, sampleType);
    const predOriginalSample = outBuffer(
      options.out?.predOriginalSample,
      'out.predOriginalSample',
      sample,
      sampleType,
    );
    const batch = sample.dims.length > 0 ? sample.dims[0] : 1;
    let scratch: Float64Array | undefined;
    if (bound.kind === 'threshold') {
      const per = batch > 0 ? sample.data.length / batch : 0;
      if (this.thresholdScratch === null || this.thresholdScratch.length < per) {
        this.thresholdScratch = new Float64Array(per);
      }
      scratch = this.thresholdScratch;
    }
    const checksum = ddimStepKernel({
      coefficients,
      bound,
      useClippedModelOutput,
      batch,
      sample: sample.data,
      sampleType,
      modelOutput: modelOutput.data,
      modelOutputType: modelType,
      noise: noise?.data ?? null,
      noiseType: noise?.type ?? 'float32',
      prevSample: prevSample.data,
      predOriginalSample: predOriginalSample.data,
      outType: sampleType,
      scratch,
    });
    if (!Number.isFinite(checksum) && options.allowNonFinite !== true) {
      throw nonFiniteError(timestep, modelOutput, modelType, sample, sampleType);
    }
    return { prevSample, predOriginalSample };
  }
}

function outBuffer(
  given: TensorLike | undefined,
  field: string,
  sample: TensorLike,
  sampleType: DType,
): Tensor {
  if (given === undefined) return emptyLike(sample, sampleType);
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
  return { data: given.data, dims: [...given.dims], type };
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

  constructor(config: Partial<DDIMConfig> = {}, options?: ConfigOptions) {
    const { config: resolved } = resolveDDIMConfig(config, undefined, options);
    const T = resolved.num_train_timesteps;
    // Before setTimesteps diffusers holds every training timestep, descending.
    const all = new Int32Array(T);
    for (let i = 0; i < T; i++) all[i] = T - 1 - i;
    super(resolved, all);
    this.finalAlphaCumprod = resolved.set_alpha_to_one ? 1 : this.alphasCumprod[0];
  }

  /**
   * Build a scheduler from any diffusers scheduler config (a parsed `scheduler_config.json`,
   * possibly of another class), with `overrides` applied on top, like diffusers'
   * `DDIMScheduler.from_config(config, **overrides)`.
   */
  static fromConfig(
    config: unknown,
    overrides?: Partial<DDIMConfig>,
    options?: ConfigOptions,
  ): DDIMScheduler {
    const { config: resolved } = resolveDDIMConfig(config, overrides, options);
    return new DDIMScheduler(resolved as DDIMConfig, { onWarning: () => {} });
  }

  /**
   * Load a scheduler the way diffusers' `DDIMScheduler.from_pretrained` does: from a Hub repo id
   * (`'stabilityai/stable-diffusion-2-1'` with `{ subfolder: 'scheduler' }`), an http(s) URL, or
   * under Node a local folder or file and the Hugging Face cache. Any scheduler's config loads;
   * keys DDIM does not use go to `onWarning`. See `loadSchedulerConfig` for the options.
   */
  static async fromPretrained(
    source: string,
    options: FromPretrainedOptions<DDIMConfig> = {},
  ): Promise<DDIMScheduler> {
    const { config } = await loadSchedulerConfig(source, options);
    return DDIMScheduler.fromConfig(config, options.overrides, { onWarning: options.onWarning });
  }

  get className(): string {
    return 'DDIMScheduler';
  }

  /** Choose the inference timesteps (diffusers' `set_timesteps`). */
  setTimesteps(numInferenceSteps: number): this {
    const c = this.config;
    const timesteps = ddimTimesteps(
      c.num_train_timesteps,
      numInferenceSteps,
      c.timestep_spacing,
      c.steps_offset,
    );
    this.commitTimesteps(timesteps, numInferenceSteps);
    return this;
  }

  /**
   * The timestep whose alpha_bar a step from `timestep` lands on: diffusers' `t - T // n` for
   * every spacing (even trailing/linspace, where it is not the next scheduled timestep), or -1
   * meaning "past the end" (alpha_bar = finalAlphaCumprod).
   */
  previousTimestep(timestep: number): number {
    const n = this.requireTimesteps();
    const prev = timestep - Math.floor(this.config.num_train_timesteps / n);
    return prev >= 0 ? prev : -1;
  }

  /** alpha_bar at a timestep index, or finalAlphaCumprod for -1 (past the end). */
  alphaBarAt(timestep: number): number {
    return timestep >= 0 ? this.alphasCumprod[timestep] : this.finalAlphaCumprod;
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
    const alphaProdPrev = this.alphaBarAt(prev);
    const coefficients = stepCoefficients(
      c.prediction_type,
      alphaProdT,
      alphaProdPrev,
      eta,
      ddimVariance(alphaProdT, alphaProdPrev),
    );
    // diffusers step 4: thresholding takes precedence over clip_sample.
    const bound: X0Bound = c.thresholding
      ? { kind: 'threshold', ratio: c.dynamic_thresholding_ratio, maxValue: c.sample_max_value }
      : c.clip_sample
        ? { kind: 'clip', range: c.clip_sample_range }
        : { kind: 'none' };
    let noise: { data: TensorData; type: DType } | null = null;
    if (eta > 0) {
      const given = options.varianceNoise ?? null;
      if (given === null) {
        throw new ArgumentError({
          field: 'varianceNoise',
          value: null,
          problem: 'is required when eta > 0',
          fix: 'pass varianceNoise (a tensor shaped like sample).',
        });
      }
      const noiseType = checkTensor(given, 'varianceNoise');
      checkSameDims(sample, 'sample', given, 'varianceNoise');
      noise = { data: given.data, type: noiseType };
    }
    return this.runStep(
      modelOutput,
      sample,
      t,
      coefficients,
      bound,
      options.useClippedModelOutput === true,
      noise,
      options,
    );
  }
}
