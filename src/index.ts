export * from './config.js';
export * from './errors.js';
export { addNoise, checkTrainTimestep, getVelocity, type Timesteps } from './forward.js';
export { DDIMInverseScheduler, type InverseStepOptions } from './inverse.js';
export * from './schedule.js';
export {
  DDIMScheduler,
  SchedulerBase,
  type StepOptions,
  type StepOutBuffers,
  type StepOutput,
} from './scheduler.js';
export {
  ddimStepKernel,
  quantileInPlace,
  type StepCoefficients,
  type StepKernelArgs,
  selectKth,
  stepCoefficients,
  type X0Bound,
} from './step.js';
export * from './tensor.js';
export * from './timesteps.js';
