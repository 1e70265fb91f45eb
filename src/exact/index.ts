/**
 * `ddim/exact`: sampling without weights. Closed-form optimal denoisers (a Gaussian mixture's
 * E[x0 | x_t], a finite dataset's softmax-weighted average), the datasets the CLI and the
 * playground sample from, the sample-quality measures (MMD, nearest training image) and the two
 * experiments of the papers (table 1, brightness). Core: no Node built-ins, no dependencies.
 *
 * @module ddim/exact
 */

export {
  SHAPE_KINDS,
  type ShapeKind,
  type ShapesDataset,
  type ShapesDatasetOptions,
  shapesDataset,
} from './datasets.js';
export {
  BRIGHTNESS_SCHEDULES,
  type BrightnessOptions,
  type BrightnessResult,
  type BrightnessRun,
  type BrightnessStats,
  brightnessStats,
  meanBrightness,
  runBrightness,
} from './experiments/brightness.js';
export {
  runTable1,
  sampleMixture,
  TABLE1_CONFIG,
  type Table1Cell,
  type Table1Options,
  type Table1Result,
  type Table1RuleCell,
  table1Cell,
  table1RuleCell,
} from './experiments/table1.js';
export { circleMixture, kernelMeanAt, mmdNullStd, mmdToMixture } from './mmd.js';
export {
  datasetDenoiser,
  type ExactDenoiser,
  type GaussianMixture,
  gaussianMixtureDenoiser,
  type ScheduleLike,
} from './models.js';
export { type NearestResult, nearestNeighbours } from './nearest.js';
