/**
 * Image-to-image (SDEdit, Meng et al. 2021): start the reverse process part-way, from the init
 * latents noised to the first kept timestep, as diffusers' `StableDiffusionImg2ImgPipeline` does:
 *
 *   get_timesteps:   init = min(int(n * strength), n);  t_start = max(n - init, 0)
 *                    timesteps = scheduler.timesteps[t_start * order:]
 *   prepare_latents: x = scheduler.add_noise(init_latents, noise, timesteps[0])
 *
 * `strength` 1 keeps every step (the init latents are fully noised, though at the first
 * timestep's alpha_bar, which is not 0 unless the schedule has zero terminal SNR); smaller
 * strengths keep the last `int(n * strength)` steps.
 *
 * Zero kept steps (`strength` 0, or `n * strength < 1`): diffusers' img2img pipeline crashes
 * there (an empty `latent_timestep`), and its inpainting pipelines raise. Here
 * `img2imgTimesteps` returns an empty list (the fixtures' answer) and `sample()` returns the init
 * latents unchanged: no noise is added and nothing is denoised, which is what "strength 0" means.
 */
import { ArgumentError } from '../errors.js';
import { checkNumber } from '../guard.js';
import type { DDIMScheduler } from '../scheduler/ddim.js';
import type { Timesteps } from '../scheduler/forward.js';
import type { Tensor, TensorLike } from '../tensor/tensor.js';

/** Throw unless `strength` is a number in [0, 1] (diffusers raises ValueError outside). */
export function checkStrength(strength: unknown, field = 'strength'): number {
  return checkNumber(
    strength,
    field,
    { min: 0, max: 1 },
    'pass how much of the schedule to run: 1 = all of it (init latents fully noised), 0.3 = the last 30%.',
  );
}

/**
 * Index of the first kept timestep (diffusers' `t_start * order`): `max(n - min(int(n * strength), n), 0) * order`.
 * Pure; the arguments are checked (integers, strength in [0, 1]).
 */
export function img2imgStartIndex(numInferenceSteps: number, strength: number, order = 1): number {
  for (const [field, v] of [
    ['numInferenceSteps', numInferenceSteps],
    ['order', order],
  ] as const) {
    // typeof first: a non-number (a Proxy, an object) is refused before any arithmetic reads it.
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
      throw new ArgumentError({
        field,
        value: v,
        problem: 'must be a non-negative integer',
        fix: 'pass scheduler.numInferenceSteps (and the scheduler order, 1 for DDIM).',
      });
    }
  }
  checkStrength(strength);
  // Python's int() truncates toward zero; n * strength is the same float64 product in both languages.
  const init = Math.min(Math.trunc(numInferenceSteps * strength), numInferenceSteps);
  return Math.max(numInferenceSteps - init, 0) * order;
}

/**
 * The timesteps an image-to-image run steps through: calls `scheduler.setTimesteps(numInferenceSteps)`
 * and returns the tail of `scheduler.timesteps` that diffusers keeps for `strength` (possibly empty).
 */
export function img2imgTimesteps(
  scheduler: DDIMScheduler,
  numInferenceSteps: number,
  strength: number,
): Int32Array {
  checkStrength(strength); // before setTimesteps: a bad strength leaves the scheduler as it was
  scheduler.setTimesteps(numInferenceSteps);
  return scheduler.timesteps.slice(img2imgStartIndex(numInferenceSteps, strength, scheduler.order));
}

/**
 * Noise the init latents to the first kept timestep (diffusers' `prepare_latents`):
 * `sqrt(a_t) initLatents + sqrt(1 - a_t) noise`. `timestep` is one timestep for the whole batch (as
 * diffusers' `timesteps[:1].repeat(batch)`) or one per batch element. The result has
 * `initLatents`' dtype.
 */
export function noiseInitLatents(
  scheduler: Pick<DDIMScheduler, 'addNoise'>,
  initLatents: TensorLike,
  noise: TensorLike,
  timestep: Timesteps,
): Tensor {
  return scheduler.addNoise(initLatents, noise, timestep);
}
