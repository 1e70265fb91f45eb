import { describe, expect, it } from 'vitest';
import { DDIMInverseScheduler, DDIMScheduler } from '../src/index.js';
import { expectClose, f32, type LoopCase, loadFixture } from './helpers/fixtures.js';
import { toyLoop } from './helpers/models.js';

describe('loops.json (eta = 0 sampling loops)', () => {
  const { cases } = loadFixture<LoopCase>('loops.json');
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));
  for (const c of cases) {
    it(`${c.config_name} n=${c.num_inference_steps}`, () => {
      expect(c.model).toBe('x*t/(t+1)');
      const s = new DDIMScheduler(c.config).setTimesteps(c.num_inference_steps);
      const x = toyLoop(s, { data: f32(c.initial), dims: c.shape, type: 'float32' });
      expectClose(x.data, c.final, c.tol, 'final');
      if (c.abs_sum !== undefined) {
        let sum = 0;
        for (const v of x.data) sum += Math.abs(v);
        expect(Math.abs(sum - c.abs_sum)).toBeLessThanOrEqual(c.tol * Math.max(1, c.abs_sum));
      }
    });
  }
});

describe('inverse_loops.json (DDIM inversion loops)', () => {
  const { cases } = loadFixture<LoopCase>('inverse_loops.json');
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));
  for (const c of cases) {
    it(`${c.config_name} ${JSON.stringify(c.config)} n=${c.num_inference_steps}`, () => {
      const s = new DDIMInverseScheduler(c.config).setTimesteps(c.num_inference_steps);
      expect(Array.from(s.timesteps)).toEqual(c.timesteps);
      const x = toyLoop(s, { data: f32(c.initial), dims: c.shape, type: 'float32' });
      expectClose(x.data, c.final, c.tol, 'final');
    });
  }
});
