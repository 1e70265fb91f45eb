/**
 * randn_dtypes.json: torch.randn in float16 / float64 / float32 (diffusers' randn_tensor with a
 * dtype), and eta > 0 DDIM steps whose noise is drawn in the model output's dtype. The comparison
 * rules are in test/fixtures/README.md: float16 bit for bit, float64 bit for bit or within 1e-15
 * relative, float32 within 1e-5 absolute (randn.json's rule).
 */
import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  DDIMScheduler,
  type DType,
  float16ToNumber,
  Generator,
  type GeneratorState,
  NumericError,
  numberToFloat16,
  randnTensor,
  type SampleOptions,
  ShapeError,
  sample,
  type Tensor,
} from '../src/index.js';
import { halfBoxMullerTables } from '../src/noise/box-muller.js';
import { randnInto } from '../src/noise/randn.js';
import { expectClose, loadFixture } from './helpers/fixtures.js';

interface Draw {
  seed: string;
  dtype: DType;
  shape: number[];
  first: number[];
  second: number[];
}
interface Sequence {
  seed: string;
  draws: { dtype: DType; shape: number[]; values: number[] }[];
  state_after: { mt: number[]; index: number; nextNormal: number | null };
}
interface PerSample {
  seeds: string[];
  dtype: DType;
  shape: number[];
  first: number[];
  second: number[];
}
interface Crafted {
  dtype: DType;
  shape: number[];
  state: { mt: number[]; index: number; nextNormal: null };
  values: number[];
}
interface StepCase {
  config: Record<string, unknown>;
  dims: number[];
  sample_dtype: DType;
  model_output_dtype: DType;
  timestep: number;
  num_inference_steps: number;
  eta: number;
  generator_seeds: string[];
  sample: number[];
  model_output: number[];
  variance_noise: number[];
  std_dev_t: number;
  prev_sample_dtype: DType;
  prev_sample: number[];
  pred_original_sample: number[];
  after: number[][];
  tol: { prev_sample: number; pred_original_sample: number };
}
interface Fixture {
  source: string;
  draws: Draw[];
  sequences: Sequence[];
  per_sample: PerSample[];
  crafted: Crafted[];
  half_pairs: { per_u1_word: number[]; zero_outputs: number; negative_zero_outputs: number };
  half_tables: { radius_bits: number[]; cos: number[]; sin: number[] };
  steps: StepCase[];
}

const fixture = loadFixture<never>('randn_dtypes.json') as unknown as Fixture;

/** The fixture rule for one draw of `dtype`; returns a message for the first element that breaks it, or null. */
function mismatch(got: Tensor, want: readonly number[], dtype: DType, what: string): string | null {
  if (got.type !== dtype) return `${what}: type ${got.type}, want ${dtype}`;
  if (got.data.length !== want.length) return `${what}: length ${got.data.length}, want ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    const g = got.data[i];
    const w = want[i];
    const ok =
      dtype === 'float16'
        ? g === w // bit patterns: -0 and +0 differ, NaN patterns would too
        : dtype === 'float64'
          ? Object.is(g, w) || Math.abs(g - w) <= 1e-15 * Math.abs(w)
          : Math.abs(g - w) <= 1e-5;
    if (!ok) return `${what}[${i}]: got ${g}, want ${w}`;
  }
  return null;
}

function expectDraw(got: Tensor, want: readonly number[], dtype: DType, what: string): void {
  expect(mismatch(got, want, dtype, what)).toBeNull();
}

function tensorOf(values: readonly number[], dims: number[], dtype: DType): Tensor {
  const data =
    dtype === 'float16'
      ? Uint16Array.from(values)
      : dtype === 'float64'
        ? Float64Array.from(values)
        : Float32Array.from(values);
  return { data, dims, type: dtype } as Tensor;
}

function numbers(t: Tensor): number[] {
  return t.type === 'float16' ? Array.from(t.data, float16ToNumber) : Array.from(t.data);
}

function stateWith(mt: number[], index: number, nextNormal: number | null = null): GeneratorState {
  return { version: 1, engine: 'mt19937', seed: '0', mt, index, nextNormal };
}

describe('randn_dtypes.json: first and second draws on one generator', () => {
  it('covers every dtype, sizes 1..40, 63, 64, 65, 1000 and seeds past 2^32 and 2^53', () => {
    for (const dtype of ['float16', 'float64', 'float32']) {
      const sizes = new Set(
        fixture.draws.filter((c) => c.dtype === dtype).map((c) => c.shape.reduce((a, b) => a * b, 1)),
      );
      for (const n of [1, 15, 16, 17, 40, 63, 64, 65, 1000]) expect(sizes.has(n)).toBe(true);
      const seeds = new Set(fixture.draws.filter((c) => c.dtype === dtype).map((c) => c.seed));
      for (const s of ['0', '1', '4294967297', '9007199254740999', '18446744073709551615', '-1'])
        expect(seeds.has(s)).toBe(true);
    }
  });

  // One test per (dtype, seed), each drawing every size twice.
  const groups = new Map<string, Draw[]>();
  for (const c of fixture.draws) {
    const key = `${c.dtype} seed ${c.seed}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  for (const [key, cases] of groups) {
    it(`${key}: ${cases.length} sizes`, () => {
      for (const c of cases) {
        const g = new Generator().manualSeed(c.seed);
        const first = randnTensor(c.shape, { generator: g, dtype: c.dtype });
        const second = randnTensor(c.shape, { generator: g, dtype: c.dtype });
        expect(first.dims).toEqual(c.shape);
        expectDraw(first, c.first, c.dtype, `[${c.shape}] first`);
        expectDraw(second, c.second, c.dtype, `[${c.shape}] second`);
      }
    });
  }

  it('below 16 elements float16 is the double normal rounded to float, then to half (seed 1997)', () => {
    const c = fixture.draws.find((d) => d.dtype === 'float16' && d.seed === '1997' && d.first.length === 3);
    if (c === undefined) throw new Error('no such case');
    const doubles = randnTensor([3], { generator: new Generator().manualSeed(1997), dtype: 'float64' }).data;
    // Rounding the double straight to half would give another value for the second element.
    expect(numberToFloat16(doubles[1])).not.toBe(c.first[1]);
    expect(numberToFloat16(Math.fround(doubles[1]))).toBe(c.first[1]);
    expectDraw(
      randnTensor([3], { generator: new Generator().manualSeed(1997), dtype: 'float16' }),
      c.first,
      'float16',
      'first',
    );
  });

  it('float16 is its own stream: not the float32 draw rounded (seed 0, 64 elements)', () => {
    const c = fixture.draws.find((d) => d.dtype === 'float16' && d.seed === '0' && d.first.length === 64);
    const f32 = randnTensor([64], { generator: new Generator().manualSeed(0) });
    const rounded = Array.from(f32.data, numberToFloat16);
    const same = rounded.filter((bits, i) => bits === c?.first[i]).length;
    expect(same).toBeLessThan(8);
  });
});

describe('randn_dtypes.json: interleaved dtypes and sizes on one generator', () => {
  for (const [i, c] of fixture.sequences.entries()) {
    const plan = c.draws.map((d) => `${d.dtype}[${d.shape}]`).join(' ');
    it(`#${i} seed ${c.seed}: ${plan}, then the state`, () => {
      const g = new Generator().manualSeed(c.seed);
      for (const [k, d] of c.draws.entries()) {
        expectDraw(randnTensor(d.shape, { generator: g, dtype: d.dtype }), d.values, d.dtype, `draw ${k}`);
      }
      // torch's state after the last draw: the same words, position and cached normal.
      const state = g.getState();
      expect(state.index).toBe(c.state_after.index);
      expect(state.mt).toEqual(c.state_after.mt);
      const want = c.state_after.nextNormal;
      if (want === null) expect(state.nextNormal).toBeNull();
      else expect(Math.abs((state.nextNormal as number) - want)).toBeLessThanOrEqual(1e-15 * Math.abs(want));
    });
  }
});

describe('randn_dtypes.json: one generator per batch element (diffusers randn_tensor with a list)', () => {
  for (const c of fixture.per_sample) {
    it(`${c.dtype} [${c.shape}] seeds [${c.seeds}]`, () => {
      const gs = c.seeds.map((s) => new Generator().manualSeed(s));
      expectDraw(randnTensor(c.shape, { generator: gs, dtype: c.dtype }), c.first, c.dtype, 'first');
      expectDraw(randnTensor(c.shape, { generator: gs, dtype: c.dtype }), c.second, c.dtype, 'second');
    });
  }
});

describe('randn_dtypes.json: crafted engine words (zero and extreme uniforms)', () => {
  for (const [i, c] of fixture.crafted.entries()) {
    it(`#${i} ${c.dtype} [${c.shape}] from word ${c.state.index}`, () => {
      const g = new Generator().setState(stateWith(c.state.mt, c.state.index));
      expectDraw(randnTensor(c.shape, { generator: g, dtype: c.dtype }), c.values, c.dtype, 'values');
    });
  }
});

describe('float16 Box-Muller: every input pair', () => {
  it("glibc's radius, cosf and sinf tables, including its 53 not correctly rounded cosf / sinf values", () => {
    const tables = halfBoxMullerTables();
    const want = fixture.half_tables;
    for (let k = 0; k < 2048; k++) {
      expect(numberToFloat16(tables.radius[k]), `radius[${k}]`).toBe(want.radius_bits[k]);
      expect(tables.cos[k], `cos[${k}]`).toBe(Math.fround(want.cos[k]));
      expect(tables.sin[k], `sin[${k}]`).toBe(Math.fround(want.sin[k]));
    }
    expect(Object.is(tables.radius[0], -0)).toBe(true); // sqrt(-2 * log(1)) = sqrt(-0) = -0
  });

  it('all 2048 x 2048 (u1, u2) words give torch 1.13 outputs bit for bit, and never -0', () => {
    // As the fixture script: word 1 onward of a crafted state holds 38 blocks of 16 words, word k of
    // a block the u1 of pair k and word k + 8 its u2 (values the tempering maps to the 11-bit words).
    const untempered = new Uint32Array(2048);
    for (let v = 0; v < 2048; v++) untempered[v] = untemper(v);
    const base = new Generator().manualSeed(0).getState().mt;
    const total = 2048 * 2048;
    const perCall = 38 * 8;
    const cosOut = new Uint16Array(total);
    const sinOut = new Uint16Array(total);
    const out = new Uint16Array(608);
    const g = new Generator();
    for (let start = 0; start < total; start += perCall) {
      const mt = base.slice();
      for (let p = 0; p < perCall; p++) {
        const pair = (start + p) % total;
        const block = p >> 3;
        const k = p & 7;
        mt[1 + 16 * block + k] = untempered[pair >> 11];
        mt[1 + 16 * block + 8 + k] = untempered[pair & 2047];
      }
      g.setState(stateWith(mt, 1));
      g.fillRandnFloat16(out, 0, 608);
      const end = Math.min(start + perCall, total);
      for (let p = 0; p < end - start; p++) {
        const block = p >> 3;
        const k = p & 7;
        cosOut[start + p] = out[16 * block + k];
        sinOut[start + p] = out[16 * block + 8 + k];
      }
    }
    const bad: number[] = [];
    let zeros = 0;
    let negativeZeros = 0;
    for (let a = 0; a < 2048; a++) {
      let h = 0x811c9dc5;
      for (let b = 0; b < 2048; b++) h = Math.imul(h ^ cosOut[a * 2048 + b], 16777619) >>> 0;
      for (let b = 0; b < 2048; b++) h = Math.imul(h ^ sinOut[a * 2048 + b], 16777619) >>> 0;
      if (h !== fixture.half_pairs.per_u1_word[a]) bad.push(a);
    }
    for (let i = 0; i < total; i++) {
      for (const bits of [cosOut[i], sinOut[i]]) {
        if ((bits & 0x7fff) === 0) zeros++;
        if (bits === 0x8000) negativeZeros++;
      }
    }
    expect(bad, 'u1 words whose 4096 outputs differ from torch').toEqual([]);
    expect(zeros).toBe(fixture.half_pairs.zero_outputs);
    expect(negativeZeros).toBe(0);
    expect(fixture.half_pairs.negative_zero_outputs).toBe(0);
  });
});

/** The state word MT19937's tempering maps to y (test helper: inverts the four tempering steps). */
function untemper(y: number): number {
  y = (y ^ (y >>> 18)) >>> 0;
  y = (y ^ ((y << 15) & 0xefc60000)) >>> 0;
  let t = y;
  for (let i = 0; i < 5; i++) t = (y ^ ((t << 7) & 0x9d2c5680)) >>> 0;
  y = t;
  t = y;
  for (let i = 0; i < 3; i++) t = (y ^ (t >>> 11)) >>> 0;
  return t;
}

describe('randn_dtypes.json: eta > 0 DDIM steps draw their noise in the model output dtype', () => {
  it('has float16, float64 and mixed-dtype cases where the noise matters', () => {
    const kinds = new Set(fixture.steps.map((c) => `${c.sample_dtype}/${c.model_output_dtype}`));
    for (const k of ['float16/float16', 'float64/float64', 'float32/float16', 'float32/float64'])
      expect(kinds.has(k)).toBe(true);
    expect(fixture.steps.filter((c) => c.std_dev_t > 0.25).length).toBeGreaterThanOrEqual(8);
  });

  for (const [i, c] of fixture.steps.entries()) {
    const name = `#${i} ${c.sample_dtype} sample, ${c.model_output_dtype} model output [${c.dims}], t=${c.timestep}, eta=${c.eta}, ${c.generator_seeds.length} generator(s)`;
    it(name, () => {
      const s = new DDIMScheduler(c.config).setTimesteps(c.num_inference_steps);
      const x = tensorOf(c.sample, c.dims, c.sample_dtype);
      const m = tensorOf(c.model_output, c.dims, c.model_output_dtype);
      const gens = c.generator_seeds.map((seed) => new Generator().manualSeed(seed));
      const generator = gens.length === 1 ? gens[0] : gens;
      const drawn = s.step(m, c.timestep, x, { eta: c.eta, generator });
      // The generators end where torch's do.
      for (const [k, g] of gens.entries()) {
        expectDraw(
          randnTensor([5], { generator: g, dtype: c.model_output_dtype }),
          c.after[k],
          c.model_output_dtype,
          `after[${k}]`,
        );
      }
      // The noise drawn is randnTensor's in the model output's dtype, which is torch's (float16 bit
      // for bit, float64 within the rule): the step equals the same step given that noise.
      const fresh = c.generator_seeds.map((seed) => new Generator().manualSeed(seed));
      const noise = randnTensor(c.dims, {
        generator: fresh.length === 1 ? fresh[0] : fresh,
        dtype: c.model_output_dtype,
      });
      expectDraw(noise, c.variance_noise, c.model_output_dtype, 'variance_noise');
      const given = s.step(m, c.timestep, x, { eta: c.eta, varianceNoise: noise });
      expect(drawn.prevSample.type).toBe(c.sample_dtype);
      expect(Array.from(drawn.prevSample.data)).toEqual(Array.from(given.prevSample.data));
      // And the whole step is diffusers' (torch's float16 arithmetic rounds every op; see the README).
      const want = (values: number[]) =>
        c.prev_sample_dtype === 'float16' ? values.map(float16ToNumber) : values;
      expectClose(numbers(drawn.prevSample), want(c.prev_sample), c.tol.prev_sample, 'prev_sample');
      expectClose(
        numbers(drawn.predOriginalSample),
        want(c.pred_original_sample),
        c.tol.pred_original_sample,
        'pred_original_sample',
      );
    });
  }

  it('with float32 noise instead, the float16 steps where the noise matters would fail the rule', () => {
    const c = fixture.steps.find((k) => k.model_output_dtype === 'float16' && k.std_dev_t > 0.8);
    if (c === undefined) throw new Error('no such case');
    const s = new DDIMScheduler(c.config).setTimesteps(c.num_inference_steps);
    const x = tensorOf(c.sample, c.dims, c.sample_dtype);
    const m = tensorOf(c.model_output, c.dims, c.model_output_dtype);
    const f32Noise = randnTensor(c.dims, { generator: new Generator().manualSeed(c.generator_seeds[0]) });
    const wrong = s.step(m, c.timestep, x, { eta: c.eta, varianceNoise: f32Noise });
    const want = c.prev_sample.map(float16ToNumber);
    const maxAbs = Math.max(1, ...want.map(Math.abs));
    const worst = Math.max(...numbers(wrong.prevSample).map((v, i) => Math.abs(v - want[i]))) / maxAbs;
    expect(worst).toBeGreaterThan(100 * c.tol.prev_sample);
  });
});

describe('step noise rollback in float16 and float64', () => {
  for (const dtype of ['float16', 'float64'] as const) {
    it(`${dtype}: a NumericError leaves the generator where it was; the retry draws torch's noise`, () => {
      const c = fixture.steps.find((k) => k.model_output_dtype === dtype && k.sample_dtype === dtype);
      if (c === undefined) throw new Error('no such case');
      const s = new DDIMScheduler(c.config).setTimesteps(c.num_inference_steps);
      const x = tensorOf(c.sample, c.dims, c.sample_dtype);
      const m = tensorOf(c.model_output, c.dims, dtype);
      const nan = tensorOf(c.model_output, c.dims, dtype);
      nan.data[3] = dtype === 'float16' ? 0x7e00 : Number.NaN;
      const gens = c.generator_seeds.map((seed) => new Generator().manualSeed(seed));
      const generator = gens.length === 1 ? gens[0] : gens;
      const before = JSON.stringify(gens.map((g) => g.getState()));
      expect(() => s.step(nan, c.timestep, x, { eta: c.eta, generator })).toThrow(NumericError);
      expect(JSON.stringify(gens.map((g) => g.getState()))).toBe(before);
      const retry = s.step(m, c.timestep, x, { eta: c.eta, generator });
      const fresh = c.generator_seeds.map((seed) => new Generator().manualSeed(seed));
      const noise = randnTensor(c.dims, { generator: fresh.length === 1 ? fresh[0] : fresh, dtype });
      expectDraw(noise, c.variance_noise, dtype, 'variance_noise');
      const given = s.step(m, c.timestep, x, { eta: c.eta, varianceNoise: noise });
      expect(Array.from(retry.prevSample.data)).toEqual(Array.from(given.prevSample.data));
    });
  }
});

describe('sample(): latents drawn in options.dtype, step noise in the model output dtype', () => {
  /** A denoiser of the loop's dtype that records (copies of) the samples it is given. */
  function recording(seen: Tensor[]) {
    return (x: Tensor) => {
      seen.push({ data: x.data.slice(), dims: [...x.dims], type: x.type } as Tensor);
      // eps = x / 2 in the sample's dtype.
      const data =
        x.type === 'float16'
          ? Uint16Array.from(x.data, (b) => numberToFloat16(float16ToNumber(b) / 2))
          : x.data.map((v) => v / 2);
      return { data, dims: x.dims, type: x.type } as Tensor;
    };
  }

  for (const dtype of ['float16', 'float64'] as const) {
    it(`dtype ${dtype}: x_T is torch's ${dtype} draw, and the loop's eta noise continues torch's stream`, async () => {
      const c = fixture.draws.find((d) => d.dtype === dtype && d.seed === '0' && d.first.length === 64);
      if (c === undefined) throw new Error('no such case');
      const seen: Tensor[] = [];
      const options: SampleOptions = {
        shape: [1, 4, 4, 4],
        dtype,
        generator: new Generator().manualSeed(0),
        eta: 1,
        numInferenceSteps: 2,
      };
      const result = await sample(new DDIMScheduler(), recording(seen), options);
      expect(result.latents.type).toBe(dtype);
      expectDraw(seen[0], c.first, dtype, 'x_T');
      // By hand: the first step's noise is torch's second draw of 64, the second step's the third.
      const s = new DDIMScheduler().setTimesteps(2);
      const g = new Generator().manualSeed(0);
      randnTensor([64], { generator: g, dtype });
      const noise1 = tensorOf(c.second, [1, 4, 4, 4], dtype);
      expectDraw(randnTensor([1, 4, 4, 4], { generator: g, dtype }), c.second, dtype, 'second draw');
      const noise2 = randnTensor([1, 4, 4, 4], { generator: g, dtype });
      const [t1, t2] = s.timesteps;
      const x1 = s.step(recording([])(seen[0]), t1, seen[0], { eta: 1, varianceNoise: noise1 }).prevSample;
      expect(Array.from(seen[1].data)).toEqual(Array.from(x1.data));
      const x2 = s.step(recording([])(x1), t2, x1, { eta: 1, varianceNoise: noise2 }).prevSample;
      expect(Array.from(result.latents.data)).toEqual(Array.from(x2.data));
    });
  }

  it('dtype defaults to float32 (unchanged), and float16 img2img draws its noise in float16', async () => {
    const seen: Tensor[] = [];
    await sample(new DDIMScheduler(), recording(seen), {
      shape: [1, 64],
      generator: new Generator().manualSeed(0),
      numInferenceSteps: 1,
    });
    expect(seen[0].type).toBe('float32');
    expect(Array.from(seen[0].data)).toEqual(
      Array.from(randnTensor([1, 64], { generator: new Generator().manualSeed(0) }).data),
    );

    const c = fixture.draws.find((d) => d.dtype === 'float16' && d.seed === '0' && d.first.length === 64);
    if (c === undefined) throw new Error('no such case');
    const init = tensorOf(
      Array.from({ length: 64 }, (_, i) => numberToFloat16(Math.sin(i))),
      [1, 64],
      'float16',
    );
    const img: Tensor[] = [];
    const s = new DDIMScheduler();
    await sample(s, recording(img), {
      initLatents: init,
      strength: 0.5,
      numInferenceSteps: 10,
      generator: new Generator().manualSeed(0),
    });
    const t0 = s.timesteps[5];
    const expected = s.addNoise(init, tensorOf(c.first, [1, 64], 'float16'), t0);
    expect(img[0].type).toBe('float16');
    expect(Array.from(img[0].data)).toEqual(Array.from(expected.data));
  });

  it('a dtype that is not one, or that contradicts the latents given, is an ArgumentError before anything runs', async () => {
    const g = new Generator().manualSeed(1);
    const state = JSON.stringify(g.getState());
    const never = () => {
      throw new Error('the denoiser must not run');
    };
    const s = new DDIMScheduler();
    const latents = randnTensor([1, 4], { generator: new Generator() });
    for (const options of [
      { shape: [1, 4], dtype: 'bfloat16' },
      { shape: [1, 4], dtype: 'float' },
      { latents, dtype: 'float16' },
      { initLatents: latents, dtype: 'float64' },
    ]) {
      await expect(sample(s, never, { ...options, generator: g } as SampleOptions)).rejects.toThrow(
        ArgumentError,
      );
      await expect(sample(s, never, { ...options, generator: g } as SampleOptions)).rejects.toThrow(
        /options\.dtype/,
      );
    }
    expect(JSON.stringify(g.getState())).toBe(state);
    expect(s.numInferenceSteps).toBeNull();
    // The latents' own dtype is accepted.
    await sample(s, (x) => x, { latents, dtype: 'float32', numInferenceSteps: 1 });
  });
});

describe('randnTensor / randnInto / Generator: the dtype API', () => {
  it('randnTensor returns float16 as { Uint16Array, type: "float16" } and float64 as a Float64Array', () => {
    const h = randnTensor([2, 3], { generator: new Generator().manualSeed(4), dtype: 'float16' });
    expect(h.data).toBeInstanceOf(Uint16Array);
    expect(h.type).toBe('float16');
    expect(h.dims).toEqual([2, 3]);
    const d = randnTensor([2, 3], { generator: new Generator().manualSeed(4), dtype: 'float64' });
    expect(d.data).toBeInstanceOf(Float64Array);
    expect(d.type).toBe('float64');
    const f = randnTensor([2, 3], { generator: new Generator().manualSeed(4), dtype: 'float32' });
    expect(f.data).toBeInstanceOf(Float32Array);
    expect(Array.from(f.data)).toEqual(
      Array.from(randnTensor([2, 3], { generator: new Generator().manualSeed(4) }).data),
    );
  });

  it('randnInto draws the dtype of its array, as randnTensor does', () => {
    for (const dtype of ['float16', 'float64', 'float32'] as const) {
      const want = randnTensor([3, 7], { generator: new Generator().manualSeed(9), dtype });
      const out =
        dtype === 'float16'
          ? new Uint16Array(21)
          : dtype === 'float64'
            ? new Float64Array(21)
            : new Float32Array(21);
      randnInto(out, [3, 7], [new Generator().manualSeed(9)]);
      expect(Array.from(out)).toEqual(Array.from(want.data));
    }
  });

  it('fillRandnFloat16 / fillRandnFloat64 are one torch.randn call each, at an offset', () => {
    const c = fixture.draws.find((d) => d.dtype === 'float16' && d.seed === '1' && d.first.length === 17);
    const e = fixture.draws.find((d) => d.dtype === 'float64' && d.seed === '1' && d.first.length === 17);
    if (c === undefined || e === undefined) throw new Error('no such case');
    const h = new Uint16Array(20);
    new Generator().manualSeed(1).fillRandnFloat16(h, 2, 17);
    expect([h[0], h[1], h[19]]).toEqual([0, 0, 0]);
    expect(Array.from(h.subarray(2, 19))).toEqual(c.first);
    const d = new Float64Array(17);
    new Generator().manualSeed(1).fillRandnFloat64(d);
    expectDraw({ data: d, dims: [17], type: 'float64' }, e.first, 'float64', 'fillRandnFloat64');
  });

  it('wrong arrays, offsets and dtypes are refused before anything is drawn', () => {
    const g = new Generator().manualSeed(5);
    const state = JSON.stringify(g.getState());
    expect(() => g.fillRandnFloat16(new Float32Array(4) as never)).toThrow(ShapeError);
    expect(() => g.fillRandnFloat16(new Int16Array(4) as never)).toThrow(ShapeError);
    expect(() => g.fillRandnFloat64(new Float32Array(4) as never)).toThrow(ShapeError);
    expect(() => g.fillRandn(new Float64Array(4) as never)).toThrow(ShapeError);
    expect(() => g.fillRandnFloat16(new Uint16Array(4), 2, 3)).toThrow(ShapeError);
    expect(() => g.fillRandnFloat64(new Float64Array(4), -1)).toThrow(ArgumentError);
    for (const dtype of ['bfloat16', 'float', 16, null]) {
      expect(() => randnTensor([4], { generator: g, dtype: dtype as never })).toThrow(ArgumentError);
      expect(() => randnTensor([4], { generator: g, dtype: dtype as never })).toThrow(/options\.dtype/);
    }
    expect(() => randnTensor([4], { generator: g, dtype: 'float16', extra: 1 } as never)).toThrow(
      ArgumentError,
    );
    expect(JSON.stringify(g.getState())).toBe(state);
  });
});
