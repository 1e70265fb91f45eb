/**
 * The VAE's two ONNX models as diffusers' Stable Diffusion pipelines call them, in float32 with
 * diffusers' roundings:
 *
 *   decode   vae.decode(latents / scaling_factor)           (the whole batch in one call)
 *   encode   vae.encode(image).latent_dist                  (DiagonalGaussianDistribution)
 *   sample   mean + std * randn_tensor(mean.shape, generator), std = exp(0.5 * clamp(logvar, -30, 20))
 *
 * Optimum's encoder export returns the distribution's parameters (`latent_parameters`: mean and
 * log-variance stacked on the channel axis), so the sample is drawn here with the pipeline's
 * seeded generator, exactly as diffusers' `retrieve_latents(..., generator)`. diffusers' old export
 * script samples inside the graph (`latent_sample`) with ONNX Runtime's unseeded RandomNormalLike:
 * that latent is taken as it is and cannot match diffusers' (see docs/pipeline.md).
 */
import type { Generator } from '../noise/generator.js';
import { randnTensor } from '../noise/randn.js';
import type { Float32Tensor } from '../tensor/tensor.js';
import type { VaeEncoderModel, VaeModel } from './components.js';
import { floatInput, floatOutput, type PipelineOrt, runSession } from './sessions.js';

/** `vae.decode(latents / scaling_factor)`: `[B, C, h, w]` latents -> `[B, 3, h * f, w * f]` in about [-1, 1]. */
export async function decodeLatents(
  ort: PipelineOrt,
  decoder: VaeModel,
  latents: Float32Tensor,
  scalingFactor: number,
  vaeScaleFactor: number,
): Promise<Float32Tensor> {
  const input = unscaleLatents(latents, scalingFactor);
  const outputs = await runSession(decoder, {
    [decoder.inputName]: floatInput(ort, input, decoder.inputType),
  });
  const [batch, , h, w] = latents.dims;
  return floatOutput(decoder, outputs, decoder.outputName, [
    batch,
    3,
    h * vaeScaleFactor,
    w * vaeScaleFactor,
  ]);
}

/**
 * `latents / scaling_factor` as torch computes it: a float32 tensor divided by a Python float is a
 * float32 division by the float32 scalar, and the double quotient of two float32 values rounded
 * once is that division's result. (diffusers' ONNX pipeline's `1 / 0.18215 * latents` can differ
 * by an ulp.)
 */
export function unscaleLatents(latents: Float32Tensor, scalingFactor: number): Float32Tensor {
  const factor = Math.fround(scalingFactor);
  const out = new Float32Array(latents.data.length);
  for (let i = 0; i < out.length; i++) out[i] = latents.data[i] / factor;
  return { data: out, dims: [...latents.dims], type: 'float32' };
}

/** The encoder's output for `[n, 3, H, W]` pixels: the distribution's parameters, or a sampled latent. */
export async function runEncoder(
  ort: PipelineOrt,
  encoder: VaeEncoderModel,
  pixels: Float32Tensor,
  latentChannels: number,
  vaeScaleFactor: number,
): Promise<Float32Tensor> {
  const outputs = await runSession(encoder, {
    [encoder.inputName]: floatInput(ort, pixels, encoder.inputType),
  });
  const [n, , height, width] = pixels.dims;
  const channels = encoder.style === 'latent_parameters' ? 2 * latentChannels : latentChannels;
  return floatOutput(encoder, outputs, encoder.outputName, [
    n,
    channels,
    height / vaeScaleFactor,
    width / vaeScaleFactor,
  ]);
}

/**
 * `DiagonalGaussianDistribution(parameters).sample(generator)` for one image's parameters
 * `[1, 2C, h, w]`: `mean + std * randn_tensor([1, C, h, w], generator)`, float32 throughout
 * (`std = exp(0.5 * clamp(logvar, -30, 20))`). Draws from `generator` (the default generator when
 * null), in diffusers' order: before the image-to-image noise.
 */
export function sampleLatent(parameters: Float32Tensor, generator: Generator | null): Float32Tensor {
  const [, doubled, h, w] = parameters.dims;
  const channels = doubled / 2;
  const n = channels * h * w;
  const eps = randnTensor([1, channels, h, w], { generator });
  const out = new Float32Array(n);
  const p = parameters.data;
  for (let i = 0; i < n; i++) {
    const logvar = Math.min(Math.max(p[n + i], -30), 20);
    const std = Math.fround(Math.exp(Math.fround(0.5 * logvar)));
    out[i] = p[i] + Math.fround(std * eps.data[i]);
  }
  return { data: out, dims: [1, channels, h, w], type: 'float32' };
}
