/**
 * StableDiffusionPipeline against 32 more runs of diffusers' unchanged pipelines on tiny-sd
 * (test/fixtures/pipeline-extra: batches and generator lists, sizes, spacings, prediction types,
 * thresholding, guidance corners, prompts and tensors passed in, image-to-image corners, the
 * constructor's scheduler rewrite), each within its own `tolerance`, through `pipe.generate(...)`.
 *
 * `o_trailing_61_steps` is the one case that cannot match: numpy's arange gives diffusers 62
 * trailing timesteps ending at -1, the library keeps the 61 real ones (docs/diffusers-differences.md).
 * What we do instead is asserted exactly: the same first 61 timesteps and steps, and diffusers'
 * final latents are our final latents taken through its extra step at t = -1.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelFiles } from '../src/loading/model-files.js';
import { openModelFolder } from '../src/node/pipeline.js';
import { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { clipSampleWarning, stepsOffsetWarning } from '../src/pipeline/pipeline-scheduler.js';
import { DDIMScheduler } from '../src/scheduler/ddim.js';
import {
  type CaseMeasure,
  checkCase,
  describeMeasure,
  extraCaseNames,
  extraDir,
  floats,
  loadCase,
  type RecordedCall,
  recordingOrt,
  relError,
  runCase,
  tinySdDir,
  uint8Difference,
} from './helpers/sd-pipeline.js';

const calls: RecordedCall[] = [];
const warnings: string[] = [];
let pipe: StableDiffusionPipeline;

beforeAll(async () => {
  pipe = await StableDiffusionPipeline.fromPretrained(tinySdDir, {
    ort: recordingOrt(calls),
    onWarning: (m) => warnings.push(m),
  });
});

/** The `_diffusers_version` line differs (diffusers writes its own version): compare without it. */
function withoutVersion(text: string): string {
  return text.replace(/"_diffusers_version": "[^"]*"/, '"_diffusers_version": "*"');
}

const SPECIAL = new Set([
  'o_trailing_61_steps',
  's_constructor_rewrites_scheduler',
  't_guidance_05_negative_ignored',
]);

describe('StableDiffusionPipeline: the 32 extra diffusers runs (pipeline-extra/)', () => {
  it('lists the 32 cases', () => {
    expect(extraCaseNames()).toHaveLength(32);
  });

  for (const name of extraCaseNames().filter((n) => !SPECIAL.has(n))) {
    it(name, async () => {
      const c = loadCase(extraDir, name);
      const run = await runCase(pipe, c, calls, warnings);
      const measure = checkCase(c, run);
      // diffusers' only call-time warning here is img2img's deprecation of one image for a batch
      // (ia); the pipeline takes one image by design and repeats it without a warning.
      expect(run.warnings).toEqual([]);
      if (c.img2img) {
        // The encoder is deterministic: it runs once, whatever the generators (diffusers: once per
        // generator of a list, on the same image).
        const encoder = run.calls.filter((call) => call.file === 'vae_encoder/model.onnx');
        expect(encoder).toHaveLength(1);
        expect(encoder[0].dims.sample).toEqual([1, 3, c.image_uint8.dims[1], c.image_uint8.dims[2]]);
        expect(run.timesteps).toHaveLength(c.img2img.steps_run);
      }
      report(name, measure);
    });
  }

  it('t_guidance_05_negative_ignored: guidance <= 1 runs one text encoder call and one UNet batch, and says the negative prompt is unused', async () => {
    const c = loadCase(extraDir, 't_guidance_05_negative_ignored');
    const run = await runCase(pipe, c, calls, warnings);
    const measure = checkCase(c, run); // text encoder calls 1, UNet batch 1 (asserted there)
    expect(run.warnings).toEqual([
      'negativePrompt is ignored: classifier-free guidance runs only when guidanceScale > 1 (got 0.5), as in diffusers.',
    ]);
    report(c.name, measure);
  });

  it("s_constructor_rewrites_scheduler: a folder's old scheduler config is fixed as diffusers' constructor fixes it, with its warnings", async () => {
    const c = loadCase(extraDir, 's_constructor_rewrites_scheduler');
    const folder = await openModelFolder(tinySdDir);
    const config = JSON.parse(readFileSync(join(tinySdDir, 'scheduler', 'scheduler_config.json'), 'utf8'));
    const old: ModelFiles = {
      location: folder.location,
      has: (path) => folder.has(path),
      readModel: (path) => folder.readModel(path),
      readText: async (path) =>
        path === 'scheduler/scheduler_config.json'
          ? JSON.stringify({ ...config, ...c.scheduler.constructor_overrides })
          : folder.readText(path),
    };
    const loadWarnings: string[] = [];
    const oldPipe = await StableDiffusionPipeline.fromPretrained(old, {
      ort: recordingOrt(calls),
      onWarning: (m) => loadWarnings.push(m),
    });
    try {
      expect(oldPipe.scheduler.toJSON()).toMatchObject(c.scheduler.effective_config);
      const want = c.warnings!.constructor.map((w) => withoutVersion(w.message));
      expect(want).toHaveLength(2);
      expect(loadWarnings.map(withoutVersion)).toEqual(want);
      // The texts are the functions' (the scheduler printed as it was at each rewrite).
      const before = DDIMScheduler.fromConfig(config, c.scheduler.constructor_overrides);
      expect(withoutVersion(stepsOffsetWarning(before))).toBe(want[0]);
      expect(
        withoutVersion(clipSampleWarning(DDIMScheduler.fromConfig(before.config, { steps_offset: 1 }))),
      ).toBe(want[1]);
      const run = await runCase(oldPipe, c, calls, warnings);
      report(c.name, checkCase(c, run));
      // A scheduler assigned afterwards is used as given (steps_offset 0 stays 0): the n1 case.
      const n1 = loadCase(extraDir, 'n1_leading_offset0_7steps');
      expect(n1.scheduler.effective_config.steps_offset).toBe(0);
      checkCase(n1, await runCase(oldPipe, n1, calls, warnings));
    } finally {
      await oldPipe.release();
    }
  });

  it('o_trailing_61_steps: our 61 trailing timesteps are diffusers\u2019 first 61; its 62nd step (t = -1) is the documented difference', async () => {
    const c = loadCase(extraDir, 'o_trailing_61_steps');
    expect(c.timesteps).toHaveLength(62);
    expect(c.timesteps[61]).toBe(-1);
    const run = await runCase(pipe, c, calls, warnings);
    // Everything up to the last real timestep is diffusers': timesteps, first step, UNet inputs.
    expect(run.timesteps).toEqual(c.timesteps.slice(0, 61));
    const measure = checkCase(c, run, { final: false });
    // Our final latents differ from diffusers' by its extra step...
    const want = floats(c.latents_final);
    expect(relError(run.result.latents.data, want)).toBeGreaterThan(0.1);
    // ...and that step, taken from our final latents, gives diffusers' final latents: the UNet at
    // t = -1 (guided, on the last call's embeddings), then DDIM eq. 12 from alpha_bar[-1] (Python's
    // last element, alpha_bar_999) to final_alpha_cumprod (prev = -1 - 1000 // 61 < 0).
    const unet = run.calls.filter((call) => call.file === 'unet/model.onnx');
    const last = unet[unet.length - 1];
    const session = await ort.InferenceSession.create(join(tinySdDir, 'unet', 'model.onnx'));
    const x = run.result.latents.data;
    const doubled = new Float32Array(2 * x.length);
    doubled.set(x);
    doubled.set(x, x.length);
    const out = await session.run({
      sample: new ort.Tensor('float32', doubled, [2, ...run.result.latents.dims.slice(1)]),
      timestep: new ort.Tensor('int64', BigInt64Array.from([-1n]), [1]),
      encoder_hidden_states: new ort.Tensor(
        'float32',
        last.floats.encoder_hidden_states,
        last.dims.encoder_hidden_states,
      ),
    });
    await session.release();
    const eps = out.out_sample.data as Float32Array;
    const scheduler = DDIMScheduler.fromConfig(pipe.scheduler.config, c.scheduler.overrides);
    const aT = scheduler.alphasCumprod[999];
    const aPrev = scheduler.finalAlphaCumprod;
    const extra = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const u = eps[i];
      const guided = u + 7.5 * (eps[x.length + i] - u);
      const x0 = (x[i] - Math.sqrt(1 - aT) * guided) / Math.sqrt(aT);
      extra[i] = Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * guided;
    }
    const finalRel = relError(extra, want);
    expect(finalRel).toBeLessThanOrEqual(1e-4);
    // The image diffusers decodes comes from those latents; ours from the 61-step ones.
    const image = uint8Difference(run.result.images, c.image_uint8);
    expect(image.maxDiff).toBeGreaterThan(1);
    report(c.name, { ...measure, finalRel, uint8Off: image.count, uint8Max: image.maxDiff });
  });
});

function report(name: string, measure: CaseMeasure): void {
  console.log(`${name}: ${describeMeasure(measure)}`);
}
