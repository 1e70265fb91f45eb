import { describe, expect, it, vi } from 'vitest';
import {
  ArgumentError,
  DDIMInverseScheduler,
  DDIMScheduler,
  ddimTimesteps,
  type Tensor,
} from '../src/index.js';
import { schedulePreviousTimestep, stridePreviousTimestep } from '../src/scheduler/previous-timestep.js';
import { withFloat64Lanes } from './helpers/backend.js';
import { f32 } from './helpers/fixtures.js';
import { sqrt32, sqrtOneMinus32 } from './helpers/torch-scalars.js';

const dims = [2, 3];
const sample: Tensor = { data: f32([0.5, -1, 2, 0.1, 0.2, -0.3]), dims, type: 'float32' };
const model: Tensor = { data: f32([0.1, 0.2, -0.5, 1, -1, 0]), dims, type: 'float32' };

describe('previousTimestepRule (diffusers #11347, #12633; DDPM: #9261, #9384)', () => {
  it('trailing, T = 1000, n = 13: the stride misses the list; the schedule rule follows it', () => {
    // diffusers #9261 prints diffusers' (t, prev_t) pairs for exactly this case.
    const strideLog = [923, 846, 769, 692, 615, 538, 461, 385, 308, 231, 154, 77, 0];
    const config = { timestep_spacing: 'trailing' } as const;
    const diffusersLike = new DDIMScheduler(config).setTimesteps(13);
    const ts = Array.from(diffusersLike.timesteps);
    expect(ts.map((t) => diffusersLike.previousTimestep(t))).toEqual(strideLog);
    const fixed = new DDIMScheduler(config, { previousTimestepRule: 'schedule' }).setTimesteps(13);
    expect(Array.from(fixed.timesteps)).toEqual(ts);
    expect(ts.map((t) => fixed.previousTimestep(t))).toEqual([...ts.slice(1), -1]);
  });

  it('linspace, T = 100, n = 5 (the reproduction of #11347)', () => {
    // np.linspace(0, 99, 5) = [0, 24.75, 49.5, 74.25, 99]; round half to even -> [0, 25, 50, 74, 99].
    const config = {
      num_train_timesteps: 100,
      beta_schedule: 'squaredcos_cap_v2',
      timestep_spacing: 'linspace',
    } as const;
    const stride = new DDIMScheduler(config).setTimesteps(5);
    expect(Array.from(stride.timesteps)).toEqual([99, 74, 50, 25, 0]);
    expect([99, 74, 50, 25, 0].map((t) => stride.previousTimestep(t))).toEqual([79, 54, 30, 5, -1]);
    const schedule = new DDIMScheduler(config, { previousTimestepRule: 'schedule' }).setTimesteps(5);
    expect([99, 74, 50, 25, 0].map((t) => schedule.previousTimestep(t))).toEqual([74, 50, 25, 0, -1]);
  });

  it('the step reads alpha_bar at the previous timestep the rule gives', () => {
    const config = { timestep_spacing: 'linspace', clip_sample: false } as const;
    const stride = new DDIMScheduler(config).setTimesteps(10);
    const schedule = new DDIMScheduler(config, { previousTimestepRule: 'schedule' }).setTimesteps(10);
    const ab = stride.alphasCumprod;
    const ddim = (aPrev: number) =>
      Array.from(sample.data, (v, i) => {
        const a = ab[888];
        // diffusers' scalars are float32 0-dim tensors: sqrt(a), sqrt(1 - a) rounded to float32
        const x0 = (v - sqrtOneMinus32(a) * model.data[i]) / sqrt32(a);
        return sqrt32(aPrev) * x0 + sqrtOneMinus32(aPrev) * model.data[i];
      });
    // Exact equality with a float64 computation rounded once: the JS path's arithmetic, which the
    // WebAssembly step computes in float64 lanes (float32 lanes round each term: a few ulps off).
    const got = (s: DDIMScheduler) =>
      Array.from(withFloat64Lanes(() => s.step(model, 888, sample)).prevSample.data);
    const want = (aPrev: number) => ddim(aPrev).map((v) => Math.fround(v));
    expect(got(stride)).toEqual(want(ab[788]));
    expect(got(schedule)).toEqual(want(ab[777]));
  });

  it('leading: the rules agree, except the last step when steps_offset >= T // n', () => {
    const T = 1000;
    const lastDiffers: string[] = [];
    const mismatches: string[] = [];
    for (const offset of [0, 1]) {
      for (let n = 1; n <= T; n++) {
        const ts = ddimTimesteps(T, n, 'leading', offset);
        // The schedule rule is, by definition, the next element (-1 after the last).
        for (let i = 0; i + 1 < ts.length; i++) {
          if (stridePreviousTimestep(ts[i], T, n) !== ts[i + 1]) mismatches.push(`${offset} ${n} ${ts[i]}`);
        }
        const last = stridePreviousTimestep(ts[n - 1], T, n);
        if (last !== -1) lastDiffers.push(`${offset} ${n} ${last}`);
      }
    }
    expect(mismatches).toEqual([]);
    // The last timestep is steps_offset; the stride lands on offset - T // n when that is >= 0:
    // offset 1 with T // n = 1 (n = 501 .. 1000), on timestep 0 (alpha_bar_0 instead of the final alpha).
    expect(lastDiffers.length).toBe(500);
    expect(lastDiffers[0]).toBe('1 501 0');
    expect(lastDiffers.every((d) => d.startsWith('1 ') && d.endsWith(' 0'))).toBe(true);
    const ts = ddimTimesteps(T, 600, 'leading', 1);
    expect(schedulePreviousTimestep(ts, 2)).toBe(1);
    expect(schedulePreviousTimestep(ts, 1)).toBe(-1);
  });

  it('trailing agrees with the stride when n divides T; the last step only differs when T // n does not', () => {
    const T = 1000;
    for (const n of [1, 2, 4, 5, 8, 10, 20, 25, 40, 50, 100, 125, 200, 250, 500, 1000]) {
      const ts = ddimTimesteps(T, n, 'trailing', 0);
      for (const t of ts) expect(schedulePreviousTimestep(ts, t)).toBe(stridePreviousTimestep(t, T, n));
    }
    const ts13 = ddimTimesteps(T, 13, 'trailing', 0);
    expect(stridePreviousTimestep(76, T, 13)).toBe(0); // alpha_bar_0, not the final alpha
    expect(schedulePreviousTimestep(ts13, 76)).toBe(-1);
  });

  it('with rule "schedule", a timestep between listed ones stays legal and lands on the next listed one', () => {
    const s = new DDIMScheduler({}, { previousTimestepRule: 'schedule' }).setTimesteps(10);
    // leading, T = 1000, n = 10: 900, 800, ..., 0.
    expect(s.previousTimestep(850)).toBe(800);
    expect(s.previousTimestep(999)).toBe(900);
    expect(s.previousTimestep(1)).toBe(0);
    expect(s.previousTimestep(0)).toBe(-1);
    expect(s.step(model, 850, sample).prevSample.dims).toEqual(dims);
    // An image-to-image tail of the list is fine.
    expect(s.previousTimestep(300)).toBe(200);
    // Not a training timestep: still an ArgumentError, as with the stride rule.
    for (const t of [-1, 1000, 2.5, Number.NaN]) expect(() => s.previousTimestep(t)).toThrow(ArgumentError);
  });

  it('the inverse scheduler: "schedule" starts each step from the element before', () => {
    const config = { timestep_spacing: 'trailing' } as const;
    const stride = new DDIMInverseScheduler(config).setTimesteps(13);
    const schedule = new DDIMInverseScheduler(config, { previousTimestepRule: 'schedule' }).setTimesteps(13);
    const ts = Array.from(stride.timesteps);
    expect(ts).toEqual([76, 153, 230, 307, 384, 461, 537, 614, 691, 768, 845, 922, 999]);
    // diffusers: min(t - 76, 999).
    expect(ts.map((t) => stride.previousTimestep(t))).toEqual(ts.map((t) => t - 76));
    expect(ts.map((t) => schedule.previousTimestep(t))).toEqual([-1, ...ts.slice(0, -1)]);
    // Leading lists are stride-spaced: the rules agree (the first step starts "before the start").
    const leading = new DDIMInverseScheduler({ steps_offset: 1 }).setTimesteps(50);
    const leadingSchedule = new DDIMInverseScheduler(
      { steps_offset: 1 },
      { previousTimestepRule: 'schedule' },
    ).setTimesteps(50);
    for (const t of leading.timesteps) {
      expect(leadingSchedule.previousTimestep(t)).toBe(leading.previousTimestep(t));
    }
  });
});

describe('scheduler options are not config: toJSON keeps diffusers keys', () => {
  it('options do not appear in config or toJSON, and are readable on the scheduler', () => {
    const plain = new DDIMScheduler({ rescale_betas_zero_snr: true, timestep_spacing: 'trailing' });
    const opted = new DDIMScheduler(
      { rescale_betas_zero_snr: true, timestep_spacing: 'trailing' },
      { previousTimestepRule: 'schedule', clampZeroTerminalSnr: true },
    );
    expect(opted.toJSON()).toEqual(plain.toJSON());
    expect(opted.config).toEqual(plain.config);
    expect(opted.previousTimestepRule).toBe('schedule');
    expect(opted.clampZeroTerminalSnr).toBe(true);
    expect(plain.previousTimestepRule).toBe('stride');
    expect(plain.clampZeroTerminalSnr).toBe(false);
    const inverse = new DDIMInverseScheduler({}, { previousTimestepRule: 'schedule' });
    expect(Object.keys(inverse.toJSON())).toEqual(Object.keys(new DDIMInverseScheduler().toJSON()));
  });

  it('fromConfig passes options through and still warns through onWarning', () => {
    const onWarning = vi.fn();
    const s = DDIMScheduler.fromConfig(
      { skip_prk_steps: true },
      { timestep_spacing: 'linspace' },
      { onWarning, previousTimestepRule: 'schedule' },
    );
    expect(onWarning).toHaveBeenCalledTimes(1);
    expect(s.previousTimestepRule).toBe('schedule');
    const inv = DDIMInverseScheduler.fromConfig({}, undefined, { clampZeroTerminalSnr: true });
    expect(inv.clampZeroTerminalSnr).toBe(true);
  });

  it('bad options are ArgumentErrors naming the option', () => {
    expect(() => new DDIMScheduler({}, { previousTimestepRule: 'next' as 'stride' })).toThrow(
      /options.previousTimestepRule must be one of "stride", "schedule"/,
    );
    expect(() => new DDIMScheduler({}, { clampZeroTerminalSnr: 1 as unknown as boolean })).toThrow(
      /options.clampZeroTerminalSnr must be a boolean/,
    );
    // A misspelt fix must not be silently off.
    expect(() => new DDIMScheduler({}, { previousTimestep: 'schedule' } as object)).toThrow(
      /options.previousTimestep is not a scheduler option/,
    );
    expect(() => DDIMScheduler.fromConfig({}, {}, { rescale_betas_zero_snr: true } as object)).toThrow(
      ArgumentError,
    );
    expect(() => new DDIMInverseScheduler({}, 'schedule' as unknown as object)).toThrow(
      /options must be an options object/,
    );
    expect(() => new DDIMScheduler({}, { onWarning: 'log' } as object)).toThrow(/options.onWarning/);
  });
});
