/**
 * The expectations of diffusers' own test suite (tests/schedulers/test_scheduler_ddim.py and
 * test_scheduler_ddim_inverse.py) that apply to us: variance values, the steps_offset timesteps,
 * full-loop sums with its deterministic sample and toy model, and save/load round trips.
 */
import { describe, expect, it } from 'vitest';
import { DDIMInverseScheduler, DDIMScheduler, type Tensor } from '../src/index.js';
import { toyLoop } from './helpers/models.js';

// diffusers' get_scheduler_config for both test classes.
const base = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  clip_sample: true,
} as const;
const dims = [4, 3, 8, 8];

/**
 * SchedulerCommonTest.dummy_sample_deter: arange(768).reshape(3, 8, 8, 4) / 768, permuted to
 * (4, 3, 8, 8); dummy_noise_deter is the same with the arange flipped.
 */
function deterministic(flip: boolean): Tensor<'float32'> {
  const n = 768;
  const data = new Float32Array(n);
  for (let b = 0; b < 4; b++)
    for (let c = 0; c < 3; c++)
      for (let h = 0; h < 8; h++)
        for (let w = 0; w < 8; w++) {
          const k = ((c * 8 + h) * 8 + w) * 4 + b;
          data[((b * 3 + c) * 8 + h) * 8 + w] = (flip ? n - 1 - k : k) / n;
        }
  return { data, dims, type: 'float32' };
}

function absSum(t: Tensor): number {
  let s = 0;
  for (const v of t.data) s += Math.abs(v);
  return s;
}

function fullLoop(scheduler: DDIMScheduler | DDIMInverseScheduler): Tensor {
  return toyLoop(scheduler.setTimesteps(10), deterministic(false));
}

describe('diffusers test_scheduler_ddim.py', () => {
  it('test_variance', () => {
    const s = new DDIMScheduler(base).setTimesteps(50);
    expect(Math.abs(s.getVariance(0, 0) - 0)).toBeLessThan(1e-5);
    expect(Math.abs(s.getVariance(420, 400) - 0.14771)).toBeLessThan(1e-5);
    expect(Math.abs(s.getVariance(980, 960) - 0.3246)).toBeLessThan(1e-5);
    expect(Math.abs(s.getVariance(487, 486) - 0.00979)).toBeLessThan(1e-5);
    expect(Math.abs(s.getVariance(999, 998) - 0.02)).toBeLessThan(1e-5);
  });

  it('test_steps_offset: [801, 601, 401, 201, 1]', () => {
    const s = new DDIMScheduler({ ...base, steps_offset: 1 }).setTimesteps(5);
    expect(Array.from(s.timesteps)).toEqual([801, 601, 401, 201, 1]);
  });

  const loops: [string, Record<string, unknown>, number, number][] = [
    ['test_full_loop_no_noise', {}, 172.0067, 0.223967],
    ['test_full_loop_with_v_prediction', { prediction_type: 'v_prediction' }, 52.5302, 0.0684],
    ['test_full_loop_with_set_alpha_to_one', { set_alpha_to_one: true, beta_start: 0.01 }, 149.8295, 0.1951],
    [
      'test_full_loop_with_no_set_alpha_to_one',
      { set_alpha_to_one: false, beta_start: 0.01 },
      149.0784,
      0.1941,
    ],
  ];
  for (const [name, config, sum, mean] of loops) {
    it(name, () => {
      const x = fullLoop(new DDIMScheduler({ ...base, ...config }));
      expect(Math.abs(absSum(x) - sum)).toBeLessThan(1e-2);
      expect(Math.abs(absSum(x) / 768 - mean)).toBeLessThan(1e-3);
    });
  }

  it('test_full_loop_with_noise: add_noise at timesteps[8], then the last two steps', () => {
    const s = new DDIMScheduler(base).setTimesteps(10);
    const timesteps = s.timesteps.slice(8);
    const x = toyLoop(s, s.addNoise(deterministic(false), deterministic(true), timesteps[0]), timesteps);
    expect(Math.abs(absSum(x) - 354.5418)).toBeLessThan(1e-2);
    expect(Math.abs(absSum(x) / 768 - 0.4616)).toBeLessThan(1e-3);
  });

  it('save/load round trip gives identical steps (check_over_configs)', () => {
    const configs: Record<string, unknown>[] = [
      { num_train_timesteps: 100 },
      { steps_offset: 1 },
      { beta_schedule: 'squaredcos_cap_v2' },
      { prediction_type: 'v_prediction' },
      { clip_sample: false },
      { timestep_spacing: 'trailing' },
      { rescale_betas_zero_snr: true, prediction_type: 'v_prediction' },
      { thresholding: true, sample_max_value: 0.5 },
    ];
    const sample = deterministic(true);
    const residual: Tensor = { data: sample.data.map((v) => 0.1 * v), dims, type: 'float32' };
    for (const config of configs) {
      const s = new DDIMScheduler({ ...base, ...config }).setTimesteps(50);
      const loaded = DDIMScheduler.fromConfig(JSON.parse(JSON.stringify(s.toJSON()))).setTimesteps(50);
      expect(loaded.config).toEqual(s.config);
      for (const t of [1, 10, 49]) {
        const a = s.step(residual, t, sample).prevSample.data;
        const b = loaded.step(residual, t, sample).prevSample.data;
        expect(Array.from(b)).toEqual(Array.from(a));
      }
    }
  });
});

describe('diffusers test_scheduler_ddim_inverse.py', () => {
  it('test_steps_offset: [1, 201, 401, 601, 801]', () => {
    const s = new DDIMInverseScheduler({ ...base, steps_offset: 1 }).setTimesteps(5);
    expect(Array.from(s.timesteps)).toEqual([1, 201, 401, 601, 801]);
  });
  const loops: [string, Record<string, unknown>, number, number][] = [
    ['test_full_loop_no_noise', {}, 671.6816, 0.8746],
    ['test_full_loop_with_v_prediction', { prediction_type: 'v_prediction' }, 1394.2185, 1.8154],
    ['test_full_loop_with_set_alpha_to_one', { set_alpha_to_one: true, beta_start: 0.01 }, 539.9622, 0.7031],
    [
      'test_full_loop_with_no_set_alpha_to_one',
      { set_alpha_to_one: false, beta_start: 0.01 },
      542.6722,
      0.7066,
    ],
  ];
  for (const [name, config, sum, mean] of loops) {
    it(name, () => {
      const x = fullLoop(new DDIMInverseScheduler({ ...base, ...config }));
      expect(Math.abs(absSum(x) - sum)).toBeLessThan(1e-2);
      expect(Math.abs(absSum(x) / 768 - mean)).toBeLessThan(1e-3);
    });
  }
});
