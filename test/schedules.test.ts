import { describe, expect, it } from 'vitest';
import { DDIMInverseScheduler, DDIMScheduler } from '../src/index.js';
import { expectClose, loadFixture } from './helpers/fixtures.js';

interface ScheduleCase {
  name: string;
  config: Record<string, unknown>;
  betas: number[];
  alphas_cumprod: number[];
  final_alpha_cumprod: number;
  tol: number;
}

const { cases } = loadFixture<ScheduleCase>('schedules.json');

describe('schedules.json (betas, alphas_cumprod, final_alpha_cumprod)', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));
  for (const c of cases) {
    it(c.name, () => {
      const s = new DDIMScheduler(c.config);
      expectClose(s.betas, c.betas, c.tol, 'betas');
      expectClose(s.alphasCumprod, c.alphas_cumprod, c.tol, 'alphas_cumprod');
      expectClose([s.finalAlphaCumprod], [c.final_alpha_cumprod], c.tol, 'final_alpha_cumprod');
      // alphas = 1 - betas as a float32 tensor op (diffusers keeps the schedule in float32).
      for (let i = 0; i < s.alphas.length; i++) expect(s.alphas[i]).toBe(Math.fround(1 - s.betas[i]));
    });
    it(`${c.name}: the inverse scheduler builds the same schedule`, () => {
      const { thresholding, dynamic_thresholding_ratio, sample_max_value, timestep_spacing, ...rest } =
        c.config;
      const inv = new DDIMInverseScheduler(rest, { onWarning: () => {} });
      expectClose(inv.alphasCumprod, c.alphas_cumprod, c.tol, 'alphas_cumprod');
      expectClose([inv.initialAlphaCumprod], [c.final_alpha_cumprod], c.tol, 'initial_alpha_cumprod');
    });
  }
});
