import { describe, expect, it } from 'vitest';
import { DDIMScheduler } from '../src/index.js';
import { expectClose, f32, loadFixture } from './helpers/fixtures.js';

interface AddNoiseCase {
  config_name: string;
  config: Record<string, unknown>;
  shape: number[];
  original_samples: number[];
  noise: number[];
  timesteps: number[];
  noisy_samples: number[];
  velocity: number[];
  tol: number;
}

const { cases } = loadFixture<AddNoiseCase>('add_noise.json');

describe('add_noise.json (addNoise and getVelocity, one timestep per batch element)', () => {
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));
  for (const c of cases) {
    it(`${c.config_name} t=${JSON.stringify(c.timesteps)}`, () => {
      const s = new DDIMScheduler(c.config);
      const x0 = { data: f32(c.original_samples), dims: c.shape };
      const noise = { data: f32(c.noise), dims: c.shape };
      const noisy = s.addNoise(x0, noise, c.timesteps);
      expect(noisy.dims).toEqual(c.shape);
      expectClose(noisy.data, c.noisy_samples, c.tol, 'noisy_samples');
      expectClose(s.getVelocity(x0, noise, c.timesteps).data, c.velocity, c.tol, 'velocity');
      // Also as a typed array of timesteps (what an int tensor's data would be).
      expectClose(
        s.addNoise(x0, noise, Int32Array.from(c.timesteps)).data,
        c.noisy_samples,
        c.tol,
        'noisy_samples',
      );
    });
  }
});
