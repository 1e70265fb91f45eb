/**
 * The pipeline's conversions against diffusers' own outputs (test/fixtures/tiny-sd/reference.json):
 * VaeImageProcessor's preprocess and postprocess bit for bit (192 round-half-to-even ties among
 * the edge cases), `latents / scaling_factor` bit for bit, the VAE decode and encode on the ONNX
 * models, and the seeded latent sample of `DiagonalGaussianDistribution.sample(generator)`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterEach, describe, expect, it } from 'vitest';
import { ArgumentError } from '../src/errors.js';
import { Generator } from '../src/noise/generator.js';
import { DEFAULT_SCALING_FACTOR, VAE_ENCODER_STYLES } from '../src/pipeline/components.js';
import { checkImage, postprocessImages, postprocessValue, preprocessImage } from '../src/pipeline/image.js';
import { imageInitLatents } from '../src/pipeline/latents.js';
import type { PipelineOrt } from '../src/pipeline/sessions.js';
import { decodeLatents, sampleLatent, unscaleLatents } from '../src/pipeline/vae.js';
import type { OrtSessionLike } from '../src/runtime/onnxruntime.js';
import { relError, tinySdDir } from './helpers/sd-pipeline.js';

interface RefTensor {
  shape: number[];
  data: number[];
}
const reference = JSON.parse(readFileSync(join(tinySdDir, 'reference.json'), 'utf8')) as Record<
  string,
  Record<string, RefTensor>
>;
const f32 = (t: RefTensor) => ({ data: Float32Array.from(t.data), dims: t.shape, type: 'float32' as const });

async function session(file: string) {
  return {
    file,
    session: (await ort.InferenceSession.create(join(tinySdDir, file))) as unknown as OrtSessionLike,
  };
}

describe('image conversions (VaeImageProcessor)', () => {
  it('postprocess: the 201 edge cases, bit for bit (clamping, and 192 ties rounded half to even)', () => {
    const edge = reference.postprocess_edge_cases;
    const [image] = postprocessImages(f32(edge.input));
    const want = edge.pil_uint8.data;
    expect(image.width).toBe(67);
    expect(image.height).toBe(1);
    const got: number[] = [];
    for (let p = 0; p < 67; p++) got.push(image.data[p * 4], image.data[p * 4 + 1], image.data[p * 4 + 2]);
    expect(got).toEqual(want);
    // Math.round would get half of the ties wrong: the test can tell.
    const naive = Array.from(f32(edge.input).data, (x) =>
      Math.round(Math.fround(Math.min(Math.max(Math.fround(x / 2 + 0.5), 0), 1) * 255)),
    );
    const wantPlanar = [0, 1, 2].flatMap((c) => Array.from({ length: 67 }, (_, p) => want[p * 3 + c]));
    expect(naive.filter((v, i) => v !== wantPlanar[i]).length).toBeGreaterThan(50);
  });

  it("postprocess: the decoder's output of reference.json, bit for bit; RGBA with alpha 255", () => {
    const vae = reference.vae_decoder;
    const images = postprocessImages(f32(vae.sample));
    const want = vae.postprocess_pil_uint8.data;
    expect(images).toHaveLength(2);
    const got: number[] = [];
    for (const image of images) {
      expect([image.width, image.height]).toEqual([20, 12]);
      for (let p = 0; p < 240; p++) {
        got.push(image.data[p * 4], image.data[p * 4 + 1], image.data[p * 4 + 2]);
        expect(image.data[p * 4 + 3]).toBe(255);
      }
    }
    expect(got).toEqual(want);
    expect(postprocessValue(Number.NaN)).toBe(0);
  });

  describe('where the runtime has ImageData', () => {
    afterEach(() => {
      delete (globalThis as { ImageData?: unknown }).ImageData;
    });
    it('the images are ImageData objects', () => {
      class FakeImageData {
        constructor(
          readonly data: Uint8ClampedArray,
          readonly width: number,
          readonly height: number,
        ) {}
      }
      (globalThis as { ImageData?: unknown }).ImageData = FakeImageData;
      const [image] = postprocessImages({
        data: new Float32Array(3 * 4),
        dims: [1, 3, 2, 2],
        type: 'float32',
      });
      expect(image).toBeInstanceOf(FakeImageData);
      expect([image.width, image.height, image.data.length]).toEqual([2, 2, 16]);
    });
  });

  it('preprocess: bit for bit, from RGB and from RGBA (alpha dropped)', () => {
    const pre = reference.preprocess;
    const [h, w] = pre.image_uint8_hwc.shape;
    const rgb = Uint8Array.from(pre.image_uint8_hwc.data);
    const fromRgb = preprocessImage(checkImage({ width: w, height: h, data: rgb }, 'image'));
    expect(fromRgb.dims).toEqual([1, 3, h, w]);
    expect(Array.from(fromRgb.data)).toEqual(Array.from(Float32Array.from(pre.sample.data)));
    const rgba = new Uint8ClampedArray(w * h * 4);
    for (let p = 0; p < w * h; p++) {
      rgba.set(rgb.subarray(p * 3, p * 3 + 3), p * 4);
      rgba[p * 4 + 3] = p % 256;
    }
    expect(preprocessImage(checkImage({ width: w, height: h, data: rgba }, 'image')).data).toEqual(
      fromRgb.data,
    );
  });

  it('refuses images that are not 8-bit RGB(A) pixels of their size', () => {
    for (const bad of [
      null,
      { width: 2, height: 2, data: new Float32Array(16) },
      { width: 2, height: 2, data: new Uint8Array(15) },
      { width: 0, height: 2, data: new Uint8Array(0) },
      { width: 2.5, height: 2, data: new Uint8Array(20) },
    ]) {
      expect(() => checkImage(bad, 'options.image')).toThrow(ArgumentError);
    }
  });
});

describe('the VAE', () => {
  const ortModule = ort as unknown as PipelineOrt;

  it('latents / scaling_factor is float32 division by the float32 scalar, bit for bit', () => {
    const vae = reference.vae_decoder;
    const got = unscaleLatents(f32(vae.latents), DEFAULT_SCALING_FACTOR);
    expect(Array.from(got.data)).toEqual(Array.from(Float32Array.from(vae.latent_sample.data)));
  });

  it('decodes the reference latents to the reference sample (rel 1e-4) and the same uint8 image', async () => {
    const vae = reference.vae_decoder;
    const decoder = {
      ...(await session('vae_decoder/model.onnx')),
      inputName: 'latent_sample',
      inputType: 'float32' as const,
      outputName: 'sample',
    };
    const decoded = await decodeLatents(ortModule, decoder, f32(vae.latents), DEFAULT_SCALING_FACTOR, 2);
    expect(decoded.dims).toEqual([2, 3, 12, 20]);
    expect(relError(decoded.data, vae.sample.data)).toBeLessThanOrEqual(1e-5);
    const got = postprocessImages(decoded).flatMap((image) =>
      Array.from({ length: 240 }, (_, p) => [
        image.data[p * 4],
        image.data[p * 4 + 1],
        image.data[p * 4 + 2],
      ]).flat(),
    );
    expect(got).toEqual(vae.postprocess_pil_uint8.data);
  });

  it("samples the latent as DiagonalGaussianDistribution.sample(generator) does (torch's seed 0)", () => {
    const enc = reference.vae_encoder;
    const sampled = sampleLatent(f32(enc.latent_parameters), new Generator().manualSeed(0));
    expect(sampled.dims).toEqual([1, 4, 8, 12]);
    expect(relError(sampled.data, enc.sample_generator_seed0.data)).toBeLessThanOrEqual(1e-6);
  });

  it('image -> init latents: preprocess, the ONNX encoder, the seeded sample, times scaling_factor', async () => {
    const pre = reference.preprocess;
    const enc = reference.vae_encoder;
    const [h, w] = pre.image_uint8_hwc.shape;
    const encoder = {
      ...(await session('vae_encoder/model.onnx')),
      inputName: 'sample',
      inputType: 'float32' as const,
      outputName: 'latent_parameters',
      style: VAE_ENCODER_STYLES[0],
    };
    const pixels = preprocessImage(
      checkImage({ width: w, height: h, data: Uint8Array.from(pre.image_uint8_hwc.data) }, 'image'),
    );
    const common = {
      ort: ortModule,
      encoder,
      pixels,
      latentChannels: 4,
      scalingFactor: DEFAULT_SCALING_FACTOR,
      vaeScaleFactor: 2,
      onWarning: () => {
        throw new Error('no warning expected');
      },
    };
    const one = await imageInitLatents({ ...common, batch: 1, generator: new Generator().manualSeed(0) });
    expect(one.dims).toEqual([1, 4, 8, 12]);
    // The ONNX encoder is 1.4e-5 from torch (the fixture's floor); the rest is float32-exact.
    expect(relError(one.data, enc.init_latents_seed0.data)).toBeLessThanOrEqual(1e-4);
    // One generator, batch 3: one sample, repeated (diffusers' duplication); a list: one sample each.
    const three = await imageInitLatents({ ...common, batch: 3, generator: new Generator().manualSeed(0) });
    for (let i = 0; i < 3; i++) expect(three.data.subarray(i * 384, (i + 1) * 384)).toEqual(one.data);
    const list = await imageInitLatents({
      ...common,
      batch: 2,
      generator: [new Generator().manualSeed(5), new Generator().manualSeed(0)],
    });
    expect(list.data.subarray(384)).toEqual(one.data);
    expect(relError(list.data.subarray(0, 384), one.data)).toBeGreaterThan(0.01);
  });
});
