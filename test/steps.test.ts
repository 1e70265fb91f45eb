import { describe, expect, it } from 'vitest';
import { DDIMScheduler } from '../src/index.js';
import { expectClose, f32, loadFixture } from './helpers/fixtures.js';

interface StepCase {
  config_name: string;
  config: Record<string, unknown>;
  num_inference_steps: number;
  timestep: number;
  eta: number;
  use_clipped_model_output: boolean;
  shape: number[];
  sample: number[];
  model_output: number[];
  variance_noise?: number[];
  prev_sample: number[];
  pred_original_sample: number[];
  diffusers_gives_nan?: boolean;
  tol: number;
}

const { cases } = loadFixture<StepCase>('steps.json');

describe('steps.json (one step)', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));
  // Zero terminal SNR with eta = 1: diffusers' sqrt of a rounded negative gives NaN; the fixtures
  // hold the clamped, exact values, which the cases below must match (expectClose fails on NaN).
  it('includes cases where diffusers gives NaN', () => {
    expect(cases.some((c) => c.diffusers_gives_nan)).toBe(true);
  });
  cases.forEach((c, i) => {
    const name = `#${i} ${c.config_name} n=${c.num_inference_steps} t=${c.timestep} eta=${c.eta} clipped=${c.use_clipped_model_output}${c.diffusers_gives_nan ? ' (diffusers: NaN)' : ''}`;
    it(name, () => {
      const s = new DDIMScheduler(c.config).setTimesteps(c.num_inference_steps);
      const out = s.step(
        { data: f32(c.model_output), dims: c.shape },
        c.timestep,
        { data: f32(c.sample), dims: c.shape },
        {
          eta: c.eta,
          useClippedModelOutput: c.use_clipped_model_output,
          varianceNoise: c.variance_noise ? { data: f32(c.variance_noise), dims: c.shape } : null,
        },
      );
      expect(out.prevSample.dims).toEqual(c.shape);
      expect(out.prevSample.type).toBe('float32');
      expectClose(out.prevSample.data, c.prev_sample, c.tol, 'prev_sample');
      expectClose(out.predOriginalSample.data, c.pred_original_sample, c.tol, 'pred_original_sample');
    });
  });
});
