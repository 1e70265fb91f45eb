import { describe, expect, it, vi } from 'vitest';
import {
  ArgumentError,
  ConfigError,
  DDIM_DEFAULTS,
  DDIMInverseScheduler,
  DDIMScheduler,
  DdimError,
  NumericError,
  numberToFloat16,
  ShapeError,
  StateError,
  type Tensor,
  toFloat64,
} from '../src/index.js';
import { expectClose, f32 } from './helpers/fixtures.js';
import { fixtureText } from './helpers/hub-server.js';
import { REF_DIMS, refModel, refSample } from './helpers/models.js';

/** Stable Diffusion 1.5's scheduler_config.json, a PNDM config (the committed copy). */
const sd15Pndm: unknown = JSON.parse(fixtureText('sd15-pndm.json'));

describe('config', () => {
  it('fills diffusers defaults, freezes, and keeps snake_case keys', () => {
    const s = new DDIMScheduler();
    expect(s.config).toEqual(DDIM_DEFAULTS);
    expect(Object.isFrozen(s.config)).toBe(true);
    expect(Object.keys(s.config).sort()).toEqual(
      [
        'beta_end',
        'beta_schedule',
        'beta_start',
        'clip_sample',
        'clip_sample_range',
        'dynamic_thresholding_ratio',
        'num_train_timesteps',
        'prediction_type',
        'rescale_betas_zero_snr',
        'sample_max_value',
        'set_alpha_to_one',
        'steps_offset',
        'thresholding',
        'timestep_spacing',
        'trained_betas',
      ].sort(),
    );
    expect(s.initNoiseSigma).toBe(1);
    expect(s.order).toBe(1);
    expect(s.numInferenceSteps).toBeNull();
    expect(s.betas).toBeInstanceOf(Float64Array);
    expect(s.betas.length).toBe(1000);
  });

  it('fromConfig takes a PNDM config (SD 1.5), warns once about keys DDIM does not use, ignores _ keys', () => {
    const warnings: string[] = [];
    const s = DDIMScheduler.fromConfig(
      sd15Pndm,
      { timestep_spacing: 'trailing' },
      { onWarning: (m) => warnings.push(m) },
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('"skip_prk_steps"');
    expect(warnings[0]).not.toContain('_class_name');
    expect(s.config.beta_schedule).toBe('scaled_linear');
    expect(s.config.steps_offset).toBe(1);
    expect(s.config.timestep_spacing).toBe('trailing');
    expect(s.config.set_alpha_to_one).toBe(false);
    expect(s.finalAlphaCumprod).toBe(s.alphasCumprod[0]);
  });

  it('warns through console.warn by default', () => {
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => {});
    DDIMScheduler.fromConfig({ foo: 1, bar: 2 });
    expect(spy).toHaveBeenCalledTimes(1);
    expect(String(spy.mock.calls[0][0])).toMatch(/"foo", "bar"/);
    spy.mockRestore();
  });

  it('toJSON is what diffusers save_config writes (plus _class_name), and fromConfig(toJSON) is the identity', () => {
    const s = new DDIMScheduler({
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      beta_end: 0.012,
      steps_offset: 1,
    });
    const json = s.toJSON();
    expect(json._class_name).toBe('DDIMScheduler');
    expect(Object.keys(json)).toHaveLength(16);
    expect(json.trained_betas).toBeNull();
    const back = DDIMScheduler.fromConfig(JSON.parse(JSON.stringify(json)));
    expect(back.config).toEqual(s.config);
    const inv = new DDIMInverseScheduler({ timestep_spacing: 'trailing' });
    expect(inv.toJSON()._class_name).toBe('DDIMInverseScheduler');
    expect(Object.keys(inv.toJSON())).toHaveLength(13);
  });

  it('trained_betas round-trip through JSON', () => {
    const betas = Array.from({ length: 10 }, (_, i) => 0.01 + i * 0.01);
    const s = new DDIMScheduler({ num_train_timesteps: 10, trained_betas: betas });
    // betas are diffusers' float32 tensor; the config keeps the numbers as given.
    expect(Array.from(s.betas)).toEqual(betas.map(Math.fround));
    expect(DDIMScheduler.fromConfig(JSON.parse(JSON.stringify(s))).config.trained_betas).toEqual(betas);
  });

  it("the inverse scheduler's defaults are diffusers' DDIMInverseScheduler.__init__ signature, in its order", () => {
    const want = {
      num_train_timesteps: 1000,
      beta_start: 0.0001,
      beta_end: 0.02,
      beta_schedule: 'linear',
      trained_betas: null,
      clip_sample: true,
      set_alpha_to_one: true,
      steps_offset: 0,
      prediction_type: 'epsilon',
      clip_sample_range: 1.0,
      timestep_spacing: 'leading',
      rescale_betas_zero_snr: false,
    };
    const config = new DDIMInverseScheduler().config;
    expect(config).toEqual(want);
    expect(Object.keys(config)).toEqual(Object.keys(want));
  });

  it('the inverse scheduler accepts the deprecated set_alpha_to_zero alias', () => {
    const inv = DDIMInverseScheduler.fromConfig({ set_alpha_to_zero: false }, undefined, {
      onWarning: () => {},
    });
    expect(inv.config.set_alpha_to_one).toBe(false);
  });

  const invalid: [string, Record<string, unknown>, string][] = [
    ['unknown beta_schedule', { beta_schedule: 'cosine' }, 'beta_schedule'],
    ['unknown prediction_type', { prediction_type: 'eps' }, 'prediction_type'],
    ['unknown timestep_spacing', { timestep_spacing: 'uniform' }, 'timestep_spacing'],
    ['non-integer num_train_timesteps', { num_train_timesteps: 10.5 }, 'num_train_timesteps'],
    ['zero num_train_timesteps', { num_train_timesteps: 0 }, 'num_train_timesteps'],
    ['negative num_train_timesteps', { num_train_timesteps: -5 }, 'num_train_timesteps'],
    ['huge num_train_timesteps', { num_train_timesteps: 1e9 }, 'num_train_timesteps'],
    ['string num_train_timesteps', { num_train_timesteps: '1000' }, 'num_train_timesteps'],
    [
      'trained_betas of the wrong length',
      { num_train_timesteps: 3, trained_betas: [0.1, 0.2] },
      'trained_betas',
    ],
    ['trained_betas outside (0, 1)', { num_train_timesteps: 2, trained_betas: [0.1, 1] }, 'trained_betas[1]'],
    ['trained_betas with 0', { num_train_timesteps: 2, trained_betas: [0, 0.5] }, 'trained_betas[0]'],
    ['trained_betas not an array', { trained_betas: 'abc' }, 'trained_betas'],
    ['negative clip_sample_range', { clip_sample_range: -1 }, 'clip_sample_range'],
    ['negative sample_max_value', { sample_max_value: -1 }, 'sample_max_value'],
    ['dynamic_thresholding_ratio above 1', { dynamic_thresholding_ratio: 1.5 }, 'dynamic_thresholding_ratio'],
    ['negative beta_start', { beta_start: -0.1 }, 'beta_start'],
    ['beta_end of 1', { beta_end: 1 }, 'beta_end'],
    ['NaN beta_end', { beta_end: Number.NaN }, 'beta_end'],
    ['string clip_sample', { clip_sample: 'false' }, 'clip_sample'],
    ['negative steps_offset', { steps_offset: -1 }, 'steps_offset'],
  ];
  for (const [what, config, field] of invalid) {
    it(`${what}: ConfigError naming ${field}`, () => {
      let error: unknown;
      try {
        new DDIMScheduler(config as never);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toBeInstanceOf(DdimError);
      expect((error as ConfigError).field).toBe(field);
      expect((error as ConfigError).message).toContain(field);
      expect((error as ConfigError).message).toContain('Fix:');
    });
  }

  it('the inverse scheduler refuses linspace spacing (diffusers supports leading and trailing only)', () => {
    expect(() => new DDIMInverseScheduler({ timestep_spacing: 'linspace' as never })).toThrow(ConfigError);
  });

  it('a config that is not an object, or holds __proto__ / constructor keys, is refused', () => {
    expect(() => DDIMScheduler.fromConfig('{"a":1}')).toThrow(ConfigError);
    expect(() => DDIMScheduler.fromConfig([1, 2])).toThrow(ConfigError);
    expect(() => DDIMScheduler.fromConfig(JSON.parse('{"__proto__": {"polluted": true}}'))).toThrow(
      ConfigError,
    );
    expect(() => DDIMScheduler.fromConfig(JSON.parse('{"constructor": {"prototype": {}}}'))).toThrow(
      ConfigError,
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

function tensorOf(values: number[], dims: number[]): Tensor<'float32'> {
  return { data: f32(values), dims, type: 'float32' };
}

describe('step', () => {
  const dims = REF_DIMS;
  const sample = refSample;
  const model = refModel;

  it('throws a StateError before setTimesteps', () => {
    expect(() => new DDIMScheduler().step(model, 10, sample)).toThrow(StateError);
  });

  it('throws a ShapeError when model output and sample disagree', () => {
    const s = new DDIMScheduler().setTimesteps(10);
    expect(() => s.step(tensorOf([1, 2, 3, 4, 5, 6], [3, 2]), 900, sample)).toThrow(ShapeError);
    expect(() => s.step({ data: f32([1, 2, 3]), dims: [2, 3] }, 900, sample)).toThrow(ShapeError);
    expect(() => s.step({ data: new Uint16Array(6), dims }, 900, sample)).toThrow(ShapeError);
  });

  it('validates timestep and eta', () => {
    const s = new DDIMScheduler().setTimesteps(10);
    for (const t of [-1, 1000, 1.5, Number.NaN])
      expect(() => s.step(model, t, sample)).toThrow(ArgumentError);
    for (const eta of [-0.1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => s.step(model, 900, sample, { eta })).toThrow(ArgumentError);
    }
  });

  it('more inference steps than training steps is an ArgumentError and leaves the scheduler as it was', () => {
    const s = new DDIMScheduler({ num_train_timesteps: 100 }).setTimesteps(10);
    expect(() => s.setTimesteps(101)).toThrow(/num_train_timesteps/);
    expect(s.numInferenceSteps).toBe(10);
    expect(s.timesteps[0]).toBe(90);
  });

  it('returns the sample dtype: float64 in, float64 out; float16 in, float16 out', () => {
    const s = new DDIMScheduler({ clip_sample: false }).setTimesteps(10);
    const ref = s.step(model, 500, sample);
    const f64 = s.step({ data: Float64Array.from(model.data), dims }, 500, {
      data: Float64Array.from(sample.data),
      dims,
    });
    expect(f64.prevSample.type).toBe('float64');
    expect(f64.prevSample.data).toBeInstanceOf(Float64Array);
    expectClose(f64.prevSample.data, Array.from(ref.prevSample.data), 1e-6);
    const half = (t: Tensor) => ({
      data: Uint16Array.from(t.data, (v) => numberToFloat16(v)),
      dims,
      type: 'float16',
    });
    const f16 = s.step(half(model), 500, half(sample));
    expect(f16.prevSample.type).toBe('float16');
    expect(f16.prevSample.data).toBeInstanceOf(Uint16Array);
    expectClose(toFloat64(f16.prevSample), Array.from(ref.prevSample.data), 2e-3);
    expectClose(toFloat64(f16.predOriginalSample), Array.from(ref.predOriginalSample.data), 2e-3);
  });

  it('accepts onnxruntime / transformers.js style tensor objects (extra fields, getters)', () => {
    class OrtLikeTensor {
      readonly location = 'cpu';
      constructor(
        readonly type: string,
        private readonly cpuData: Float32Array,
        readonly dims: readonly number[],
      ) {}
      get data() {
        return this.cpuData;
      }
      get size() {
        return this.cpuData.length;
      }
    }
    const s = new DDIMScheduler().setTimesteps(10);
    const a = s.step(
      new OrtLikeTensor('float32', model.data, dims),
      900,
      new OrtLikeTensor('float32', sample.data, dims),
    );
    const b = s.step(model, 900, sample);
    expect(Array.from(a.prevSample.data)).toEqual(Array.from(b.prevSample.data));
  });

  it('writes into out buffers, also when they alias the sample', () => {
    const s = new DDIMScheduler().setTimesteps(10);
    const expected = s.step(model, 800, sample);
    const prev = tensorOf([0, 0, 0, 0, 0, 0], dims);
    const x0 = tensorOf([0, 0, 0, 0, 0, 0], dims);
    const res = s.step(model, 800, sample, { out: { prevSample: prev, predOriginalSample: x0 } });
    expect(res.prevSample.data).toBe(prev.data);
    expect(res.predOriginalSample.data).toBe(x0.data);
    expect(Array.from(prev.data)).toEqual(Array.from(expected.prevSample.data));
    const inPlace = tensorOf(Array.from(sample.data), dims);
    s.step(model, 800, inPlace, { out: { prevSample: inPlace } });
    expect(Array.from(inPlace.data)).toEqual(Array.from(expected.prevSample.data));
    expect(() =>
      s.step(model, 800, sample, { out: { prevSample: { data: new Float64Array(6), dims } } }),
    ).toThrow(ArgumentError);
  });

  it('eta > 0 uses varianceNoise: prev = deterministic part + sigma * z', () => {
    const s = new DDIMScheduler().setTimesteps(10);
    const zero = s.step(model, 500, sample, { eta: 1, varianceNoise: tensorOf([0, 0, 0, 0, 0, 0], dims) });
    const z = tensorOf([1, -1, 0.5, 0, 2, -2], dims);
    const noisy = s.step(model, 500, sample, { eta: 1, varianceNoise: z });
    const sigma = Math.sqrt(s.getVariance(500, 400));
    for (let i = 0; i < 6; i++) {
      expect(noisy.prevSample.data[i]).toBeCloseTo(zero.prevSample.data[i] + sigma * z.data[i], 5);
    }
  });

  it('a NaN or Inf model output raises a NumericError naming the timestep, unless allowNonFinite', () => {
    const s = new DDIMScheduler().setTimesteps(10);
    const bad = tensorOf([0.1, Number.NaN, 0, 0, 0, 0], dims);
    expect(() => s.step(bad, 700, sample)).toThrow(NumericError);
    expect(() => s.step(bad, 700, sample)).toThrow(/modelOutput\[1\].*timestep 700/);
    const inf = tensorOf([0.1, 0, 0, 0, 0, Number.POSITIVE_INFINITY], dims);
    expect(() => s.step(inf, 700, sample)).toThrow(/modelOutput\[5\]/);
    const res = s.step(bad, 700, sample, { allowNonFinite: true });
    expect(Number.isNaN(res.prevSample.data[1])).toBe(true);
    // The scheduler still works after the error.
    expect(Number.isFinite(s.step(model, 700, sample).prevSample.data[1])).toBe(true);
  });

  it('thresholding with sample_max_value below 1: torch.clamp(q, 1, max) applies the max last', () => {
    const s = new DDIMScheduler({ thresholding: true, sample_max_value: 0.5, prediction_type: 'sample' });
    s.setTimesteps(10);
    const sample = { data: Float32Array.of(1, -1), dims: [1, 1, 2] };
    const model = { data: Float32Array.of(0.2, -0.4), dims: [1, 1, 2] };
    const { prevSample, predOriginalSample } = s.step(model, 900, sample);
    // |x0| = [0.2, 0.4]; quantile 0.995 (linear) = 0.2 + 0.995 * 0.2 = 0.399; clamp(0.399, min 1,
    // max 0.5) = 0.5 in torch (min(max(q, 1), 0.5)); x0 = clamp(x0, -0.5, 0.5) / 0.5.
    expect(Array.from(predOriginalSample.data)).toEqual([0.4, -0.8].map(Math.fround));
    // prev from DDIM eq. 12 with eps from the unclipped x0 (diffusers' sample prediction).
    const a = s.alphaBarAt(900);
    const ap = s.alphaBarAt(800);
    const want = [0, 1].map((i) => {
      const eps = (sample.data[i] - Math.sqrt(a) * model.data[i]) / Math.sqrt(1 - a);
      return Math.sqrt(ap) * [0.4, -0.8][i] + Math.sqrt(1 - ap) * eps;
    });
    expect(prevSample.data[0]).toBeCloseTo(want[0], 6);
    expect(prevSample.data[1]).toBeCloseTo(want[1], 6);
    // diffusers (torch 1.13, through scripts/torch_ddim_reference.py): prev = [1.011626, -1.023871].
    expect(prevSample.data[0]).toBeCloseTo(1.011626, 5);
    expect(prevSample.data[1]).toBeCloseTo(-1.023871, 5);
  });

  it('scaleModelInput returns the sample itself', () => {
    const s = new DDIMScheduler();
    expect(s.scaleModelInput(sample, 10)).toBe(sample);
  });

  it('addNoise / getVelocity validate timesteps and shapes', () => {
    const s = new DDIMScheduler();
    expect(() => s.addNoise(sample, model, [1, 2, 3])).toThrow(ArgumentError);
    expect(() => s.addNoise(sample, model, 1000)).toThrow(ArgumentError);
    expect(() => s.addNoise(sample, tensorOf([1, 2], [2, 1]), 10)).toThrow(ShapeError);
    const one = s.addNoise(sample, model, 10);
    const both = s.addNoise(sample, model, [10, 10]);
    expect(Array.from(one.data)).toEqual(Array.from(both.data));
  });
});
