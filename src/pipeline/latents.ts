/**
 * The image-to-image starting latents, as diffusers' `StableDiffusionImg2ImgPipeline.prepare_latents`
 * makes them before it adds the noise (the noise and the strength schedule are the sampling loop's:
 * `sampleGuided` / `sample` with `initLatents` and `strength`):
 *
 *   one generator (or none)   encode the image once, sample its latent once with the generator,
 *                             scale, then repeat it to the batch (all images share one VAE sample)
 *   a list of B generators    the image repeated to the batch, row i encoded and sampled with
 *                             generator i (each image its own VAE sample)
 *
 * then `scaling_factor * latent` (float32). The random draws come in diffusers' order: all the VAE
 * samples here, then the loop's noise (`randn_tensor(init_latents.shape, generator)`), then the
 * eta > 0 noise of each step, so one seed gives diffusers' latents.
 */

import type { WarningHandler } from '../errors.js';
import type { Generator } from '../noise/generator.js';
import { assertNever } from '../tensor/dtype.js';
import type { Float32Tensor } from '../tensor/tensor.js';
import type { VaeEncoderModel } from './components.js';
import type { PipelineOrt } from './sessions.js';
import { runEncoder, sampleLatent } from './vae.js';

/** The run-time warning of an encoder that samples inside its graph (diffusers' old export script). */
export const SAMPLING_ENCODER_WARNING =
  "vae_encoder/model.onnx samples the image latent inside the graph (diffusers' convert_stable_diffusion_checkpoint_to_onnx.py export: output 'latent_sample', an unseeded RandomNormalLike), so image-to-image results are not reproducible and cannot match diffusers' for a seed. Export the VAE encoder with Optimum (output 'latent_parameters') for seeded, diffusers-exact image-to-image.";

/** What the init latents are made from. */
export interface InitLatentsInput {
  ort: PipelineOrt;
  encoder: VaeEncoderModel;
  /** The preprocessed image, `[1, 3, H, W]` in [-1, 1]. */
  pixels: Float32Tensor;
  /** The effective batch: prompts x images per prompt. */
  batch: number;
  /** One generator, one per batch row (checked: length `batch`), or null for the default generator. */
  generator: Generator | Generator[] | null;
  latentChannels: number;
  scalingFactor: number;
  vaeScaleFactor: number;
  onWarning: WarningHandler;
}

/** `scaling_factor * latents` (a float32 tensor times a Python float: the float32 product). */
function scaled(latents: Float32Array, scalingFactor: number): Float32Array {
  const factor = Math.fround(scalingFactor);
  const out = new Float32Array(latents.length);
  for (let i = 0; i < out.length; i++) out[i] = factor * latents[i];
  return out;
}

/** `[batch, C, h, w]` init latents: the image's scaled VAE latent per batch row (not yet noised). */
export async function imageInitLatents(input: InitLatentsInput): Promise<Float32Tensor> {
  const { ort, encoder, pixels, batch, generator, latentChannels, vaeScaleFactor } = input;
  const [, , height, width] = pixels.dims;
  const dims = [batch, latentChannels, height / vaeScaleFactor, width / vaeScaleFactor];
  const per = dims[1] * dims[2] * dims[3];
  const rows = new Float32Array(batch * per);
  const list = Array.isArray(generator) ? generator : null;

  switch (encoder.style) {
    case 'latent_parameters': {
      // The encoder is deterministic: one call gives the parameters every row would get.
      const parameters = await runEncoder(ort, encoder, pixels, latentChannels, vaeScaleFactor);
      if (list !== null) {
        for (let i = 0; i < batch; i++) rows.set(sampleLatent(parameters, list[i]).data, i * per);
      } else {
        const one = sampleLatent(parameters, generator as Generator | null).data;
        for (let i = 0; i < batch; i++) rows.set(one, i * per);
      }
      break;
    }
    case 'latent_sample': {
      input.onWarning(SAMPLING_ENCODER_WARNING);
      if (list !== null) {
        // Each row its own in-graph sample, as each row its own generator in diffusers.
        const repeated = new Float32Array(pixels.data.length * batch);
        for (let i = 0; i < batch; i++) repeated.set(pixels.data, i * pixels.data.length);
        const sampled = await runEncoder(
          ort,
          encoder,
          { data: repeated, dims: [batch, 3, height, width], type: 'float32' },
          latentChannels,
          vaeScaleFactor,
        );
        rows.set(sampled.data);
      } else {
        const one = (await runEncoder(ort, encoder, pixels, latentChannels, vaeScaleFactor)).data;
        for (let i = 0; i < batch; i++) rows.set(one, i * per);
      }
      break;
    }
    default:
      assertNever(encoder.style, 'VAE encoder style');
  }
  return { data: scaled(rows, input.scalingFactor), dims, type: 'float32' };
}
