/**
 * float32_schedules.json (scripts/float32-schedules.py, torch 1.13 CPU): the schedules diffusers
 * builds are float32 tensors, and the library reproduces them bit for bit (see src/scheduler/schedule.ts),
 * as well as `_get_variance`'s float32 arithmetic on them. Compared exactly, not under a tolerance.
 */
import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { DDIMInverseScheduler, DDIMScheduler } from '../src/index.js';
import { loadFixture } from './helpers/fixtures.js';

interface Float32ScheduleCase {
  config: Record<string, unknown>;
  betas: string;
  alphas: string;
  alphas_cumprod: string;
  variances: [number, number, number][];
}

const { cases } = loadFixture<Float32ScheduleCase>('float32_schedules.json');

function decode(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/** Indices where got and want differ in any bit (as float32 values held in doubles). */
function differing(got: ArrayLike<number>, want: Float32Array): number[] {
  expect(got.length).toBe(want.length);
  const bad: number[] = [];
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) bad.push(i);
  return bad;
}

describe('float32_schedules.json: bit-exact float32 schedules and variances', () => {
  it('has cases of every schedule', () => {
    const kinds = new Set(
      cases.map((c) => (c.config.trained_betas ? 'trained' : String(c.config.beta_schedule ?? 'linear'))),
    );
    expect([...kinds].sort()).toEqual(['linear', 'scaled_linear', 'squaredcos_cap_v2', 'trained']);
    expect(cases.some((c) => c.config.rescale_betas_zero_snr === true)).toBe(true);
  });
  for (const c of cases) {
    const name = JSON.stringify(c.config).slice(0, 160);
    it(name, () => {
      const s = new DDIMScheduler(c.config, { onWarning: () => {} });
      expect(differing(s.betas, decode(c.betas)), 'betas').toEqual([]);
      expect(differing(s.alphas, decode(c.alphas)), 'alphas').toEqual([]);
      expect(differing(s.alphasCumprod, decode(c.alphas_cumprod)), 'alphas_cumprod').toEqual([]);
      const inv = new DDIMInverseScheduler(c.config, { onWarning: () => {} });
      expect(differing(inv.alphasCumprod, decode(c.alphas_cumprod)), 'inverse alphas_cumprod').toEqual([]);
      s.setTimesteps(1);
      for (const [t, prev, want] of c.variances)
        expect(s.getVariance(t, prev), `variance ${t} -> ${prev}`).toBe(want);
    });
  }
});
