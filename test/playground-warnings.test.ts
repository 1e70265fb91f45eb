/**
 * The playground's schedule table and risky-config warnings (pure modules, no DOM). The browser
 * test checks that the page shows them; this checks them over many configs.
 */
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_OPTIONS,
  logSnrOf,
  type PageSchedulerOptions,
  scheduleView,
} from '../playground/src/schedule-view.js';
import { type ConfigWarning, configWarnings } from '../playground/src/warnings.js';
import { type DDIMConfig, resolveDDIMConfig } from '../src/index.js';

function view(
  config: Partial<DDIMConfig>,
  steps: number,
  eta = 0,
  options: Partial<PageSchedulerOptions> = {},
) {
  return scheduleView(resolveDDIMConfig(config).config, steps, eta, { ...DEFAULT_OPTIONS, ...options });
}

function ids(config: Partial<DDIMConfig>, steps: number): string[] {
  return configWarnings(view(config, steps)).map((w: ConfigWarning) => w.id);
}

const SD = {
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  clip_sample: false,
} as const;

describe('scheduleView', () => {
  it('tabulates t, diffusers prev = t - T // n, alpha_bars and sigma_t of DDIM eq. 16', () => {
    const v = view({}, 4, 0.5);
    // leading, T // n = 250: 750, 500, 250, 0
    expect(v.timesteps).toEqual([750, 500, 250, 0]);
    expect(v.rows.map((r) => r.prev)).toEqual([500, 250, 0, -1]);
    expect(v.rows.map((r) => r.nextScheduled)).toEqual([500, 250, 0, -1]);
    // alpha_bar of linear betas, from DDPM eq. 4
    const ab: number[] = [];
    let prod = 1;
    for (let i = 0; i < 1000; i++) {
      prod *= 1 - (0.0001 + ((0.02 - 0.0001) * i) / 999);
      ab.push(prod);
    }
    // (the library holds diffusers' float32 schedule and variance: equal to float32 rounding)
    for (const r of v.rows) {
      expect(r.alphaBar).toBeCloseTo(ab[r.t], 7);
      const aPrev = r.prev >= 0 ? ab[r.prev] : 1; // set_alpha_to_one
      expect(r.alphaBarPrev).toBeCloseTo(aPrev, 7);
      // (at t = 0, 1 - alpha_bar = 1e-4 carries float32's 6e-8 ulp: log SNR moves by ~1e-4 there)
      expect(r.logSnr).toBeCloseTo(Math.log(ab[r.t] / (1 - ab[r.t])), 3);
      expect(r.sigma).toBeCloseTo(0.5 * Math.sqrt(((1 - aPrev) / (1 - ab[r.t])) * (1 - ab[r.t] / aPrev)), 6);
    }
  });

  it("still draws a zero-SNR epsilon schedule the library refuses to step, and carries the library's error", () => {
    const v = view({ rescale_betas_zero_snr: true, timestep_spacing: 'trailing' }, 5);
    expect(v.stepError).toContain('cannot step from timestep 999');
    expect(v.config.prediction_type).toBe('epsilon');
    // trailing, T // n = 200: round(1000 - 200 i) - 1
    expect(v.timesteps).toEqual([999, 799, 599, 399, 199]);
    expect(v.rows[0].alphaBar).toBe(0);
    expect(
      view({ rescale_betas_zero_snr: true, timestep_spacing: 'trailing', prediction_type: 'v_prediction' }, 5)
        .stepError,
    ).toBeNull();
    // leading with these steps does not schedule t = T - 1, so the library steps it.
    expect(view({ rescale_betas_zero_snr: true }, 5).stepError).toBeNull();
  });

  it('applies the scheduler options: the schedule previous-step rule and the zero-SNR clamp', () => {
    const stride = view({ timestep_spacing: 'trailing' }, 7);
    const schedule = view({ timestep_spacing: 'trailing' }, 7, 0, { previousTimestepRule: 'schedule' });
    expect(schedule.timesteps).toEqual(stride.timesteps);
    expect(schedule.rows.map((r) => r.prev)).toEqual([...stride.timesteps.slice(1), -1]);
    expect(stride.rows.map((r) => r.prev)).toEqual(
      stride.timesteps.map((t) => (t - 142 >= 0 ? t - 142 : -1)),
    );
    const clamped = view({ rescale_betas_zero_snr: true, timestep_spacing: 'trailing' }, 5, 0, {
      clampZeroTerminalSnr: true,
    });
    expect(clamped.stepError).toBeNull();
    expect(clamped.rows[0].alphaBar).toBe(2 ** -24);
  });

  it('gives -Infinity log-SNR at a zero-SNR timestep', () => {
    expect(logSnrOf(0)).toBe(Number.NEGATIVE_INFINITY);
    const v = view({ rescale_betas_zero_snr: true, timestep_spacing: 'trailing' }, 5);
    expect(v.rows[0].t).toBe(999);
    expect(v.rows[0].alphaBar).toBe(0);
    expect(v.rows[0].logSnr).toBe(Number.NEGATIVE_INFINITY);
  });
});

describe('configWarnings', () => {
  it('finds nothing risky in diffusers defaults or Stable Diffusion 1.5 at 50 steps', () => {
    expect(ids({}, 50)).toEqual([]);
    expect(ids({ ...SD, set_alpha_to_one: false, steps_offset: 1 }, 50)).toEqual([]);
  });

  it('warns about zero terminal SNR with epsilon prediction, naming the step that divides by zero', () => {
    const warnings = configWarnings(view({ rescale_betas_zero_snr: true, timestep_spacing: 'trailing' }, 10));
    const w = warnings.find((x) => x.id === 'zero-snr-epsilon');
    expect(w?.message).toContain('at step 0 (t = 999)');
    expect(w?.message).toContain('setTimesteps refuses this schedule');
    // leading spacing never reaches t = 999: still flagged, but as a schedule that works.
    const leading = configWarnings(view({ rescale_betas_zero_snr: true }, 10)).find(
      (x) => x.id === 'zero-snr-epsilon',
    );
    expect(leading?.message).toContain('these timesteps do not include it');
    // The clamp makes the step finite: an info about the amplified error replaces the warning.
    const clamped = configWarnings(
      view({ rescale_betas_zero_snr: true, timestep_spacing: 'trailing' }, 10, 0, {
        clampZeroTerminalSnr: true,
      }),
    ).map((x) => x.id);
    expect(clamped).toContain('zero-snr-clamped');
    expect(clamped).not.toContain('zero-snr-epsilon');
    expect(
      ids(
        { rescale_betas_zero_snr: true, timestep_spacing: 'trailing', prediction_type: 'v_prediction' },
        10,
      ),
    ).toEqual([]);
    expect(
      ids({ rescale_betas_zero_snr: true, timestep_spacing: 'trailing', prediction_type: 'sample' }, 10),
    ).not.toContain('zero-snr-epsilon');
  });

  it('warns when a zero-SNR schedule is sampled without reaching t = T - 1', () => {
    const zero = { rescale_betas_zero_snr: true, prediction_type: 'v_prediction' } as const;
    expect(ids(zero, 50)).toContain('zero-snr-not-trailing'); // leading starts at 980
    expect(ids({ ...zero, timestep_spacing: 'linspace' }, 50)).not.toContain('zero-snr-not-trailing'); // 999
    expect(ids({ ...zero, timestep_spacing: 'trailing' }, 50)).not.toContain('zero-snr-not-trailing');
  });

  it('warns about the previous-step stride exactly when t - T // n misses the next timestep', () => {
    // T = 1000, n = 7, trailing: round(1000 - 1000 i / 7) - 1 = 999, 856, 713, 570, 428, 285, 142;
    // T // n = 142, so t - 142 = 857, 714, 571, 428, 286, 143: all but 570 -> 428 miss.
    const v = view({ timestep_spacing: 'trailing' }, 7);
    expect(v.timesteps).toEqual([999, 856, 713, 570, 428, 285, 142]);
    const w = configWarnings(v).find((x) => x.id === 'prev-stride');
    expect(w?.message).toContain('5 of 7 steps');
    expect(w?.message).toContain('from t = 999 to 857');
    expect(w?.message).toContain('next scheduled timestep is 856');
    // T // n divides evenly: trailing 10 steps are 999, 899, ..., 99 with stride 100.
    expect(ids({ timestep_spacing: 'trailing' }, 10)).not.toContain('prev-stride');
    // The "schedule" rule lands each step on the next timestep: nothing to warn about.
    const fixed = view({ timestep_spacing: 'trailing' }, 7, 0, { previousTimestepRule: 'schedule' });
    expect(configWarnings(fixed).map((x) => x.id)).not.toContain('prev-stride');
  });

  it('never warns about the stride for leading spacing (t - T // n is the next timestep by construction)', () => {
    for (const steps_offset of [0, 1]) {
      for (let n = 1; n <= 1000; n += n < 40 ? 1 : 37) {
        expect(ids({ steps_offset }, n), `n = ${n}`).not.toContain('prev-stride');
      }
    }
  });

  it("notes the trailing step counts where diffusers' float arange adds a timestep -1", () => {
    // The (T, n) pairs listed in src/scheduler/timesteps.ts and the README.
    for (const n of [61, 103, 121])
      expect(ids({ timestep_spacing: 'trailing' }, n)).toContain('trailing-extra-timestep');
    for (const n of [50, 60, 62, 100]) {
      expect(ids({ timestep_spacing: 'trailing' }, n)).not.toContain('trailing-extra-timestep');
    }
    expect(ids({ timestep_spacing: 'leading' }, 61)).not.toContain('trailing-extra-timestep');
  });

  it('warns about clipping and thresholding on the latent-diffusion schedule', () => {
    expect(ids({ ...SD, clip_sample: true }, 50)).toContain('clip-latent');
    expect(ids({ ...SD, thresholding: true }, 50)).toEqual(['threshold-latent']);
    expect(ids({ clip_sample: true }, 50)).toEqual([]); // pixel-space linear schedule: clipping is intended
  });

  it('warns when sampling starts where alpha_bar is still large', () => {
    // leading, 2 steps: t = 500, 0; alpha_bar(500) of the linear schedule is about 0.08.
    const v = view({}, 2);
    expect(v.rows[0].alphaBar).toBeGreaterThan(0.05);
    expect(configWarnings(v).map((w) => w.id)).toEqual(['late-start']);
    expect(ids({ timestep_spacing: 'trailing' }, 2)).toEqual([]); // 999, 499
  });
});
