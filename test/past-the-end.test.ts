/**
 * diffusers #10003: "leading" spacing with steps_offset 1 and n = T schedules T itself
 * (1000, 999, ..., 1), and diffusers' step then indexes alphas_cumprod[1000]: IndexError. The
 * list is diffusers' (test/fixtures/timesteps.json has it), so setTimesteps keeps it; a timestep
 * >= T that the scheduler scheduled reads alpha_bar[T - 1], which makes the step from T an
 * identity step. Any other timestep >= T is still an ArgumentError.
 */
import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  DDIMInverseScheduler,
  DDIMScheduler,
  SCHEDULER_PRESETS,
  type Tensor,
} from '../src/index.js';
import { f32 } from './helpers/fixtures.js';
import { toyLoop, toyModel } from './helpers/models.js';

/** Stable Diffusion 1.5's scheduler config: scaled_linear betas, steps_offset 1, set_alpha_to_one false. */
const SD15 = SCHEDULER_PRESETS.sd.config;

const dims = [1, 4, 2, 2];
const initial: Tensor = {
  data: f32([0.3, -0.7, 1.2, 0.05, -1.5, 0.9, 0.4, -0.2, 1.1, -0.6, 0.8, -1.3, 0.25, 0.6, -0.9, 0.1]),
  dims,
  type: 'float32',
};

function finite(x: Tensor): boolean {
  return Array.from(x.data).every((v) => Number.isFinite(v));
}

describe('1000 inference steps with steps_offset 1 (SD 1.5 config)', () => {
  it("keeps diffusers' list [1000, 999, ..., 1]", () => {
    const s = new DDIMScheduler(SD15).setTimesteps(1000);
    expect(s.timesteps.length).toBe(1000);
    expect(s.timesteps[0]).toBe(1000);
    expect(s.timesteps[999]).toBe(1);
  });

  it('a full loop completes with finite values; the step from 1000 is an identity step', () => {
    const s = new DDIMScheduler(SD15).setTimesteps(1000);
    expect(s.alphaBarAt(1000)).toBe(s.alphasCumprod[999]);
    expect(s.previousTimestep(1000)).toBe(999);
    const first = s.step(toyModel(initial, 1000), 1000, initial).prevSample;
    // A bigint timestep (an ONNX int64) is read as its number here too, as addNoise reads it.
    expect(s.previousTimestep(1000n as never)).toBe(999);
    expect(Array.from(s.step(toyModel(initial, 1000), 1000n as never, initial).prevSample.data)).toEqual(
      Array.from(first.data),
    );
    // alpha_bar_t = alpha_bar_prev: x_prev = sqrt(a) x0 + sqrt(1 - a) eps = x.
    for (let i = 0; i < first.data.length; i++) expect(first.data[i]).toBeCloseTo(initial.data[i], 6);
    const x = toyLoop(s, initial);
    expect(finite(x)).toBe(true);
    // ... and the rest of the loop is the 999-step list 999 .. 1, landing on alpha_bar_0 as the
    // final alpha (set_alpha_to_one false).
    const rest = new DDIMScheduler(SD15).setTimesteps({
      timesteps: Int32Array.from({ length: 999 }, (_, i) => 999 - i),
    });
    let y = first;
    for (const t of rest.timesteps) y = rest.step(toyModel(y, t), t, y).prevSample;
    expect(Array.from(x.data)).toEqual(Array.from(y.data));
  });

  it('with previousTimestepRule "schedule" the loop is finite too', () => {
    const s = new DDIMScheduler(SD15, { previousTimestepRule: 'schedule' }).setTimesteps(1000);
    const x = toyLoop(s, initial);
    expect(finite(x)).toBe(true);
  });

  it('T = 100, n = 100, steps_offset 1: [100, ..., 1], finite', () => {
    const s = new DDIMScheduler({ ...SD15, num_train_timesteps: 100 }).setTimesteps(100);
    expect(s.timesteps[0]).toBe(100);
    const x = toyLoop(s, initial);
    expect(finite(x)).toBe(true);
  });

  it('timesteps >= T that were not scheduled are still ArgumentErrors', () => {
    const s = new DDIMScheduler(SD15);
    expect(() => s.alphaBarAt(1000)).toThrow(ArgumentError);
    s.setTimesteps(10);
    expect(() => s.step(toyModel(initial, 1000), 1000, initial)).toThrow(ArgumentError);
    expect(() => s.alphaBarAt(1000)).toThrow(ArgumentError);
    s.setTimesteps(1000);
    expect(() => s.step(toyModel(initial, 1001), 1001, initial)).toThrow(ArgumentError);
    expect(() => s.step(toyModel(initial, 5000), 5000, initial)).toThrow(ArgumentError);
  });

  it('addNoise at the scheduled 1000 (image-to-image at strength 1) reads alpha_bar[999]', () => {
    const s = new DDIMScheduler(SD15);
    const noise: Tensor = { data: f32(new Array(16).fill(0.5)), dims, type: 'float32' };
    expect(() => s.addNoise(initial, noise, 1000)).toThrow(ArgumentError);
    s.setTimesteps(1000);
    expect(Array.from(s.addNoise(initial, noise, 1000).data)).toEqual(
      Array.from(s.addNoise(initial, noise, 999).data),
    );
    expect(Array.from(s.addNoise(initial, noise, [1000]).data)).toEqual(
      Array.from(s.addNoise(initial, noise, 999).data),
    );
    expect(Array.from(s.addNoise(initial, noise, 1000n).data)).toEqual(
      Array.from(s.addNoise(initial, noise, 999).data),
    );
  });

  it('steps_offset 2 and n = T: both scheduled timesteps past the end read alpha_bar[T - 1]', () => {
    const s = new DDIMScheduler({ ...SD15, steps_offset: 2 }).setTimesteps(1000);
    expect(Array.from(s.timesteps.slice(0, 3))).toEqual([1001, 1000, 999]);
    const x = toyLoop(s, initial);
    expect(finite(x)).toBe(true);
  });
});

describe('DDIMInverseScheduler, 1000 steps with steps_offset 1', () => {
  for (const rule of ['stride', 'schedule'] as const) {
    it(`[1, ..., 1000] inverts with finite values; the step to 1000 is an identity step (rule ${rule})`, () => {
      const s = DDIMInverseScheduler.fromConfig(SD15, undefined, { previousTimestepRule: rule }).setTimesteps(
        1000,
      );
      expect(s.timesteps[0]).toBe(1);
      expect(s.timesteps[999]).toBe(1000);
      expect(s.previousTimestep(1000)).toBe(999);
      let x: Tensor = initial;
      let beforeLast: Tensor = initial;
      for (const t of s.timesteps) {
        beforeLast = x;
        x = s.step(toyModel(x, t), t, x).prevSample;
      }
      expect(finite(x)).toBe(true);
      for (let i = 0; i < x.data.length; i++) expect(x.data[i]).toBeCloseTo(beforeLast.data[i], 6);
      expect(() => s.step(toyModel(x, 1001), 1001, x)).toThrow(ArgumentError);
    });
  }
});
