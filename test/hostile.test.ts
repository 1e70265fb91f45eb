/**
 * Hostile inputs, case by case: each gap found in the audit of issue 10, with the typed error it
 * now gets, and the proof that a failed call leaves the scheduler (and the caller's generators)
 * as they were. The random versions of these cases are in fuzz.test.ts.
 */
import { describe, expect, it, vi } from 'vitest';
import { describeValue } from '../src/errors.js';
import { shapesDataset } from '../src/exact/datasets.js';
import { datasetDenoiser, gaussianMixtureDenoiser } from '../src/exact/models.js';
import {
  ArgumentError,
  ConfigError,
  DDIMInverseScheduler,
  DDIMScheduler,
  type DdimError,
  ddimTimesteps,
  Generator,
  LoadError,
  loadSchedulerConfig,
  NumericError,
  numberToFloat16,
  randnTensor,
  resolveDDIMConfig,
  resolveDDIMInverseConfig,
  ShapeError,
  StateError,
  sample,
  stepCoefficients,
  type Tensor,
  tensor,
  toDiffusersJsonString,
} from '../src/index.js';
import { registerConfigSource } from '../src/loading/hub.js';
import { parseConfigText } from '../src/loading/hub-internal.js';
import { img2imgStartIndex } from '../src/sampling/img2img.js';
import { cosineBetas, torchLinspace } from '../src/scheduler/schedule.js';
import { ddimStepKernel } from '../src/scheduler/step.js';
import { numpyArange, numpyLinspace } from '../src/scheduler/timesteps.js';
import { sizeOf } from '../src/tensor/tensor.js';
import {
  expectTyped,
  expectUnchangedAfter,
  throwingArray,
  throwingGetter,
  throwingProxy,
} from './helpers/hostile.js';
import { REF_DIMS, refModel, refSample } from './helpers/models.js';

const quiet = { onWarning: () => {} };

function f32Tensor(values: readonly number[], dims = REF_DIMS): Tensor {
  return { data: Float32Array.from(values), dims, type: 'float32' };
}

function half(values: readonly number[], dims = REF_DIMS): Tensor {
  return { data: Uint16Array.from(values, numberToFloat16), dims, type: 'float16' };
}

describe('configs', () => {
  it('a Proxy config, a throwing getter, or a throwing trained_betas array is a ConfigError naming it', () => {
    expectTyped(() => new DDIMScheduler(throwingProxy() as never), ConfigError, 'config');
    expectTyped(() => DDIMScheduler.fromConfig(throwingProxy()), ConfigError, 'config');
    expectTyped(() => DDIMInverseScheduler.fromConfig(throwingProxy()), ConfigError, 'config');
    expectTyped(
      () => DDIMScheduler.fromConfig(throwingGetter({ beta_end: 0.012 }, 'num_train_timesteps')),
      ConfigError,
      'config.num_train_timesteps',
    );
    expectTyped(
      () => DDIMScheduler.fromConfig({}, throwingGetter({}, 'beta_start') as never),
      ConfigError,
      'overrides.beta_start',
    );
    expectTyped(
      () => DDIMScheduler.fromConfig({ num_train_timesteps: 2, trained_betas: throwingArray(2) }),
      ConfigError,
      'config.trained_betas[0]',
    );
  });

  it('num_train_timesteps 10^9 and a 10^9-entry trained_betas are refused before anything is allocated', () => {
    expectTyped(() => new DDIMScheduler({ num_train_timesteps: 1e9 }), ConfigError, 'num_train_timesteps');
    // Sparse: no memory behind it, but a copy or walk of it would take seconds and gigabytes.
    const sparse = new Array(1e9);
    const error = expectTyped(
      () => DDIMScheduler.fromConfig({ trained_betas: sparse }),
      ConfigError,
      'trained_betas',
    );
    expect(error.problem).toMatch(/between 1 and 1000000 entries/);
    expectTyped(() => DDIMScheduler.fromConfig({ trained_betas: [] }), ConfigError, 'trained_betas');
  });

  it('a long trained_betas that does not match num_train_timesteps is refused without walking keys', () => {
    const betas = new Array(1_000_000).fill(0.01);
    expectTyped(() => DDIMScheduler.fromConfig({ trained_betas: betas }), ConfigError, 'trained_betas');
  });

  it('schedules whose alpha_bar stops decreasing or underflows in float32 are refused, naming the cause', () => {
    // beta = 1e-20: 1 - beta == 1 in float64, so 1 - alpha_bar_0 = 0 and "sample" steps divide by it.
    const tiny = expectTyped(() => new DDIMScheduler({ beta_start: 1e-20 }), ConfigError, 'beta_start');
    expect(tiny.problem).toMatch(/alpha_bar\[0\] = 1/);
    // 0.5^T underflows to 0 long before T = 10^6: an epsilon step at such t divides by 0.
    const under = expectTyped(
      () => new DDIMScheduler({ num_train_timesteps: 100_000, beta_start: 0.5, beta_end: 0.6 }),
      ConfigError,
      'beta_end',
    );
    expect(under.problem).toMatch(/underflows to 0/);
    expectTyped(
      () => new DDIMScheduler({ num_train_timesteps: 3, trained_betas: [0.1, 1e-300, 0.2] }),
      ConfigError,
      'trained_betas',
    );
    // Zero terminal SNR keeps its exact 0 at the end, by design.
    const zero = new DDIMScheduler({ rescale_betas_zero_snr: true, prediction_type: 'v_prediction' });
    expect(zero.alphasCumprod[999]).toBe(0);
  });

  it('rescale_betas_zero_snr needs two timesteps (one would make the rescale 0 / 0)', () => {
    expectTyped(
      () => new DDIMScheduler({ num_train_timesteps: 1, rescale_betas_zero_snr: true }),
      ConfigError,
      'rescale_betas_zero_snr',
    );
    const two = new DDIMScheduler({ num_train_timesteps: 2, rescale_betas_zero_snr: true });
    expect(Array.from(two.alphasCumprod).every((a) => a >= 0 && a < 1)).toBe(true);
  });

  it('JSON that is not an object, and prototype keys at any depth, are ConfigErrors', () => {
    for (const json of ['[1, 2]', '"text"', '42', 'true', 'null']) {
      expectTyped(() => DDIMScheduler.fromConfig(JSON.parse(json)), ConfigError, 'config');
      expectTyped(() => DDIMInverseScheduler.fromConfig(JSON.parse(json)), ConfigError, 'config');
    }
    expectTyped(() => DDIMScheduler.fromConfig(new Map()), ConfigError, 'config');
    expectTyped(() => DDIMScheduler.fromConfig(new Date()), ConfigError, 'config');
    expectTyped(
      () => DDIMScheduler.fromConfig(JSON.parse('{"__proto__": {"polluted": 1}}')),
      ConfigError,
      'config.__proto__',
    );
    expectTyped(
      () => DDIMScheduler.fromConfig(JSON.parse('{"foo": [{"bar": {"constructor": 1}}]}'), undefined, quiet),
      ConfigError,
      'config.foo[0].bar.constructor',
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("a config of null is refused like diffusers' from_config(None); no argument means the defaults", () => {
    for (const Scheduler of [DDIMScheduler, DDIMInverseScheduler]) {
      const error = expectTyped(() => Scheduler.fromConfig(null), ConfigError, 'config');
      expect(error.value).toBeNull();
      expect(error.message).toContain('(got null)');
      expect(error.fix).toContain('{}');
      expectTyped(() => Scheduler.fromConfig(undefined), ConfigError, 'config');
      expectTyped(() => new Scheduler(null as never), ConfigError, 'config');
      // No config, or an empty one, is diffusers' defaults; null overrides are no overrides.
      const defaults = Scheduler.fromConfig({}).config;
      expect(new Scheduler().config).toEqual(defaults);
      expect(new Scheduler(undefined).config).toEqual(defaults);
      expect(Scheduler.fromConfig({ steps_offset: 1 }, null as never).config.steps_offset).toBe(1);
      expectTyped(() => Scheduler.fromConfig({}, 5 as never), ConfigError, 'overrides');
    }
    expect(new DDIMScheduler().config.beta_end).toBe(0.02);
    expectTyped(() => resolveDDIMConfig(null), ConfigError, 'config');
    expectTyped(() => resolveDDIMInverseConfig(JSON.parse('null')), ConfigError, 'config');
  });

  it("a bad value under the inverse scheduler's set_alpha_to_zero alias is named as written", () => {
    const error = expectTyped(
      () => DDIMInverseScheduler.fromConfig({ set_alpha_to_zero: 'x' }),
      ConfigError,
      'set_alpha_to_zero',
    );
    expect(error.value).toBe('x');
    expect(error.message).toContain('set_alpha_to_zero must be true or false (got "x")');
    expect(error.fix).toContain("set_alpha_to_zero is diffusers' deprecated name for set_alpha_to_one");
    // Given both ways, set_alpha_to_one is the field (and the alias an unused key, warned about).
    expectTyped(
      () =>
        DDIMInverseScheduler.fromConfig({ set_alpha_to_zero: true, set_alpha_to_one: 1 }, undefined, quiet),
      ConfigError,
      'set_alpha_to_one',
    );
    // An override of the field itself replaces the alias, and its errors name the field.
    const overridden = expectTyped(
      () => DDIMInverseScheduler.fromConfig({ set_alpha_to_zero: true }, { set_alpha_to_one: 'y' as never }),
      ConfigError,
      'set_alpha_to_one',
    );
    expect(overridden.fix).not.toContain('deprecated');
    expect(
      DDIMInverseScheduler.fromConfig({ set_alpha_to_zero: 'x' }, { set_alpha_to_one: false }).config
        .set_alpha_to_one,
    ).toBe(false);
  });

  it('a failed fromConfig warns nobody and changes nothing; frozen configs are fine', () => {
    const onWarning = vi.fn();
    expectTyped(
      () => DDIMScheduler.fromConfig({ unused_key: 1, beta_schedule: 'cosine' }, undefined, { onWarning }),
      ConfigError,
      'beta_schedule',
    );
    expect(onWarning).not.toHaveBeenCalled();
    const frozen = Object.freeze({
      num_train_timesteps: 100,
      trained_betas: Object.freeze([...Array(100)].map(() => 0.01)),
    });
    expect(DDIMScheduler.fromConfig(frozen).config.num_train_timesteps).toBe(100);
  });

  it('a config with 10^5 unknown keys is read in linear time and warned about in a short message', () => {
    const junk: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) junk[`k${i}`] = i;
    const onWarning = vi.fn();
    DDIMScheduler.fromConfig(junk, undefined, { onWarning });
    expect(onWarning).toHaveBeenCalledTimes(1);
    const message = onWarning.mock.calls[0][0] as string;
    expect(message).toContain('and 99980 more');
    expect(message.length).toBeLessThan(600);
  });

  it('scheduler options that cannot be read, or are of the wrong shape, are ArgumentErrors', () => {
    expectTyped(() => new DDIMScheduler({}, throwingProxy() as never), ArgumentError, 'options');
    expectTyped(
      () => new DDIMScheduler({}, { onWarning: 'loud' } as never),
      ArgumentError,
      'options.onWarning',
    );
    expectTyped(() => new DDIMScheduler({}, { eta: 1 } as never), ArgumentError, 'options.eta');
  });
});

describe('tensors', () => {
  const s = new DDIMScheduler().setTimesteps(10);

  it('Proxies, throwing getters and Proxy-wrapped typed arrays are ShapeErrors naming the argument', () => {
    expectTyped(() => s.step(throwingProxy() as never, 900, refSample), ShapeError, 'modelOutput');
    expectTyped(() => s.step(refModel, 900, throwingGetter(refSample, 'data')), ShapeError, 'sample');
    expectTyped(
      () => s.step(refModel, 900, { data: refSample.data, dims: throwingArray(2) as number[] }),
      ShapeError,
      'sample',
    );
    // instanceof Float32Array is true for this Proxy; ArrayBuffer.isView is not.
    const proxied = new Proxy(new Float32Array(6), {});
    expectTyped(() => s.step(refModel, 900, { data: proxied, dims: REF_DIMS }), ShapeError, 'sample.data');
  });

  it('other typed arrays, DataViews and plain arrays are ShapeErrors; Uint16 data needs type float16', () => {
    for (const data of [
      new Int8Array(6),
      new Int32Array(6),
      new BigInt64Array(6),
      new DataView(new ArrayBuffer(24)),
      [1, 2, 3, 4, 5, 6],
    ]) {
      expectTyped(
        () => s.step(refModel, 900, { data: data as never, dims: REF_DIMS }),
        ShapeError,
        'sample.data',
      );
    }
    const bits = { data: new Uint16Array(6), dims: REF_DIMS };
    expectTyped(() => s.step(refModel, 900, bits), ShapeError, 'sample.type');
    expectTyped(() => s.step(refModel, 900, { ...bits, type: 'float32' }), ShapeError, 'sample.type');
    expectTyped(() => s.step(refModel, 900, { ...refSample, type: 'int8' }), ShapeError, 'sample.type');
  });

  it('bad dims: non-integers, negatives, NaN, strings, bigints, and sizes past 2^31 - 1 before allocating', () => {
    for (const dims of [[1.5, 4], [-2, -3], [Number.NaN], ['2', 3], [2n, 3n], '2,3', null]) {
      expectTyped(() => s.step(refModel, 900, { data: refSample.data, dims: dims as never }), ShapeError);
    }
    expectTyped(() => randnTensor([1e9, 1e9]), ShapeError, 'shape');
    expectTyped(() => tensor(new Float32Array(4), [1e9, 1e9]), ShapeError, 'dims');
    expectTyped(() => sizeOf([2 ** 53]), ShapeError, 'dims[0]');
    // numpy allows a zero-size shape with huge dims; the product must not turn into NaN.
    expect(sizeOf([1e15, 1e15, 0])).toBe(0);
  });

  it('a rank-10^5 shape gives a short message', () => {
    const dims = new Array(100_000).fill(1);
    const error = expectTyped(
      () => s.step(refModel, 900, { data: new Float32Array(2), dims }),
      ShapeError,
      'sample',
    );
    expect(error.message).toContain('(100000 dims)');
  });
});

describe('step options', () => {
  const s = new DDIMScheduler().setTimesteps(10);

  it('wrong shapes and unknown keys are ArgumentErrors; null means no options', () => {
    expect(s.step(refModel, 900, refSample, null as never).prevSample.dims).toEqual(REF_DIMS);
    expectTyped(() => s.step(refModel, 900, refSample, 'x' as never), ArgumentError, 'options');
    expectTyped(() => s.step(refModel, 900, refSample, { etta: 1 } as never), ArgumentError, 'options.etta');
    expectTyped(() => s.step(refModel, 900, refSample, throwingProxy() as never), ArgumentError, 'options');
    expectTyped(
      () => s.step(refModel, 900, refSample, { useClippedModelOutput: 'yes' } as never),
      ArgumentError,
      'options.useClippedModelOutput',
    );
    expectTyped(
      () => s.step(refModel, 900, refSample, { allowNonFinite: 1 } as never),
      ArgumentError,
      'options.allowNonFinite',
    );
    expectTyped(() => s.step(refModel, 900, refSample, { out: 'x' } as never), ArgumentError, 'out');
    expectTyped(
      () => s.step(refModel, 900, refSample, { out: { prev: refSample } } as never),
      ArgumentError,
      'out.prev',
    );
    expectTyped(
      () => s.step(refModel, 900, refSample, { generator: 5 } as never),
      ArgumentError,
      'generator',
    );
    expectTyped(
      () => s.step(refModel, 900, refSample, { generator: [new Generator(), 5] } as never),
      ArgumentError,
      'generator[1]',
    );
  });

  it('the inverse step takes only out and allowNonFinite (inversion is deterministic)', () => {
    const inv = new DDIMInverseScheduler().setTimesteps(10);
    expectTyped(() => inv.step(refModel, 100, refSample, { eta: 0 } as never), ArgumentError, 'options.eta');
    expect(inv.step(refModel, 100, refSample, { allowNonFinite: false }).prevSample.dims).toEqual(REF_DIMS);
  });

  it('varianceNoise is checked whenever given, also with eta = 0', () => {
    expectTyped(
      () => s.step(refModel, 900, refSample, { varianceNoise: f32Tensor([1, 2, 3], [3]) }),
      ShapeError,
      'varianceNoise',
    );
  });

  it('eta > 1 is computed where DDIM eq. 12 holds, and refused where sigma^2 would exceed 1 - alpha_bar_prev', () => {
    const config = { clip_sample: false } as const;
    const mid = new DDIMScheduler(config).setTimesteps(10);
    const a = mid.alphasCumprod[500];
    const ap = mid.alphasCumprod[400];
    const variance = ((1 - ap) / (1 - a)) * (1 - a / ap);
    // eta^2 <= ap (1 - a) / (ap - a) keeps sigma^2 <= 1 - ap: about 1.19 for this step.
    const eta = 1.1;
    expect(eta * eta).toBeLessThan((ap * (1 - a)) / (ap - a));
    const sigma = eta * Math.sqrt(variance);
    const z = f32Tensor([0.3, -0.2, 0.1, 1, -1, 0.5]);
    const got = mid.step(refModel, 500, refSample, { eta, varianceNoise: z }).prevSample.data;
    for (let i = 0; i < 6; i++) {
      const x0 = (refSample.data[i] - Math.sqrt(1 - a) * refModel.data[i]) / Math.sqrt(a);
      const want =
        Math.sqrt(ap) * x0 + Math.sqrt(1 - ap - sigma * sigma) * refModel.data[i] + sigma * z.data[i];
      expect(Math.abs(got[i] - want)).toBeLessThan(1e-5);
    }
    // From zero terminal SNR (alpha_bar = 0) the limit is exactly eta = 1.
    const zero = new DDIMScheduler({
      ...config,
      rescale_betas_zero_snr: true,
      prediction_type: 'v_prediction',
      timestep_spacing: 'trailing',
    }).setTimesteps(10);
    expect(zero.step(refModel, 999, refSample, { eta: 1, varianceNoise: z }).prevSample.dims).toEqual(
      REF_DIMS,
    );
    const error = expectTyped(
      () => zero.step(refModel, 999, refSample, { eta: 1.01, varianceNoise: z }),
      ArgumentError,
      'eta',
    );
    expect(error.problem).toMatch(/allows eta up to 1/);
    expectTyped(
      () => mid.step(refModel, 500, refSample, { eta: 1e300, varianceNoise: z }),
      ArgumentError,
      'eta',
    );
  });
});

describe('out buffers that overlap the inputs', () => {
  const s = new DDIMScheduler({ clip_sample: false }).setTimesteps(10);
  const reference = s.step(refModel, 500, refSample);

  it('an output may be exactly an input (in place), with the same results', () => {
    for (const target of ['model', 'sample'] as const) {
      for (const which of ['prevSample', 'predOriginalSample'] as const) {
        const model = f32Tensor(Array.from(refModel.data));
        const sample = f32Tensor(Array.from(refSample.data));
        const buffer = target === 'model' ? model : sample;
        const out = s.step(model, 500, sample, { out: { [which]: buffer } });
        expect(Array.from(out[which].data)).toEqual(Array.from(reference[which].data));
      }
    }
  });

  it('the two outputs sharing memory, or an output overlapping an input at an offset, are ArgumentErrors', () => {
    const shared = f32Tensor([0, 0, 0, 0, 0, 0]);
    expectTyped(
      () => s.step(refModel, 500, refSample, { out: { prevSample: shared, predOriginalSample: shared } }),
      ArgumentError,
      'out.predOriginalSample',
    );
    const buffer = new ArrayBuffer(7 * 4);
    const sample = { data: new Float32Array(buffer, 0, 6), dims: REF_DIMS };
    sample.data.set(refSample.data);
    const shifted = { data: new Float32Array(buffer, 4, 6), dims: REF_DIMS };
    expectTyped(
      () => s.step(refModel, 500, sample, { out: { prevSample: shifted } }),
      ArgumentError,
      'out.prevSample',
    );
    // Same bytes, another element size: float16 results over a float16 view of a float32 model output.
    const modelBytes = new Float32Array(6);
    const halfSample = half(Array.from(refSample.data));
    const overModel = { data: new Uint16Array(modelBytes.buffer, 0, 6), dims: REF_DIMS, type: 'float16' };
    expectTyped(
      () => s.step({ data: modelBytes, dims: REF_DIMS }, 500, halfSample, { out: { prevSample: overModel } }),
      ArgumentError,
      'out.prevSample',
    );
  });
});

describe('non-finite values', () => {
  const s = new DDIMScheduler({ clip_sample: false }).setTimesteps(10);

  it('NaN / Inf float16 bit patterns in any input are NumericErrors naming the element and the timestep', () => {
    const sample = half([0.5, -1, 2, 0.1, 0.2, -0.3]);
    for (const bits of [0x7e00, 0x7c01, 0x7c00, 0xfc00, 0xffff]) {
      const model = half([0, 0, 0, 0, 0, 0]);
      model.data[3] = bits;
      const error = expectTyped(() => s.step(model, 500, sample), NumericError, 'modelOutput[3]');
      expect(error.problem).toContain('timestep 500');
      const bad = half([0.5, -1, 2, 0.1, 0.2, -0.3]);
      bad.data[5] = bits;
      expectTyped(() => s.step(half([0, 0, 0, 0, 0, 0]), 500, bad), NumericError, 'sample[5]');
    }
    const noise = f32Tensor([0, 0, Number.NaN, 0, 0, 0]);
    expectTyped(
      () => s.step(refModel, 500, refSample, { eta: 1, varianceNoise: noise }),
      NumericError,
      'varianceNoise[2]',
    );
  });

  it('a finite result past 65504 stored as float16 Inf is a NumericError, unless allowNonFinite', () => {
    const sample = half([60000, 1, 1, 1, 1, 1]);
    const model = half([0, 0, 0, 0, 0, 0]);
    // epsilon, t = 500 -> 400: prev = sqrt(a_400 / a_500) * x, about 1.4 * 60000.
    const error = expectTyped(
      () => s.step(model, 500, sample),
      NumericError,
      /^(prevSample|predOriginalSample)\[0\]$/,
    );
    expect(error.problem).toMatch(/overflows float16/);
    // The message says what the element became: float16's +Inf (0x7c00), or -Inf below -65504.
    expect(error.value).toBe(Number.POSITIVE_INFINITY);
    expect(error.message).toContain('(got Infinity)');
    const negative = expectTyped(
      () => s.step(model, 500, half([-60000, 1, 1, 1, 1, 1])),
      NumericError,
      /^(prevSample|predOriginalSample)\[0\]$/,
    );
    expect(negative.message).toContain('(got -Infinity)');
    const out = s.step(model, 500, sample, { allowNonFinite: true });
    expect(out.prevSample.data[0]).toBe(0x7c00);
    expect(out.prevSample.data[1]).not.toBe(0x7c00);
  });

  it('a float32 result past 3.4e38 is a NumericError too (the float64 sum alone would miss it)', () => {
    const sample = f32Tensor([3e38, 1, 1, 1, 1, 1]);
    const error = expectTyped(() => s.step(f32Tensor([0, 0, 0, 0, 0, 0]), 500, sample), NumericError);
    expect(error.problem).toMatch(/past the float32 range/);
    expect(error.message).toContain('although the inputs are finite: the result is past the float32 range');
    expect(error.value).toBe(Number.POSITIVE_INFINITY);
  });

  it('an x0 past 3.4e38 is refused even when x_prev is finite; huge finite float64 values are not an error', () => {
    const s10 = new DDIMScheduler({ clip_sample: false }).setTimesteps(10);
    const a = s10.alphasCumprod[999];
    const aPrev = s10.alphasCumprod[899];
    const x = 3e36;
    // eps = 0: x0 = x / sqrt(a) is past float32's range, x_prev = sqrt(a_prev) x0 is not.
    expect(x / Math.sqrt(a)).toBeGreaterThan(3.5e38);
    expect((Math.sqrt(aPrev) * x) / Math.sqrt(a)).toBeLessThan(3e38);
    const sample = f32Tensor([x, 0, 0, 0, 0, 0]);
    expectTyped(
      () => s10.step(f32Tensor([0, 0, 0, 0, 0, 0]), 999, sample),
      NumericError,
      'predOriginalSample[0]',
    );
    // float64 holds these: the kernel's cautious test sends them to the exact scan, which passes them.
    const wide = { data: Float64Array.of(1e200, -1e200, 1, 2, 3, 4), dims: REF_DIMS };
    const out = s10.step({ data: new Float64Array(6), dims: REF_DIMS }, 999, wide);
    // (the step's square roots are float32 scalars, as diffusers' 0-dim tensors)
    expect(out.prevSample.data[0]).toBeCloseTo(
      (Math.fround(Math.sqrt(aPrev)) * 1e200) / Math.fround(Math.sqrt(a)),
      -190,
    );
    expect(Array.from(out.prevSample.data).every(Number.isFinite)).toBe(true);
  });

  it('after a NumericError the generator is where it was: a retry draws the same noise', () => {
    const g = new Generator().manualSeed(7);
    const nan = f32Tensor([0, Number.NaN, 0, 0, 0, 0]);
    expectUnchangedAfter(s, () => s.step(nan, 500, refSample, { eta: 1, generator: g }), NumericError, [g]);
    const retry = s.step(refModel, 500, refSample, { eta: 1, generator: g }).prevSample.data;
    const fresh = s.step(refModel, 500, refSample, { eta: 1, generator: new Generator().manualSeed(7) });
    expect(Array.from(retry)).toEqual(Array.from(fresh.prevSample.data));
    // A list of generators, one per batch element, is rolled back too.
    const gs = [new Generator().manualSeed(1), new Generator().manualSeed(2)];
    expectUnchangedAfter(s, () => s.step(nan, 500, refSample, { eta: 1, generator: gs }), NumericError, gs);
  });

  it('addNoise and getVelocity refuse NaN inputs and overflow, unless allowNonFinite', () => {
    const nan = f32Tensor([0, Number.NaN, 0, 0, 0, 0]);
    expectTyped(() => s.addNoise(nan, refModel, 500), NumericError, 'originalSamples[1]');
    expectTyped(() => s.getVelocity(refSample, nan, 500), NumericError, 'noise[1]');
    expect(Number.isNaN(s.addNoise(nan, refModel, 500, { allowNonFinite: true }).data[1])).toBe(true);
    const big = half([65504, 65504, 0, 0, 0, 0]);
    const overflow = expectTyped(() => s.addNoise(big, big, 500), NumericError, 'addNoise[0]');
    expect(overflow.message).toContain(
      'overflows float16 at timestep 500 although the inputs are finite (got Infinity)',
    );
    expectTyped(
      () => s.addNoise(refSample, refModel, 500, { allow: true } as never),
      ArgumentError,
      'options.allow',
    );
  });
});

describe('timesteps', () => {
  it('step and the per-timestep methods take any training timestep (as bigint too) and nothing else', () => {
    const s = new DDIMScheduler().setTimesteps(10);
    expect(Array.from(s.step(refModel, 999n as never, refSample).prevSample.data)).toEqual(
      Array.from(s.step(refModel, 999, refSample).prevSample.data),
    );
    expect(s.previousTimestep(999n as never)).toBe(899);
    for (const t of [
      -1,
      1000,
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      '999',
      null,
      undefined,
      {},
      [999],
    ]) {
      expectUnchangedAfter(s, () => s.step(refModel, t as never, refSample), ArgumentError);
      expectTyped(() => s.previousTimestep(t as never), ArgumentError, 'timestep');
    }
    // Only -1 means "past the end".
    expect(s.alphaBarAt(-1)).toBe(s.finalAlphaCumprod);
    expectTyped(() => s.alphaBarAt(-2), ArgumentError, 'timestep');
    expectTyped(() => s.getVariance(0, 899), ArgumentError, 'prevTimestep');
    expect(s.getVariance(999, -1)).toBeGreaterThanOrEqual(0);
    expectTyped(() => s.scaleModelInput(null as never), ShapeError, 'sample');
  });

  it('setTimesteps: bad counts and bad custom lists are ArgumentErrors that change nothing', () => {
    const s = new DDIMScheduler().setTimesteps(10);
    const bad = (order: 'descending' | 'ascending'): unknown[] => [
      0,
      -1,
      1.5,
      Number.POSITIVE_INFINITY,
      Number.NaN,
      1e9,
      1001,
      '10',
      10n,
      null,
      undefined,
      [900, 500],
      {},
      { timesteps: [] },
      { timesteps: [500, 500] },
      { timesteps: order === 'descending' ? [100, 500] : [500, 100] },
      { timesteps: [1000] },
      { timesteps: [999, 1.5] },
      { timesteps: new Array(1e9) },
      { timesteps: throwingArray(3) },
      { timesteps: new DataView(new ArrayBuffer(8)) },
      { timesteps: 'abc' },
      { timesteps: [999], extra: 1 },
      throwingProxy(),
    ];
    for (const choice of bad('descending')) {
      expectUnchangedAfter(s, () => s.setTimesteps(choice as never), ArgumentError);
    }
    const inv = new DDIMInverseScheduler().setTimesteps(10);
    for (const choice of bad('ascending')) {
      expectUnchangedAfter(inv, () => inv.setTimesteps(choice as never), ArgumentError);
    }
  });

  it('addNoise timestep lists: a wrong length is refused before any element is read; bigints are read', () => {
    const s = new DDIMScheduler();
    expectTyped(() => s.addNoise(refSample, refModel, throwingArray(5) as never), ArgumentError, 'timesteps');
    expectTyped(() => s.addNoise(refSample, refModel, throwingArray(2) as never), ArgumentError, 'timesteps');
    expectTyped(() => s.addNoise(refSample, refModel, [1, Number.NaN]), ArgumentError, 'timesteps[1]');
    expectTyped(() => s.addNoise(refSample, refModel, Float32Array.of(1.5)), ArgumentError, 'timesteps[0]');
    const byNumber = s.addNoise(refSample, refModel, [10, 20]).data;
    expect(Array.from(s.addNoise(refSample, refModel, [10n, 20n] as never).data)).toEqual(
      Array.from(byNumber),
    );
    expect(Array.from(s.addNoise(refSample, refModel, BigInt64Array.of(10n, 20n)).data)).toEqual(
      Array.from(byNumber),
    );
  });

  it('an inversion of a "sample" model from alpha_bar = 1 (0 / 0) is a ConfigError at setTimesteps', () => {
    const inv = new DDIMInverseScheduler({ prediction_type: 'sample', set_alpha_to_one: true });
    expectTyped(() => inv.setTimesteps(10), ConfigError, 'prediction_type');
    expect(inv.numInferenceSteps).toBeNull();
    const ok = new DDIMInverseScheduler({ prediction_type: 'sample', set_alpha_to_one: false }).setTimesteps(
      10,
    );
    expect(ok.step(refModel, 0, refSample).prevSample.dims).toEqual(REF_DIMS);
  });

  it('step before setTimesteps is a StateError and changes nothing', () => {
    const s = new DDIMScheduler();
    expectUnchangedAfter(s, () => s.step(refModel, 999, refSample), StateError);
    expectTyped(() => s.previousTimestep(999), StateError, 'numInferenceSteps');
  });
});

describe('noise, JSON, loading and the pure helpers', () => {
  it('generator states, seeds and randnTensor options', () => {
    const g = new Generator().manualSeed(3);
    const state = JSON.stringify(g.getState());
    expectTyped(() => g.setState(throwingProxy() as never), ArgumentError, 'state');
    expectTyped(
      () => g.setState({ ...g.getState(), mt: throwingArray(624) } as never),
      ArgumentError,
      'state',
    );
    expectTyped(() => g.manualSeed(Symbol('seed') as never), ArgumentError, 'seed');
    expect(JSON.stringify(g.getState())).toBe(state);
    expectTyped(() => randnTensor([2], { generator: g, seed: 1 } as never), ArgumentError, 'options.seed');
    expectTyped(() => randnTensor([2], throwingProxy() as never), ArgumentError, 'options');
    expectTyped(() => randnTensor(throwingArray(2) as never), ShapeError, 'shape');
    expectTyped(
      () => randnTensor([2, 3], { generator: throwingArray(2) as never }),
      ArgumentError,
      'generator',
    );
    expect(JSON.stringify(g.getState())).toBe(state);
  });

  it('toDiffusersJsonString: cycles, unreadable objects and bad options are ArgumentErrors', () => {
    const cyclic: Record<string, unknown> = { _class_name: 'DDIMScheduler' };
    cyclic.self = cyclic;
    expectTyped(() => toDiffusersJsonString(cyclic), ArgumentError);
    expectTyped(() => toDiffusersJsonString(throwingProxy() as never), ArgumentError, 'config');
    expectTyped(
      () => toDiffusersJsonString(new DDIMScheduler().toJSON(), throwingProxy() as never),
      ArgumentError,
      'options',
    );
  });

  it('a loaded config with a prototype key or nesting past 64 levels is a LoadError showing the value', () => {
    const key = expectTyped(
      () => parseConfigText('{"a": {"__proto__": {"x": 1}}}', 'test.json'),
      LoadError,
      'config.a.__proto__',
    );
    expect(key.message).toContain('(got {"x":1})');
    const deep = expectTyped(
      () => parseConfigText(`${'{"k":'.repeat(70)}1${'}'.repeat(70)}`, 'test.json'),
      LoadError,
      // 65 levels named as every long path is: the first and last 8, the count of the rest.
      `config${'.k'.repeat(8)}...(49 more levels)...${'.k'.repeat(8)}`,
    );
    expect(deep.message).toContain(`(got ${'{"k":'.repeat(5)}1${'}'.repeat(5)})`);
  });

  it('describeValue never throws, whatever it is given', () => {
    expect(typeof describeValue(throwingProxy())).toBe('string');
    expect(describeValue(throwingArray(3))).toBe('an object that cannot be read');
    expect(describeValue(Symbol('s'))).toBe('a symbol');
  });

  it('loading: unreadable and unknown options, a fetch that returns junk, a broken source', async () => {
    const fail = async (promise: Promise<unknown>, kind: typeof DdimError, field: string) => {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(kind);
      expect((error as DdimError).field).toBe(field);
    };
    await fail(loadSchedulerConfig('org/name', throwingProxy() as never), LoadError, 'options');
    await fail(loadSchedulerConfig('org/name', { subfoldr: 'x' } as never), LoadError, 'options.subfoldr');
    const junkFetch = async () => 42 as unknown as Response;
    await fail(loadSchedulerConfig('org/name', { fetch: junkFetch }), LoadError, 'fetch');
    await fail(
      DDIMScheduler.fromPretrained('org/name', { subfoldr: 'x' } as never),
      ArgumentError,
      'options.subfoldr',
    );
    await fail(
      DDIMInverseScheduler.fromPretrained('org/name', throwingProxy() as never),
      ArgumentError,
      'options',
    );
    expectTyped(() => registerConfigSource(null as never), ArgumentError, 'source');
    expectTyped(() => registerConfigSource({ name: 'x' } as never), ArgumentError, 'source');
  });

  it('ddimStepKernel asked to threshold without a scratch of the right precision is an ArgumentError', () => {
    const x = Float32Array.of(0.5, -1);
    const args = {
      coefficients: stepCoefficients('epsilon', 0.5, 0.6, 0, 0),
      bound: { kind: 'threshold', ratio: 0.9, maxValue: 2 },
      useClippedModelOutput: false,
      batch: 1,
      sample: x,
      sampleType: 'float32',
      modelOutput: x,
      modelOutputType: 'float32',
      noise: null,
      noiseType: 'float32',
      prevSample: new Float32Array(2),
      predOriginalSample: new Float32Array(2),
      outType: 'float32',
    } as const;
    expectTyped(() => ddimStepKernel(args), ArgumentError, 'scratch');
    expectTyped(() => ddimStepKernel({ ...args, scratch: new Float64Array(2) }), ArgumentError, 'scratch');
    expect(ddimStepKernel({ ...args, scratch: new Float32Array(2) })).toBe(true);
  });

  it('helpers that allocate refuse bad sizes with a typed error instead of a RangeError', () => {
    expectTyped(() => numpyArange(0, 1e12, 1), ArgumentError, 'length');
    expectTyped(() => numpyArange(0, 1, 0), ArgumentError, 'step');
    expectTyped(() => numpyLinspace(0, 1, -1), ArgumentError, 'num');
    expectTyped(() => torchLinspace(0, 1, 1e12), ArgumentError, 'steps');
    expectTyped(() => cosineBetas(-1), ArgumentError, 'numTrainTimesteps');
    expectTyped(() => ddimTimesteps(1e12, 1e12, 'leading', 0), ArgumentError, 'numTrainTimesteps');
    expectTyped(() => ddimTimesteps(1000, 10, 'bogus' as never, 0), ArgumentError, 'spacing');
    expectTyped(() => ddimTimesteps(1000, 10, 'leading', -5), ArgumentError, 'stepsOffset');
  });
});

describe('the sampling loop and the exact denoisers', () => {
  const shape = [1, 2, 2];
  const zeros = (x: Tensor) => ({ data: new Float32Array(x.data.length), dims: x.dims });

  async function rejection(promise: Promise<unknown>): Promise<unknown> {
    return promise.then(
      () => undefined,
      (e: unknown) => e,
    );
  }

  it('unreadable options or signal are ArgumentErrors; the scheduler stays usable', async () => {
    const s = new DDIMScheduler({ num_train_timesteps: 100 });
    expect(await rejection(sample(s, zeros, throwingProxy() as never))).toBeInstanceOf(ArgumentError);
    const bad = await rejection(sample(s, zeros, { shape, signal: throwingProxy() as never }));
    expect((bad as ArgumentError).field).toBe('options.signal');
    const ok = await sample(s, zeros, { shape, numInferenceSteps: 3 });
    expect(ok.steps).toBe(3);
  });

  it("a denoiser's own error propagates unchanged (it is the caller's), and leaves scheduler and generator reusable", async () => {
    const s = new DDIMScheduler({ num_train_timesteps: 100 });
    const g = new Generator().manualSeed(3);
    const mine = new Error('the model broke');
    let calls = 0;
    const flaky = (x: Tensor) => {
      calls++;
      if (calls === 2) throw mine;
      return zeros(x);
    };
    expect(await rejection(sample(s, flaky, { shape, numInferenceSteps: 3, eta: 1, generator: g }))).toBe(
      mine,
    );
    const again = await sample(s, zeros, { shape, numInferenceSteps: 3 });
    expect(again.steps).toBe(3);
    // A NaN prediction is the library's NumericError, naming the timestep.
    const nan = (x: Tensor) => ({ data: new Float32Array(x.data.length).fill(Number.NaN), dims: x.dims });
    const error = await rejection(sample(s, nan, { shape, numInferenceSteps: 3 }));
    expect(error).toBeInstanceOf(NumericError);
    expect((error as NumericError).problem).toMatch(/timestep \d+/);
  });

  it('exact denoisers, image-to-image helpers and the shapes data set refuse unreadable arguments', () => {
    const s = new DDIMScheduler();
    expectTyped(() => gaussianMixtureDenoiser(s, throwingProxy() as never), ArgumentError, 'mixture');
    expectTyped(
      () => gaussianMixtureDenoiser(throwingProxy() as never, { means: [[0]], weights: [1], variances: [1] }),
      ArgumentError,
      'scheduler',
    );
    expectTyped(() => datasetDenoiser(throwingProxy() as never, refSample), ArgumentError, 'scheduler');
    expectTyped(() => img2imgStartIndex(throwingProxy() as never, 0.5), ArgumentError, 'numInferenceSteps');
    expectTyped(() => shapesDataset(null as never), ArgumentError, 'options');
    expectTyped(() => shapesDataset(throwingProxy() as never), ArgumentError, 'options');
  });
});
