/**
 * StableDiffusionPipeline against diffusers' own runs on the tiny-sd folder (test/fixtures/tiny-sd,
 * pipeline/*.json: 7 cases), through `pipe.generate(...)` only: the final and per-step latents
 * within rel 1e-4, the uint8 image at most 1 level off on at most 0.5 % of values, the token ids
 * the text encoder received, its number of calls, and the UNet's inputs at the first step.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/node/pipeline.js';
import { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import {
  checkCase,
  describeMeasure,
  fixtureCaseNames,
  loadCase,
  type RecordedCall,
  recordingOrt,
  runCase,
  tinySdDir,
} from './helpers/sd-pipeline.js';

const calls: RecordedCall[] = [];
const warnings: string[] = [];
let pipe: StableDiffusionPipeline;

beforeAll(async () => {
  pipe = await StableDiffusionPipeline.fromPretrained(tinySdDir, {
    ort: recordingOrt(calls),
    onWarning: (m) => warnings.push(m),
  });
  // The folder's scheduler config is SD 1.5's, current: no constructor rewrite, nothing to warn about.
  expect(warnings).toEqual([]);
});

describe('StableDiffusionPipeline: diffusers runs on tiny-sd (pipeline/)', () => {
  it('lists the 7 cases of the fixture', () => {
    expect(fixtureCaseNames()).toEqual([
      'a_txt2img',
      'b_zero_snr',
      'c_eta1',
      'd_batch',
      'e_img2img',
      'f_long_prompt',
      'g_no_cfg',
    ]);
  });

  for (const name of fixtureCaseNames()) {
    it(name, async () => {
      const c = loadCase(join(tinySdDir, 'pipeline'), name);
      const run = await runCase(pipe, c, calls, warnings);
      const measure = checkCase(c, run);
      if (name === 'f_long_prompt') {
        // diffusers' warning, with the ids cut off decoded (97 tokens: 22 past bos + 75 + eos).
        expect(run.warnings).toHaveLength(1);
        expect(run.warnings[0]).toMatch(
          /^The following part of your input was truncated because CLIP can only handle sequences up to 77 tokens: \["\S.+"\]$/,
        );
      } else {
        expect(run.warnings).toEqual([]);
      }
      console.log(`${name}: ${describeMeasure(measure)}`);
    });
  }
});
