/**
 * The zero-terminal-SNR paper's claim (Lin et al. 2024, "Common Diffusion Noise Schedules and
 * Sample Steps are Flawed"), asked of the exact image model: a schedule whose last timestep keeps
 * some signal (Stable Diffusion's alpha_bar_T = 0.0047), sampled from the leading timestep 981 with
 * epsilon prediction, cannot reach very dark or very bright images; zero terminal SNR with
 * v_prediction and trailing timesteps (starting at t = 999, alpha_bar = 0) can.
 *
 * Why, with an exact denoiser: sampling starts from x_T ~ N(0, I), but under the schedule
 * x_T = sqrt(a_T) x0 + sqrt(1 - a_T) eps still carries sqrt(a_T) ~ 0.07-0.08 of the image. Pure noise
 * has no such component, and the exact posterior at T weighs dataset image j by
 * exp((sqrt(a) <x, d_j> - a |d_j|^2 / 2) / (1 - a)): the -a |d_j|^2 / 2 term (about 6 nats for a
 * near-white 32x32 image against a mid-grey one) makes images far from mid-grey, i.e. very dark or
 * very bright, unlikely starting points, and DDIM follows that choice to the end. With a_T = 0 the
 * first step sees no signal to misread and predicts the dataset mean; every image stays reachable.
 *
 * Measured: each sample's mean brightness (all pixels and channels, 0 = black, 1 = white), and the
 * spread (standard deviation) and range of those means, against the dataset's own.
 */

import { Generator } from '../../noise/generator.js';
import { sample } from '../../sampling/loop.js';
import type { DDIMConfig } from '../../scheduler/config.js';
import { DDIMScheduler } from '../../scheduler/ddim.js';
import { SCHEDULER_PRESETS } from '../../scheduler/presets.js';
import type { Float32Tensor, TensorLike } from '../../tensor/tensor.js';
import { shapesDataset } from '../datasets.js';
import { datasetDenoiser } from '../models.js';

/** Summary of a list of mean brightnesses (0 = black, 1 = white). */
export interface BrightnessStats {
  /** Their mean. */
  mean: number;
  /** Their standard deviation (population: divided by the count): the spread the claim is about. */
  std: number;
  /** The darkest. */
  min: number;
  /** The brightest. */
  max: number;
}

/** One schedule's samples and their brightness. */
export interface BrightnessRun {
  /** The schedule's name, e.g. `'zero-SNR + v + trailing'`. */
  name: string;
  /** What the schedule is, in one line. */
  description: string;
  /** The scheduler's complete config. */
  config: Readonly<DDIMConfig>;
  /** The first timestep sampled. */
  firstTimestep: number;
  /** alpha_bar at the first timestep sampled (0 at zero terminal SNR). */
  firstAlphaBar: number;
  /** Each sample's mean brightness, in [0, 1]. */
  brightness: number[];
  /** The summary of `brightness`. */
  stats: BrightnessStats;
  /** The samples, [samples, 3, size, size] in [-1, 1]. */
  images: Float32Tensor;
}

/** What {@link runBrightness} measured: the dataset's brightness and each schedule's. */
export interface BrightnessResult {
  /** Images sampled per schedule. */
  samples: number;
  /** Inference steps. */
  steps: number;
  /** The seed of both runs' x_T (the same noise for both). */
  seed: number;
  /** Image size (pixels per side). */
  size: number;
  /** The dataset, [count, 3, size, size] in [-1, 1]. */
  datasetImages: Float32Tensor;
  /** Each dataset image's mean brightness, in [0, 1]. */
  datasetBrightness: number[];
  /** The summary of `datasetBrightness`. */
  dataset: BrightnessStats;
  /** One run per schedule of {@link BRIGHTNESS_SCHEDULES}, in that order. */
  runs: BrightnessRun[];
}

/** Options of {@link runBrightness}. */
export interface BrightnessOptions {
  /** Images sampled per schedule. Default 64. */
  samples?: number;
  /** Inference steps. Default 50. */
  steps?: number;
  /** Seed of the initial noise, the same for both schedules. Default 0. */
  seed?: number;
  /** Image size of the dataset. Default 32. */
  size?: number;
  /** Dataset size. Default 48. */
  count?: number;
  /** Progress: steps done out of the total over both runs. */
  onStep?: (done: number, total: number) => void;
}

/** Mean brightness of each image of [N, C, H, W] in [-1, 1], mapped to [0, 1]. */
export function meanBrightness(images: TensorLike): number[] {
  const n = images.dims[0];
  const per = images.data.length / n;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < per; k++) s += images.data[i * per + k];
    out.push((s / per + 1) / 2);
  }
  return out;
}

/** Mean, standard deviation, minimum and maximum of a non-empty list of brightnesses. */
export function brightnessStats(values: readonly number[]): BrightnessStats {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std, min: Math.min(...values), max: Math.max(...values) };
}

/**
 * The two schedules compared: Stable Diffusion's as shipped (leading + epsilon) and its
 * zero-terminal-SNR rescale with v_prediction and trailing timesteps.
 */
export const BRIGHTNESS_SCHEDULES: readonly {
  /** A short name for tables. */
  name: string;
  /** What the schedule is, in one line. */
  description: string;
  /** The config keys that differ from diffusers' defaults. */
  config: Partial<DDIMConfig>;
}[] = [
  {
    name: 'leading + epsilon',
    description: "Stable Diffusion's schedule as shipped: terminal SNR 0.0047, leading timesteps, epsilon",
    config: SCHEDULER_PRESETS.sd.config,
  },
  {
    name: 'zero-SNR + v + trailing',
    description: 'the same betas rescaled to zero terminal SNR, v_prediction, trailing timesteps',
    config: SCHEDULER_PRESETS['sd-zero-snr'].config,
  },
];

/**
 * The experiment: sample the exact image model (the shapes dataset's exact denoiser) with each of
 * {@link BRIGHTNESS_SCHEDULES}, from the same seeded noise, with DDIM at eta = 0, and measure each
 * sample's mean brightness beside the dataset's.
 */
export async function runBrightness(options: BrightnessOptions = {}): Promise<BrightnessResult> {
  const samples = options.samples ?? 64;
  const steps = options.steps ?? 50;
  const seed = options.seed ?? 0;
  const size = options.size ?? 32;
  const { images } = shapesDataset({ size, count: options.count ?? 48 });
  const datasetBrightness = meanBrightness(images);
  const runs: BrightnessRun[] = [];
  const total = steps * BRIGHTNESS_SCHEDULES.length;
  for (const [k, schedule] of BRIGHTNESS_SCHEDULES.entries()) {
    const scheduler = DDIMScheduler.fromConfig(schedule.config);
    const shape = [samples, ...images.dims.slice(1)];
    const { latents } = await sample(scheduler, datasetDenoiser(scheduler, images), {
      shape,
      numInferenceSteps: steps,
      eta: 0,
      // The same seed for both: the two schedules start from the same x_T.
      generator: new Generator().manualSeed(seed),
      onStep: (info) => options.onStep?.(k * steps + info.index + 1, total),
    });
    const brightness = meanBrightness(latents);
    const first = scheduler.timesteps[0];
    runs.push({
      name: schedule.name,
      description: schedule.description,
      config: scheduler.config,
      firstTimestep: first,
      firstAlphaBar: scheduler.alphasCumprod[first],
      brightness,
      stats: brightnessStats(brightness),
      images: latents as Float32Tensor,
    });
  }
  return {
    samples,
    steps,
    seed,
    size,
    datasetImages: images,
    datasetBrightness,
    dataset: brightnessStats(datasetBrightness),
    runs,
  };
}
