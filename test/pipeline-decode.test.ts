/**
 * `StableDiffusionPipeline.decode`: generate's last stage (latents / scaling_factor, the VAE
 * decoder, diffusers' uint8 postprocessing) on latents the caller gives, as the playground's x0
 * previews use it.
 */
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, ArgumentError, ShapeError, StateError } from '../src/errors.js';
import { StableDiffusionPipeline } from '../src/node/pipeline.js';
import { Generator } from '../src/noise/generator.js';
import { floats, loadCase, tinySdDir, uint8Difference } from './helpers/sd-pipeline.js';

let pipe: StableDiffusionPipeline;

beforeAll(async () => {
  pipe = await StableDiffusionPipeline.fromPretrained(tinySdDir, { ort, onWarning: () => {} });
});

afterAll(async () => {
  await pipe?.release();
});

describe('StableDiffusionPipeline.decode', () => {
  it("gives generate's images from generate's latents, and decodes each step's predicted x0", async () => {
    const x0: Float32Array[] = [];
    const result = await pipe.generate({
      prompt: 'a lighthouse',
      numInferenceSteps: 4,
      height: 32,
      width: 48,
      numImagesPerPrompt: 2,
      generator: new Generator().manualSeed(5),
      onStep: (info) => {
        x0.push((info.predOriginalSample.data as Float32Array).slice());
      },
    });
    const images = await pipe.decode(result.latents);
    expect(images).toHaveLength(2);
    for (let i = 0; i < 2; i++) {
      expect([images[i].width, images[i].height]).toEqual([48, 32]);
      expect(images[i].data).toEqual(result.images[i].data);
    }
    // float64 latents are the same latents.
    const wide = await pipe.decode({
      data: Float64Array.from(result.latents.data),
      dims: result.latents.dims,
    });
    expect(wide[1].data).toEqual(result.images[1].data);
    // x0 of the first and last steps: pictures of the run's size, and not the final image.
    const first = await pipe.decode({ data: x0[0], dims: [2, 4, 16, 24] });
    const last = await pipe.decode({ data: x0[3], dims: [2, 4, 16, 24] });
    let differ = 0;
    for (let i = 0; i < first[0].data.length; i++) if (first[0].data[i] !== last[0].data[i]) differ++;
    expect(differ).toBeGreaterThan(1000);
  });

  it("decodes a fixture's final latents to diffusers' uint8 image", async () => {
    const c = loadCase(join(tinySdDir, 'pipeline'), 'a_txt2img');
    const images = await pipe.decode({ data: floats(c.latents_final), dims: c.latents_final.dims });
    const diff = uint8Difference(images, c.image_uint8);
    expect(diff.maxDiff).toBeLessThanOrEqual(1);
    expect(diff.fraction).toBeLessThanOrEqual(0.005);
  });

  it('refuses latents of the wrong shape, unknown options, an aborted signal and a released pipeline', async () => {
    const ok = { data: new Float32Array(4 * 8 * 8), dims: [1, 4, 8, 8] };
    await expect(pipe.decode({ data: new Float32Array(3 * 64), dims: [1, 3, 8, 8] })).rejects.toThrow(
      ShapeError,
    );
    await expect(pipe.decode({ data: new Float32Array(4 * 64), dims: [4, 8, 8] })).rejects.toThrow(
      ShapeError,
    );
    await expect(pipe.decode({ data: new Float32Array(10), dims: [1, 4, 8, 8] })).rejects.toThrow(ShapeError);
    await expect(pipe.decode(ok, { steps: 2 } as never)).rejects.toThrow(ArgumentError);
    await expect(pipe.decode(ok, { signal: 'stop' } as never)).rejects.toThrow(ArgumentError);
    const controller = new AbortController();
    controller.abort();
    await expect(pipe.decode(ok, { signal: controller.signal })).rejects.toThrow(AbortError);
    const other = await StableDiffusionPipeline.fromPretrained(tinySdDir, { ort, onWarning: () => {} });
    await other.release();
    await expect(other.decode(ok)).rejects.toThrow(StateError);
  });
});
