/**
 * The pipeline-overhead benchmark (cli/src/bench/pipeline.ts) and the session timing it and
 * `ddim generate` share (cli/src/timed-ort.ts). No timing is asserted (benchmarks are not tests):
 * the split's arithmetic on given times, that timed sessions pass everything through and record
 * every run, and that the benchmark runs and reports its fields.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { ASSUMED_STEPS, format, run } from '../cli/src/bench/pipeline.js';
import { type CreatedSession, componentOf, splitSteps, timedOrt } from '../cli/src/timed-ort.js';
import '../src/node/pipeline.js';
import { Generator } from '../src/noise/generator.js';
import { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import type { PipelineOrt } from '../src/pipeline/sessions.js';
import { tinySdDir } from './helpers/sd-pipeline.js';

describe('splitSteps', () => {
  it('takes whole iterations between the first and last onStep, the UNet runs inside as the model', () => {
    // onStep entered at 10, 30, 50, 70; UNet runs before each (the first outside the span).
    const steps = [10, 30, 50, 70];
    const runs = [
      { start: 0, end: 8 },
      { start: 12, end: 27 },
      { start: 32, end: 47 },
      { start: 52, end: 67 },
    ];
    expect(splitSteps(steps, runs)).toEqual({ steps: 4, perStepMs: 20, modelMs: 15, restMs: 5 });
    // The caller's own callback time (a progress bar) is not the pipeline's: steps 0..n-2 ran inside.
    expect(splitSteps(steps, runs, [1, 1, 1, 99])).toEqual({
      steps: 4,
      perStepMs: 19,
      modelMs: 15,
      restMs: 4,
    });
  });

  it('one step: from the UNet call to the step; nothing to split without steps or runs', () => {
    expect(splitSteps([10], [{ start: 2, end: 8 }])).toEqual({
      steps: 1,
      perStepMs: 8,
      modelMs: 6,
      restMs: 2,
    });
    expect(splitSteps([], [{ start: 2, end: 8 }])).toBeNull();
    expect(splitSteps([10, 20], [])).toBeNull();
  });
});

describe('timedOrt', () => {
  it('tells the components apart by their inputs', () => {
    expect(componentOf({ inputNames: ['sample', 'timestep', 'encoder_hidden_states'] })).toBe('unet');
    expect(componentOf({ inputNames: ['input_ids'] })).toBe('text_encoder');
    expect(componentOf({ inputNames: ['latent_sample'] })).toBe('vae_decoder');
    expect(componentOf({ inputNames: ['sample'] })).toBe('vae_encoder');
    expect(componentOf({ inputNames: ['x'] })).toBe('other');
  });

  it('records every run per component, and the pipeline gives the same image through it', async () => {
    const timed = timedOrt(ort as unknown as PipelineOrt);
    const pipe = await StableDiffusionPipeline.fromPretrained(tinySdDir, {
      ort: timed.ort,
      onWarning: () => {},
    });
    const plain = await StableDiffusionPipeline.fromPretrained(tinySdDir, {
      ort: ort as unknown as PipelineOrt,
      onWarning: () => {},
    });
    try {
      const options = { prompt: 'a red cube', numInferenceSteps: 3 };
      const a = await pipe.generate({ ...options, generator: new Generator().manualSeed(5) });
      const b = await plain.generate({ ...options, generator: new Generator().manualSeed(5) });
      expect(Buffer.from(a.images[0].data).equals(Buffer.from(b.images[0].data))).toBe(true);
      // Guidance: the prompt and the empty negative prompt (2 text-encoder calls), 3 UNet steps, 1 decode.
      expect(Object.fromEntries(Object.entries(timed.runs).map(([k, v]) => [k, v.length]))).toEqual({
        text_encoder: 2,
        unet: 3,
        vae_encoder: 0,
        vae_decoder: 1,
        other: 0,
      });
      for (const r of timed.runs.unet) expect(r.end).toBeGreaterThanOrEqual(r.start);
      timed.clear();
      expect(timed.runs.unet).toEqual([]);
    } finally {
      await pipe.release();
      await plain.release();
    }
  });

  it('replaces a component by a stand-in made from the real session (released)', async () => {
    let released = 0;
    const calls: string[] = [];
    const fakeOrt = {
      Tensor: ort.Tensor,
      InferenceSession: {
        async create(model: string | Uint8Array): Promise<CreatedSession> {
          calls.push(String(model));
          return {
            inputNames: ['sample', 'timestep', 'encoder_hidden_states'],
            outputNames: ['out_sample'],
            run: async () => ({}),
            release: async () => {
              released++;
            },
          };
        },
      },
    } as unknown as PipelineOrt;
    const timed = timedOrt(fakeOrt, {
      replace: {
        unet: (real) => ({
          ...real,
          outputNames: ['stand_in'],
          run: async () => ({ marker: real as never }),
        }),
      },
    });
    const session = (await timed.ort.InferenceSession.create('unet/model.onnx')) as CreatedSession;
    expect(released).toBe(1);
    expect(session.outputNames).toEqual(['stand_in']);
    expect(session.inputNames).toEqual(['sample', 'timestep', 'encoder_hidden_states']);
    expect(Object.keys(await session.run({}))).toEqual(['marker']);
    expect(timed.runs.unet).toHaveLength(1);
    expect(calls).toEqual(['unet/model.onnx']);
  });
});

describe('the pipeline benchmark', () => {
  it('runs every case on the tiny model and reports its fields', async () => {
    const result = await run({ time: 0, minRuns: 1, steps: 3 });
    expect(result.name).toBe('pipeline');
    expect(result.skipped).toBeUndefined();
    expect(result.onnxruntime).toMatch(/^\d+\.\d+\.\d+/);
    expect(result.cases.map((c) => [c.latents, c.stand_in, c.steps, c.runs])).toEqual([
      [[1, 4, 32, 32], false, 3, 1],
      ...new Array(5).fill([[1, 4, 64, 64], true, 3, 1]),
    ]);
    for (const c of result.cases) {
      for (const v of [c.stepUs, c.modelUs, c.restUs, c.restMedianUs, c.generatePerStepMs]) {
        expect(Number.isFinite(v)).toBe(true);
      }
      expect(c.modelUs).toBeGreaterThan(0);
      expect(c.stepUs).toBeCloseTo(c.modelUs + c.restUs, 6);
      expect(c.restFraction).toBeCloseTo(c.restUs / c.stepUs, 12);
    }
    expect(result.pieces.map((p) => p.name)).toEqual([
      'classifierFreeGuidance (uncond + 7.5 (cond - uncond))',
      'rescaleNoiseCfg (rescale 0.7, in place)',
      'randnTensor (the eta > 0 noise of one step)',
    ]);
    const text = format(result);
    expect(text).toContain('| (a) tiny-sd, its real UNet, guidance 7.5 | 1x4x32x32 | 1 x 3 |');
    for (const a of ASSUMED_STEPS) expect(text).toContain(`- ${a.stepMs} ms: ${a.what}; ${a.source}`);
    expect(text).toContain('| case | 22 ms step | 96 ms step | 512 ms step |');
  }, 120_000);

  it('reports a skip, not a failure, without the tiny model folder', async () => {
    const result = await run({ modelFolder: '/nonexistent/tiny-sd' });
    expect(result.cases).toEqual([]);
    expect(result.skipped).toContain('/nonexistent/tiny-sd');
    expect(format(result)).toContain('skipped: the tiny model folder /nonexistent/tiny-sd is not there');
  });
});
