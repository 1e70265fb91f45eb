/**
 * `ddim`: diffusers' DDIM schedulers for JavaScript and TypeScript, with PyTorch-exact seeded
 * noise, the sampling loop (guidance, image-to-image, inversion) and scheduler loading.
 *
 * This is the whole public API of the core entry, listed name by name: what is not here is
 * internal and may change without notice (tests import internals from their modules). Other
 * entries: `ddim/onnxruntime` (the ONNX Runtime UNet adapter), `ddim/pipeline` (Stable Diffusion
 * over ONNX model folders), `ddim/exact` (closed-form denoisers, datasets and the experiments),
 * and under Node `ddim` itself resolves to the Node
 * entry (this API plus local folders and the Hugging Face cache). docs/architecture.md maps the
 * modules behind it.
 *
 * @module ddim
 */

// Errors: every error thrown on purpose is a DdimError naming the field, the value and the fix.
export {
  AbortError,
  ArgumentError,
  ConfigError,
  DdimError,
  type ErrorDetails,
  LoadError,
  NumericError,
  ShapeError,
  StateError,
  type WarningHandler,
} from './errors.js';
export {
  DIFFUSERS_VERSION,
  type DiffusersJsonOptions,
  toDiffusersJsonString,
} from './loading/diffusers-json.js';
// Loading and saving scheduler configs.
export {
  CONFIG_NAME,
  DEFAULT_ENDPOINT,
  DEFAULT_MAX_BYTES,
  DEFAULT_TIMEOUT_MS,
  type FetchLike,
  type FromPretrainedOptions,
  type LoadConfigOptions,
  type LoadedConfig,
  loadSchedulerConfig,
} from './loading/hub.js';
// Noise: PyTorch's CPU generator and torch.randn, bit for bit.
export {
  DEFAULT_SEED,
  defaultGenerator,
  Generator,
  type GeneratorOption,
  type GeneratorState,
  manualSeed,
  type Seed,
} from './noise/generator.js';
export { type RandnOptions, randnTensor } from './noise/randn.js';
export { classifierFreeGuidance, rescaleNoiseCfg } from './sampling/guidance.js';
export { img2imgTimesteps, noiseInitLatents } from './sampling/img2img.js';
// The sampling loop of diffusers' pipelines.
export {
  type Denoiser,
  type GuidedDenoiser,
  type GuidedPrediction,
  invert,
  type SampleOptions,
  type SampleResult,
  type StepInfo,
  sample,
  sampleGuided,
} from './sampling/loop.js';
// Scheduler configs: diffusers' keys, defaults, validation and presets.
export {
  type ConfigOptions,
  DDIM_DEFAULTS,
  DDIM_INVERSE_DEFAULTS,
  type DDIMConfig,
  type DDIMInverseConfig,
  type ResolvedConfig,
  resolveDDIMConfig,
  resolveDDIMInverseConfig,
} from './scheduler/config.js';
// The schedulers.
export { DDIMScheduler } from './scheduler/ddim.js';
export { DDIMInverseScheduler, type InverseStepOptions } from './scheduler/ddim-inverse.js';
// The forward process (addNoise, getVelocity, noiseInitLatents): its timestep and option types.
export type { ForwardOptions, Timesteps } from './scheduler/forward.js';
export type { SchedulerOptions } from './scheduler/options.js';
export { PREDICTION_TYPES, type PredictionType } from './scheduler/prediction.js';
export {
  PRESET_NAMES,
  type PresetName,
  SCHEDULER_PRESETS,
  type SchedulerPreset,
} from './scheduler/presets.js';
export type { PretrainedOptions } from './scheduler/pretrained.js';
export { PREVIOUS_TIMESTEP_RULES, type PreviousTimestepRule } from './scheduler/previous-timestep.js';
// eq. 12's scalars and torch.quantile by selection, for custom kernels and the benchmarks.
export { type FloatData, quantileInPlace } from './scheduler/quantile.js';
// Schedules and timesteps as free functions (what the schedulers compute, for plots and custom lists).
export {
  BETA_SCHEDULES,
  type BetaConfig,
  type BetaSchedule,
  betasForConfig,
  ddimVariance,
  rescaleZeroTerminalSnr,
  snr,
} from './scheduler/schedule.js';
export type { TimestepsChoice } from './scheduler/scheduler-base.js';
export { type StepCoefficients, stepCoefficients } from './scheduler/step.js';
export type { StepOptions, StepOutBuffers, StepOutput } from './scheduler/step-options.js';
export {
  ddimInverseTimesteps,
  ddimTimesteps,
  INVERSE_TIMESTEP_SPACINGS,
  type InverseTimestepSpacing,
  leadingTimesteps,
  linspaceTimesteps,
  quadraticTimesteps,
  TIMESTEP_SPACINGS,
  type TimestepSpacing,
  trailingTimesteps,
} from './scheduler/timesteps.js';
export { convertInto, DTYPES, type DTypeMap, float16ToNumber, numberToFloat16 } from './tensor/dtype.js';
// Tensors: onnxruntime-style { data, dims, type } objects.
export {
  type DType,
  type Float32Tensor,
  type Tensor,
  type TensorData,
  type TensorLike,
  tensor,
  toFloat64,
} from './tensor/tensor.js';
// The numeric kernels: WebAssembly SIMD where the engine has it, the JavaScript reference otherwise.
export {
  type KernelBackend,
  type KernelBackendChoice,
  type KernelBackendOptions,
  kernelBackend,
  kernelsReady,
  type StepLanes,
  setKernelBackend,
} from './wasm/backend.js';
