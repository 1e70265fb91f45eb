/**
 * Named scheduler configs the CLI and the experiments refer to. They are diffusers config objects
 * (snake_case keys), so `DDIMScheduler.fromConfig(SCHEDULER_PRESETS.sd)` is what diffusers builds
 * from the same JSON.
 */
import type { DDIMConfig } from './config.js';

/** The names of the built-in configs (the CLI's `--config ddim | sd | sd-zero-snr`). */
export type PresetName = 'ddim' | 'sd' | 'sd-zero-snr';

/** A named config. */
export interface SchedulerPreset {
  /** One line saying what it is. */
  description: string;
  /** The keys that differ from diffusers' defaults (`{}` for `ddim`), for `DDIMScheduler.fromConfig`. */
  config: Readonly<Partial<DDIMConfig>>;
}

/**
 * Stable Diffusion 1.x/2.x-base's scheduler config as shipped (`scheduler/scheduler_config.json`):
 * scaled_linear betas 0.00085..0.012, steps_offset 1, alpha_bar of the step after the last kept at
 * alpha_bar_0. No timestep_spacing key, so diffusers' default "leading" applies.
 */
const SD: Readonly<Partial<DDIMConfig>> = Object.freeze({
  num_train_timesteps: 1000,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  beta_end: 0.012,
  clip_sample: false,
  set_alpha_to_one: false,
  steps_offset: 1,
  prediction_type: 'epsilon',
  timestep_spacing: 'leading',
});

/**
 * The built-in configs: `ddim` (diffusers' `DDIMScheduler` defaults), `sd` (Stable Diffusion
 * 1.x/2.x base as shipped), `sd-zero-snr` (the same betas rescaled to zero terminal SNR, trailing
 * timesteps, v_prediction).
 */
export const SCHEDULER_PRESETS: Readonly<Record<PresetName, SchedulerPreset>> = Object.freeze({
  ddim: {
    description: "diffusers' DDIMScheduler defaults (DDPM's linear betas 1e-4..0.02, clip_sample)",
    config: Object.freeze({}),
  },
  sd: {
    description: 'Stable Diffusion 1.x/2.x: scaled_linear 0.00085..0.012, leading, steps_offset 1, epsilon',
    config: SD,
  },
  'sd-zero-snr': {
    description:
      'the same betas rescaled to zero terminal SNR, trailing timesteps, v_prediction (Lin et al. 2024)',
    config: Object.freeze({
      ...SD,
      rescale_betas_zero_snr: true,
      timestep_spacing: 'trailing',
      prediction_type: 'v_prediction',
    }),
  },
});

/** Every {@link PresetName}, in the order of {@link SCHEDULER_PRESETS}. */
export const PRESET_NAMES = Object.keys(SCHEDULER_PRESETS) as PresetName[];

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(SCHEDULER_PRESETS, name);
}
