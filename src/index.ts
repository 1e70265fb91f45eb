export * from './errors.js';
export * from './exact/datasets.js';
export {
  datasetDenoiser,
  type ExactDenoiser,
  type GaussianMixture,
  gaussianMixtureDenoiser,
  type ScheduleLike,
} from './exact/models.js';
export { type NearestResult, nearestNeighbours } from './exact/nearest.js';
export {
  DIFFUSERS_VERSION,
  type DiffusersJsonOptions,
  toDiffusersJsonString,
} from './loading/diffusers-json.js';
export {
  CONFIG_NAME,
  type ConfigSource,
  DEFAULT_ENDPOINT,
  DEFAULT_MAX_BYTES,
  DEFAULT_TIMEOUT_MS,
  type FetchLike,
  type FromPretrainedOptions,
  type LoadConfigOptions,
  type LoadContext,
  type LoadedConfig,
  loadSchedulerConfig,
  type ResolvedLoadOptions,
  registerConfigSource,
  saveSchedulerConfig,
} from './loading/hub.js';
export {
  DEFAULT_SEED,
  defaultGenerator,
  Generator,
  type GeneratorOption,
  type GeneratorState,
  manualSeed,
  parseSeed,
  type RandnOptions,
  randnInto,
  randnTensor,
  type Seed,
} from './noise/noise.js';
export {
  batchStd,
  classifierFreeGuidance,
  rescaleNoiseCfg,
} from './sampling/guidance.js';
export { checkStrength, img2imgStartIndex, img2imgTimesteps, noiseInitLatents } from './sampling/img2img.js';
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
export * from './scheduler/config.js';
export { DDIMInverseScheduler, type InverseStepOptions } from './scheduler/ddim-inverse.js';
export { addNoise, checkTrainTimestep, getVelocity, type Timesteps } from './scheduler/forward.js';
export {
  type PretrainedOptions,
  pretrainedSchedulerOptions,
  resolveSchedulerOptions,
  type SchedulerOptions,
} from './scheduler/options.js';
export * from './scheduler/presets.js';
export * from './scheduler/previous-timestep.js';
export * from './scheduler/schedule.js';
export {
  DDIMScheduler,
  SchedulerBase,
  type StepOutput,
  type TimestepsChoice,
  zeroSnrEpsilonError,
} from './scheduler/scheduler.js';
export {
  ddimStepKernel,
  quantileInPlace,
  type StepCoefficients,
  type StepKernelArgs,
  selectKth,
  stepCoefficients,
  type X0Bound,
} from './scheduler/step.js';
export type { StepOptions, StepOutBuffers } from './scheduler/step-options.js';
export * from './scheduler/timesteps.js';
export * from './tensor/tensor.js';
