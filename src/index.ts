export * from './config.js';
export * from './datasets.js';
export { DIFFUSERS_VERSION, type DiffusersJsonOptions, toDiffusersJsonString } from './diffusers-json.js';
export * from './errors.js';
export { addNoise, checkTrainTimestep, getVelocity, type Timesteps } from './forward.js';
export {
  batchStd,
  classifierFreeGuidance,
  rescaleNoiseCfg,
} from './guidance.js';
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
} from './hub.js';
export { checkStrength, img2imgStartIndex, img2imgTimesteps, noiseInitLatents } from './img2img.js';
export { DDIMInverseScheduler, type InverseStepOptions } from './inverse.js';
export {
  datasetDenoiser,
  type ExactDenoiser,
  type GaussianMixture,
  gaussianMixtureDenoiser,
  type ScheduleLike,
} from './models.js';
export { type NearestResult, nearestNeighbours } from './nearest.js';
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
} from './noise.js';
export * from './presets.js';
export * from './previous-timestep.js';
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
} from './sampling.js';
export * from './schedule.js';
export {
  DDIMScheduler,
  SchedulerBase,
  type StepOutput,
  type TimestepsChoice,
  zeroSnrEpsilonError,
} from './scheduler.js';
export {
  type PretrainedOptions,
  pretrainedSchedulerOptions,
  resolveSchedulerOptions,
  type SchedulerOptions,
} from './scheduler-options.js';
export {
  ddimStepKernel,
  quantileInPlace,
  type StepCoefficients,
  type StepKernelArgs,
  selectKth,
  stepCoefficients,
  type X0Bound,
} from './step.js';
export type { StepOptions, StepOutBuffers } from './step-options.js';
export * from './tensor.js';
export * from './timesteps.js';
