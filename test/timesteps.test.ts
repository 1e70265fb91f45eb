import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ArgumentError, DDIMInverseScheduler, DDIMScheduler, ddimTimesteps } from '../src/index.js';
import { numpyArange, numpyLinspace, roundHalfEven } from '../src/scheduler/timesteps.js';
import { loadFixture } from './helpers/fixtures.js';

const here = dirname(fileURLToPath(import.meta.url));

interface TimestepCase {
  scheduler: 'ddim' | 'ddim_inverse';
  config: Record<string, unknown>;
  num_inference_steps: number;
  timesteps?: number[];
  error?: string;
}

const { cases } = loadFixture<TimestepCase>('timesteps.json');

describe('timesteps.json', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));
  for (const c of cases) {
    const name = `${c.scheduler} ${JSON.stringify(c.config)} n=${c.num_inference_steps}`;
    it(name, () => {
      const s = c.scheduler === 'ddim' ? new DDIMScheduler(c.config) : new DDIMInverseScheduler(c.config);
      if (c.error !== undefined) {
        expect(c.error).toBe('ValueError');
        expect(() => s.setTimesteps(c.num_inference_steps)).toThrow(ArgumentError);
        expect(s.numInferenceSteps).toBeNull();
        return;
      }
      s.setTimesteps(c.num_inference_steps);
      expect(Array.from(s.timesteps)).toEqual(c.timesteps);
      expect(s.numInferenceSteps).toBe(c.num_inference_steps);
    });
  }
});

describe('numpy semantics', () => {
  it('rounds half to even like np.round', () => {
    expect([0.5, 1.5, 2.5, 166.5, 167.5, -0.5, -1.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([
      0, 2, 2, 166, 168, -0, -2, 2, 3,
    ]);
  });
  it('np.arange(1000, 0, -1000/3) has 3 values', () => {
    // numpy fills element i >= 2 as start + i * ((start + step) - start): 333.3333333333335, not
    // 1000 - 2 * (1000 / 3) = 333.33333333333337 (value printed by numpy 2.4 for this expression).
    const step = -1000 / 3;
    const delta = 1000 + step - 1000;
    expect(Array.from(numpyArange(1000, 0, step))).toEqual([1000, 1000 + step, 1000 + 2 * delta]);
    expect(numpyArange(1000, 0, step)[2]).toBe(333.3333333333335);
  });
  it('np.linspace(0, 999, 4) ends exactly at 999', () => {
    expect(Array.from(numpyLinspace(0, 999, 4))).toEqual([0, 333, 666, 999]);
    expect(Array.from(numpyLinspace(0, 999, 1))).toEqual([0]);
  });
  it('before setTimesteps, timesteps are every training step (descending for DDIM, ascending for inverse)', () => {
    const s = new DDIMScheduler({ num_train_timesteps: 10 });
    expect(Array.from(s.timesteps)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(s.numInferenceSteps).toBeNull();
    const inv = new DDIMInverseScheduler({ num_train_timesteps: 4 });
    expect(Array.from(inv.timesteps)).toEqual([0, 1, 2, 3]);
  });
  it('mutating the returned timesteps does not change the scheduler', () => {
    // Rule "schedule" looks the previous timestep up in the scheduler's own list (the stride
    // would not read it at all), so a write reaching that list would show here.
    const s = new DDIMScheduler({}, { previousTimestepRule: 'schedule' }).setTimesteps(10);
    s.timesteps[1] = 5;
    expect(s.previousTimestep(900)).toBe(800);
    const inv = new DDIMInverseScheduler({}, { previousTimestepRule: 'schedule' }).setTimesteps(10);
    inv.timesteps[0] = 850;
    expect(inv.previousTimestep(100)).toBe(0);
  });
});

describe('every timestep list for T in {7, 50, 100, 1000, 4000}, against numpy (scripts/numpy-timesteps.py)', () => {
  const table = JSON.parse(readFileSync(join(here, 'derived', 'numpy_timesteps.json'), 'utf8')) as {
    rows: [number, number, 'leading' | 'trailing' | 'linspace', number, number, number][];
  };
  const P = 1000000007n;
  it(`matches ${table.rows.length} numpy lists (checksums), dropping numpy's spurious trailing -1`, () => {
    let spurious = 0;
    for (const [T, n, spacing, length, sum, weighted] of table.rows) {
      const ts = ddimTimesteps(T, n, spacing, 0);
      let s = 0;
      let w = 0n;
      ts.forEach((t, i) => {
        s += t;
        w += BigInt(i + 1) * BigInt(t);
      });
      const wMod = Number(((w % P) + P) % P);
      expect(ts.length, `${T} ${n} ${spacing}`).toBe(n);
      if (length === n) {
        expect([s, wMod], `${T} ${n} ${spacing}`).toEqual([sum, weighted]);
      } else {
        // numpy produced one extra element; it must be -1 at position n + 1, and the rest equal ours.
        spurious++;
        expect(spacing).toBe('trailing');
        expect(length).toBe(n + 1);
        expect([s - 1, Number((((w - BigInt(n + 1)) % P) + P) % P)], `${T} ${n}`).toEqual([sum, weighted]);
      }
    }
    expect(spurious).toBeGreaterThan(50);
  });
  it('T = 1000, n = 61 trailing: 61 timesteps ending at 15', () => {
    const ts = ddimTimesteps(1000, 61, 'trailing', 0);
    expect(ts.length).toBe(61);
    expect(Array.from(ts.slice(0, 3))).toEqual([999, 983, 966]);
    expect(ts[60]).toBe(15);
  });
});
