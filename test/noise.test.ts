import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  defaultGenerator,
  Generator,
  type GeneratorState,
  manualSeed,
  randnTensor,
  ShapeError,
} from '../src/index.js';
import { boxMullerBlock } from '../src/noise/box-muller.js';
import { randnInto } from '../src/noise/randn.js';
import { untemper } from './helpers/mt19937.js';

interface TwoDrawCase {
  seed: string;
  shape: number[];
  first: number[];
  second: number[];
  tol: number;
}
interface SequenceCase {
  seed: string;
  sequence: { shape: number[]; values: number[] }[];
  tol: number;
}
interface PerSampleCase {
  seeds: string[];
  per_sample_shape: number[];
  values: number[];
  tol: number;
}
type RandnCase = TwoDrawCase | SequenceCase | PerSampleCase;

const fixture = JSON.parse(readFileSync(new URL('./fixtures/randn.json', import.meta.url), 'utf8')) as {
  cases: RandnCase[];
};

/** The fixtures' rule for randn: absolute, |got - want| <= tol, element by element. */
function expectClose(got: ArrayLike<number>, want: readonly number[], tol: number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    // NaN fails this comparison too.
    if (!(err <= worst)) {
      worst = err;
      worstAt = i;
    }
  }
  expect(
    worst <= tol,
    `${what}: worst |got - want| = ${worst} at ${worstAt} (got ${got[worstAt]}, want ${want[worstAt]})`,
  ).toBe(true);
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function caseName(c: RandnCase, i: number): string {
  if ('shape' in c) return `#${i} seed ${c.seed}, shape [${c.shape}], two draws`;
  if ('sequence' in c)
    return `#${i} seed ${c.seed}, sequence ${c.sequence.map((s) => `[${s.shape}]`).join(' ')}`;
  return `#${i} seeds [${c.seeds}], per-sample generators, shape [${c.per_sample_shape}]`;
}

describe('randn.json (torch.randn with torch.Generator().manual_seed)', () => {
  it('has cases of every kind', () => {
    const kinds = new Set(fixture.cases.map((c) => ('shape' in c ? 's' : 'sequence' in c ? 'q' : 'p')));
    expect([...kinds].sort()).toEqual(['p', 'q', 's']);
  });

  fixture.cases.forEach((c, i) => {
    it(caseName(c, i), () => {
      if ('shape' in c) {
        const g = new Generator().manualSeed(c.seed);
        const first = randnTensor(c.shape, { generator: g });
        expect(first.dims).toEqual(c.shape);
        expect(first.type).toBe('float32');
        expect(first.data).toBeInstanceOf(Float32Array);
        expectClose(first.data, c.first, c.tol, 'first');
        const second = randnTensor(c.shape, { generator: g });
        expectClose(second.data, c.second, c.tol, 'second');
      } else if ('sequence' in c) {
        const g = new Generator().manualSeed(c.seed);
        c.sequence.forEach((step, k) => {
          expectClose(randnTensor(step.shape, { generator: g }).data, step.values, c.tol, `draw ${k}`);
        });
      } else {
        const generators = c.seeds.map((s) => new Generator().manualSeed(s));
        const t = randnTensor(c.per_sample_shape, { generator: generators });
        expectClose(t.data, c.values, c.tol, 'batch');
        // The same through randnInto and through one generator per slice by hand.
        const out = new Float32Array(product(c.per_sample_shape));
        randnInto(
          out,
          c.per_sample_shape,
          c.seeds.map((s) => new Generator().manualSeed(s)),
        );
        expect(out).toEqual(t.data);
      }
    });
  });
});

describe('mt19937 engine', () => {
  it('gives the C++ standard reference value: 10000th output for seed 5489 is 4123659995', () => {
    const g = new Generator().manualSeed(5489);
    let v = 0;
    for (let i = 0; i < 10000; i++) v = g.nextUint32();
    expect(v).toBe(4123659995);
  });

  it('starts from the reference mt19937 first outputs for seed 5489', () => {
    // std::mt19937 default-constructed: 3499211612, 581869302, 3890346734, 3586334585, 545404204.
    const g = new Generator().manualSeed(5489);
    expect([1, 2, 3, 4, 5].map(() => g.nextUint32())).toEqual([
      3499211612, 581869302, 3890346734, 3586334585, 545404204,
    ]);
  });

  it('is unsigned 32-bit', () => {
    const g = new Generator().manualSeed(7);
    let sawHigh = false;
    for (let i = 0; i < 2000; i++) {
      const v = g.nextUint32();
      expect(Number.isInteger(v) && v >= 0 && v <= 0xffffffff).toBe(true);
      if (v >= 2 ** 31) sawHigh = true;
    }
    expect(sawHigh).toBe(true);
  });

  it('fillRandn draws the same words as nextUint32 would (24-bit uniforms for 16+ elements)', () => {
    // For 16 elements: 16 uniforms, each the low 24 bits of one word. Check element 0 against the words.
    const a = new Generator().manualSeed(99);
    const words = Array.from({ length: 16 }, () => a.nextUint32());
    const b = new Generator().manualSeed(99);
    const out = new Float32Array(16);
    b.fillRandn(out);
    const u1 = 1 - (words[0] & 0xffffff) / 2 ** 24;
    const u2 = (words[8] & 0xffffff) / 2 ** 24;
    const r = Math.sqrt(-2 * Math.log(u1));
    expect(Math.abs(out[0] - r * Math.cos(2 * Math.PI * u2))).toBeLessThan(1e-6);
    expect(Math.abs(out[8] - r * Math.sin(2 * Math.PI * u2))).toBeLessThan(1e-6);
    // And both generators are now at the same point of the stream.
    expect(b.nextUint32()).toBe(a.nextUint32());
  });
});

describe('seeds', () => {
  const draw = (seed: number | bigint | string, n = 40): Float32Array =>
    randnTensor([n], { generator: new Generator().manualSeed(seed) }).data;

  it('new Generator() starts at torch default seed 67280421310721', () => {
    const g = new Generator();
    expect(g.initialSeed()).toBe(67280421310721n);
    expect(draw(67280421310721)).toEqual(randnTensor([40], { generator: new Generator() }).data);
  });

  it('number, bigint and decimal string seeds give identical streams', () => {
    for (const s of [0, 1, 42, 1234, 2 ** 31, 2 ** 32 - 1, 2 ** 53 - 1]) {
      const a = draw(s);
      expect(draw(BigInt(s))).toEqual(a);
      expect(draw(String(s))).toEqual(a);
      expect(new Generator().manualSeed(s).initialSeed()).toBe(BigInt(s));
    }
  });

  it('seed 2^32 + k gives seed k stream (low 32 bits seed the engine) but keeps its initial seed', () => {
    for (const k of [0, 5, 1234]) {
      const big = 2n ** 32n + BigInt(k);
      expect(draw(big)).toEqual(draw(k));
      expect(new Generator().manualSeed(big).initialSeed()).toBe(big);
      expect(new Generator().manualSeed(k).initialSeed()).toBe(BigInt(k));
    }
    // And a different seed does give a different stream (the comparison above can fail).
    expect(draw(1)).not.toEqual(draw(0));
  });

  it('seeds above 2^53 work as bigint and string, reduced to their low 32 bits', () => {
    const s = 18446744073709551615n; // 2^64 - 1: low word 0xffffffff
    expect(draw(s)).toEqual(draw(0xffffffff));
    expect(draw('18446744073709551615')).toEqual(draw(0xffffffff));
    expect(new Generator().manualSeed('18446744073709551615').initialSeed()).toBe(s);
    const t = 2n ** 53n + 12345n;
    expect(draw(t)).toEqual(draw(Number(t & 0xffffffffn)));
    expect(new Generator().manualSeed(t.toString()).initialSeed()).toBe(t);
  });

  it('negative seeds wrap to seed + 2^64 as torch manual_seed does (down to -2^63)', () => {
    expect(new Generator().manualSeed(-1).initialSeed()).toBe(2n ** 64n - 1n);
    expect(draw(-1)).toEqual(draw(0xffffffff));
    expect(draw('-1')).toEqual(draw(-1));
    expect(draw(-1n)).toEqual(draw(-1));
    const min = -(2n ** 63n);
    expect(new Generator().manualSeed(min).initialSeed()).toBe(2n ** 63n);
    expect(new Generator().manualSeed('-9223372036854775808').initialSeed()).toBe(2n ** 63n);
    expect(draw(-5)).toEqual(draw(2n ** 64n - 5n));
  });

  it.each([
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['-Infinity', Number.NEGATIVE_INFINITY],
    ['1.5', 1.5],
    ["'12abc'", '12abc'],
    ["''", ''],
    ["' 12'", ' 12'],
    ["'1e3'", '1e3'],
    ["'0x10'", '0x10'],
    ['2^64', 2n ** 64n],
    ["'2^64' as string", '18446744073709551616'],
    ['-(2^63) - 1', -(2n ** 63n) - 1n],
    ["'-(2^63) - 1' as string", '-9223372036854775809'],
    ['2^53 (not a safe integer)', 2 ** 53],
    ['1e20 (not a safe integer)', 1e20],
    ['null', null],
    ['boolean', true],
    ['object', {}],
  ])('rejects seed %s with ArgumentError, leaving the generator unchanged', (_name, seed) => {
    const g = new Generator().manualSeed(77);
    const before = g.getState();
    expect(() => g.manualSeed(seed as never)).toThrow(ArgumentError);
    expect(g.getState()).toEqual(before);
    expect(g.initialSeed()).toBe(77n);
  });

  it('accepts the exact bounds', () => {
    expect(new Generator().manualSeed(2n ** 64n - 1n).initialSeed()).toBe(2n ** 64n - 1n);
    expect(new Generator().manualSeed(Number.MAX_SAFE_INTEGER).initialSeed()).toBe(
      BigInt(Number.MAX_SAFE_INTEGER),
    );
    expect(new Generator().manualSeed(-Number.MAX_SAFE_INTEGER).initialSeed()).toBe(
      2n ** 64n - BigInt(Number.MAX_SAFE_INTEGER),
    );
  });

  it('manualSeed resets the cached normal', () => {
    const g = new Generator().manualSeed(3);
    const a = randnTensor([1], { generator: g }).data[0]; // the pair's second value is now cached
    g.manualSeed(3);
    expect(g.getState().nextNormal).toBeNull();
    expect(randnTensor([1], { generator: g }).data[0]).toBe(a);
  });

  it('seed() reseeds from the secure source and reports the 64-bit seed it used', () => {
    const g = new Generator();
    const s = g.seed();
    expect(typeof s).toBe('bigint');
    expect(s >= 0n && s < 2n ** 64n).toBe(true);
    expect(g.initialSeed()).toBe(s);
    const replay = new Generator().manualSeed(s);
    expect(randnTensor([33], { generator: g }).data).toEqual(randnTensor([33], { generator: replay }).data);
    // Two secure seeds colliding has probability 2^-64.
    expect(new Generator().seed()).not.toBe(s);
  });
});

describe('the default generator', () => {
  it('is seeded securely once, and used when no generator is given', () => {
    const g = defaultGenerator();
    expect(defaultGenerator()).toBe(g);
    const state = g.getState();
    const replay = new Generator().setState(state);
    expect(randnTensor([20]).data).toEqual(randnTensor([20], { generator: replay }).data);
    expect(randnTensor([3], { generator: null }).data).toEqual(randnTensor([3], { generator: replay }).data);
  });

  it('manualSeed(seed) seeds it, as torch.manual_seed', () => {
    const g = manualSeed(1234);
    expect(g).toBe(defaultGenerator());
    expect(g.initialSeed()).toBe(1234n);
    const want = randnTensor([2, 17], { generator: new Generator().manualSeed(1234) }).data;
    expect(randnTensor([2, 17]).data).toEqual(want);
    manualSeed('1234');
    const out = new Float32Array(34);
    randnInto(out, [2, 17]);
    expect(out).toEqual(want);
  });

  it('a bad module-level seed throws and leaves the default generator as it was', () => {
    manualSeed(5);
    const before = defaultGenerator().getState();
    expect(() => manualSeed(-1.5)).toThrow(ArgumentError);
    expect(defaultGenerator().getState()).toEqual(before);
  });
});

describe('small tensors (normal_distribution<double> with a cached second value)', () => {
  it('randn(1) twice equals randn(2), and randn(2) twice equals randn(4)', () => {
    for (const seed of [0, 1, 42, 1234, '18446744073709551615']) {
      const a = new Generator().manualSeed(seed);
      const ones = [randnTensor([1], { generator: a }).data[0], randnTensor([1], { generator: a }).data[0]];
      const two = randnTensor([2], { generator: new Generator().manualSeed(seed) }).data;
      expect(Float32Array.from(ones)).toEqual(two);
      const b = new Generator().manualSeed(seed);
      const twos = [...randnTensor([2], { generator: b }).data, ...randnTensor([2], { generator: b }).data];
      expect(Float32Array.from(twos)).toEqual(
        randnTensor([4], { generator: new Generator().manualSeed(seed) }).data,
      );
    }
  });

  it('a 16+ draw in between neither uses nor clears the cache', () => {
    const a = new Generator().manualSeed(8);
    const first = randnTensor([1], { generator: a }).data[0];
    const big = randnTensor([20], { generator: a }).data;
    const cached = randnTensor([1], { generator: a }).data[0];
    const b = new Generator().manualSeed(8);
    const pair = randnTensor([2], { generator: b }).data;
    expect(first).toBe(pair[0]);
    expect(cached).toBe(pair[1]);
    // The big draw started right after the two 64-bit uniforms of the pair, i.e. after 4 words.
    const c = new Generator().manualSeed(8);
    for (let i = 0; i < 4; i++) c.nextUint32();
    expect(randnTensor([20], { generator: c }).data).toEqual(big);
  });

  it('an odd-sized small draw leaves its last partner cached for the next call', () => {
    const a = new Generator().manualSeed(11);
    const three = randnTensor([3], { generator: a }).data;
    const one = randnTensor([1], { generator: a }).data;
    const four = randnTensor([4], { generator: new Generator().manualSeed(11) }).data;
    expect(Float32Array.from([...three, ...one])).toEqual(four);
  });

  it('a zero-element draw consumes nothing', () => {
    const a = new Generator().manualSeed(13);
    expect(randnTensor([0, 4], { generator: a }).data.length).toBe(0);
    expect(randnTensor([5], { generator: a }).data).toEqual(
      randnTensor([5], { generator: new Generator().manualSeed(13) }).data,
    );
  });
});

/**
 * A plain transcription of torch's normal_fill / normal_fill_16_AVX2 with Math.log / Math.cos /
 * Math.sin and float32 rounding at each step, fed by a second generator's raw words: the oracle for
 * the library's fused, table-driven kernel.
 */
function referenceRandn(words: Generator, n: number): Float32Array {
  const f = Math.fround;
  const twoPi = f(2 * Math.PI);
  const uniform = () => (words.nextUint32() & 0xffffff) / 2 ** 24;
  const block = (d: Float32Array, j: number) => {
    for (let k = j; k < j + 8; k++) {
      const u1 = f(1 - d[k]);
      const u2 = d[k + 8];
      const radius = f(Math.sqrt(f(-2 * f(Math.log(u1)))));
      const theta = f(twoPi * u2);
      d[k] = f(radius * f(Math.cos(theta)));
      d[k + 8] = f(radius * f(Math.sin(theta)));
    }
  };
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = uniform();
  for (let j = 0; j + 16 <= n; j += 16) block(d, j);
  if (n % 16 !== 0) {
    for (let i = n - 16; i < n; i++) d[i] = uniform();
    block(d, n - 16);
  }
  return d;
}

describe('the tables behind the 16-wide kernel', () => {
  it('untemper inverts the engine output (the state words the next test builds are right)', () => {
    const want = Array.from({ length: 624 }, (_, i) => Math.imul(i + 1, 2654435761) >>> 0);
    const g = new Generator().setState({
      version: 1,
      engine: 'mt19937',
      seed: '0',
      mt: want.map((y) => untemper(y) >>> 0),
      index: 0, // the next draw reads mt[0] (no twist)
      nextNormal: null,
    });
    expect(want.map(() => g.nextUint32())).toEqual(want);
  });

  it('equal Math.log / Math.cos / Math.sin in float32 for every one of the 2^24 uniforms', () => {
    // Word k of a block gives the radius f(sqrt(f(-2 f(log(1 - u))))), word k + 8 the angle
    // theta = f(2pi_f u'), u = (tempered word & (2^24 - 1)) 2^-24, and out = f(radius f(cos theta)),
    // f(radius f(sin theta)). So two sweeps through the kernel itself cover every input pair:
    // every u with angle 0 (cos 1, sin 0: out[k] is the radius), and every u' with the u whose
    // radius is exactly 1 (out is f(cos theta), f(sin theta) themselves).
    const f = Math.fround;
    const radiusOf = (v: number) => f(Math.sqrt(f(-2 * f(Math.log(f(1 - v / 2 ** 24))))));
    const UNIT_RADIUS = 6601321; // 1 - u = 10175895 / 2^24: -2 log of it rounds to a radius of 1
    expect(radiusOf(UNIT_RADIUS)).toBe(1);
    const twoPi = f(2 * Math.PI);
    const words = new Int32Array(16);
    const out = new Float32Array(16);
    let radiusMismatches = 0;
    let angleMismatches = 0;
    for (let v = 0; v < 2 ** 24; v += 8) {
      for (let k = 0; k < 8; k++) {
        words[k] = untemper(v + k);
        words[k + 8] = untemper(0);
      }
      boxMullerBlock(words, 0, out, 0);
      for (let k = 0; k < 8; k++) if (out[k] !== radiusOf(v + k) || out[k + 8] !== 0) radiusMismatches++;
    }
    for (let v = 0; v < 2 ** 24; v += 8) {
      for (let k = 0; k < 8; k++) {
        words[k] = untemper(UNIT_RADIUS);
        words[k + 8] = untemper(v + k);
      }
      boxMullerBlock(words, 0, out, 0);
      for (let k = 0; k < 8; k++) {
        const theta = f(twoPi * ((v + k) / 2 ** 24));
        if (out[k] !== f(Math.cos(theta)) || out[k + 8] !== f(Math.sin(theta))) angleMismatches++;
      }
    }
    expect({ radiusMismatches, angleMismatches }).toEqual({ radiusMismatches: 0, angleMismatches: 0 });
  });
});

describe('large tensors (normal_fill, 16-wide Box-Muller)', () => {
  it('equals a plain Math.log / Math.cos / Math.sin transcription of the torch kernel, value for value', () => {
    let compared = 0;
    let mismatches = 0;
    for (let s = 0; s < 24; s++) {
      const seed = (BigInt(s) * 0x9e3779b97f4a7c15n) % 2n ** 64n;
      const g = new Generator().manualSeed(seed);
      const words = new Generator().manualSeed(seed);
      // Odd starting offsets put blocks of 16 across the 624-word twist; tails exercise the redraw.
      for (let k = 0; k < s % 5; k++) {
        g.nextUint32();
        words.nextUint32();
      }
      for (const n of [16, 17, 31, 48, 100, 625, 1000, 16384, 20001]) {
        const got = new Float32Array(n);
        g.fillRandn(got);
        const want = referenceRandn(words, n);
        // Object.is: bit-identical values (NaN would fail too).
        for (let i = 0; i < n; i++) if (!Object.is(got[i], want[i])) mismatches++;
        compared += n;
      }
    }
    expect(compared).toBe(917_328);
    expect(mismatches).toBe(0);
  });

  it('a size that is not a multiple of 16 recomputes the last 16 from fresh uniforms', () => {
    // n = 20: 20 uniforms, block [0, 16) transformed, then 16 fresh uniforms into [4, 20).
    const g = new Generator().manualSeed(21);
    const got = randnTensor([20], { generator: g }).data;
    const h = new Generator().manualSeed(21);
    const head = randnTensor([16], { generator: h }).data;
    for (let i = 0; i < 4; i++) h.nextUint32(); // the 4 leftover uniforms of the first pass are lost
    const tail = randnTensor([16], { generator: h }).data;
    expect(got.subarray(0, 4)).toEqual(head.subarray(0, 4));
    expect(got.subarray(4)).toEqual(tail);
    // Both generators consumed 36 words.
    expect(g.nextUint32()).toBe(h.nextUint32());
  });

  it('keeps the stream across the 624-word twist boundary', () => {
    // 1000 elements span two twists; the draw after must continue from word 1000 + 16 (tail redraw).
    const g = new Generator().manualSeed(31);
    randnTensor([1000], { generator: g });
    const h = new Generator().manualSeed(31);
    for (let i = 0; i < 1016; i++) h.nextUint32();
    expect(g.nextUint32()).toBe(h.nextUint32());
  });

  it('is float32 with a standard normal spread', () => {
    const t = randnTensor([4, 64, 64], { generator: new Generator().manualSeed(0) });
    let sum = 0;
    let sq = 0;
    for (const v of t.data) {
      sum += v;
      sq += v * v;
    }
    const mean = sum / t.data.length;
    const variance = sq / t.data.length - mean * mean;
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(variance - 1)).toBeLessThan(0.03);
  });

  it('fillRandn without a length fills from offset to the end', () => {
    const out = new Float32Array(20).fill(7);
    new Generator().manualSeed(4).fillRandn(out, 3);
    expect(out.subarray(0, 3)).toEqual(new Float32Array(3).fill(7));
    expect(out.subarray(3)).toEqual(randnTensor([17], { generator: new Generator().manualSeed(4) }).data);
  });

  it('fillRandn writes only its window of out', () => {
    const out = new Float32Array(40).fill(7);
    new Generator().manualSeed(4).fillRandn(out, 5, 30);
    expect(out.subarray(0, 5)).toEqual(new Float32Array(5).fill(7));
    expect(out.subarray(35)).toEqual(new Float32Array(5).fill(7));
    expect(out.subarray(5, 35)).toEqual(randnTensor([30], { generator: new Generator().manualSeed(4) }).data);
  });

  it('fillRandn checks its arguments', () => {
    const g = new Generator();
    expect(() => g.fillRandn(new Float64Array(4) as never)).toThrow(ShapeError);
    expect(() => g.fillRandn(new Float32Array(4), -1)).toThrow(ArgumentError);
    expect(() => g.fillRandn(new Float32Array(4), 0.5)).toThrow(ArgumentError);
    expect(() => g.fillRandn(new Float32Array(4), 0, 1.5)).toThrow(ArgumentError);
    expect(() => g.fillRandn(new Float32Array(4), 2, 3)).toThrow(ShapeError);
    expect(() => g.fillRandn(new Float32Array(4), 5)).toThrow(ShapeError);
    expect(() => g.fillRandn(null as never)).toThrow(ShapeError);
    expect(g.getState()).toEqual(new Generator().getState());
  });
});

describe('generator lists (diffusers randn_tensor)', () => {
  it('one generator per batch element draws its own slice', () => {
    const seeds = [5, 6, 7];
    const t = randnTensor([3, 2, 5], { generator: seeds.map((s) => new Generator().manualSeed(s)) });
    seeds.forEach((s, i) => {
      const slice = randnTensor([1, 2, 5], { generator: new Generator().manualSeed(s) }).data;
      expect(t.data.subarray(i * 10, (i + 1) * 10)).toEqual(slice);
    });
  });

  it('a list of length 1 is that single generator for the whole tensor', () => {
    const a = randnTensor([3, 2, 5], { generator: [new Generator().manualSeed(9)] }).data;
    const b = randnTensor([3, 2, 5], { generator: new Generator().manualSeed(9) }).data;
    expect(a).toEqual(b);
    // ... which differs from three generators with that seed (the slices would repeat).
    const seeds = [9, 9, 9].map((s) => new Generator().manualSeed(s));
    expect(randnTensor([3, 2, 5], { generator: seeds }).data).not.toEqual(a);
  });

  it('a list whose length differs from the batch throws ArgumentError naming both, drawing nothing', () => {
    const gens = [new Generator().manualSeed(1), new Generator().manualSeed(2)];
    const before = gens.map((g) => g.getState());
    expect(() => randnTensor([3, 4], { generator: gens })).toThrow(ArgumentError);
    expect(() => randnTensor([3, 4], { generator: gens })).toThrow(/2 generators.*batch size.*3/);
    expect(() => randnInto(new Float32Array(4), [4], gens)).toThrow(ArgumentError);
    expect(() => randnTensor([3], { generator: [] })).toThrow(ArgumentError);
    expect(() => randnTensor([], { generator: gens })).toThrow(ArgumentError);
    expect(gens.map((g) => g.getState())).toEqual(before);
  });

  it('a list holding something else throws ArgumentError before any generator draws', () => {
    const g = new Generator().manualSeed(1);
    const before = g.getState();
    expect(() => randnTensor([2, 4], { generator: [g, {} as never] })).toThrow(ArgumentError);
    expect(() => randnTensor([2, 4], { generator: 5 as never })).toThrow(ArgumentError);
    expect(g.getState()).toEqual(before);
  });

  it('randnInto checks its output and shape', () => {
    expect(() => randnInto(new Float32Array(5), [2, 3], new Generator())).toThrow(ShapeError);
    expect(() => randnInto(new Int16Array(6) as never, [2, 3], new Generator())).toThrow(ShapeError);
    expect(() => randnInto(new Float64Array(5), [2, 3], new Generator())).toThrow(ShapeError);
    expect(() => randnInto(new Uint16Array(7), [2, 3], new Generator())).toThrow(ShapeError);
    expect(() => randnTensor([2, -1])).toThrow(ShapeError);
    expect(() => randnTensor([2.5])).toThrow(ShapeError);
  });
});

describe('getState / setState', () => {
  /** A generator part-way through a block, with a cached normal pending. */
  function busyGenerator(): Generator {
    const g = new Generator().manualSeed('12345678901234567890');
    randnTensor([700], { generator: g }); // crosses a twist
    randnTensor([3], { generator: g }); // leaves a cached normal
    return g;
  }

  it('round-trips through JSON and resumes identically, including a pending cached normal', () => {
    const g = busyGenerator();
    const state = g.getState();
    expect(state.nextNormal).not.toBeNull();
    const restored = new Generator().setState(JSON.parse(JSON.stringify(state)) as GeneratorState);
    expect(restored.initialSeed()).toBe(12345678901234567890n);
    expect(restored.getState()).toEqual(state);
    for (const shape of [[1], [5], [37], [2, 4, 8, 8], [1]]) {
      expect(randnTensor(shape, { generator: restored }).data).toEqual(
        randnTensor(shape, { generator: g }).data,
      );
    }
    expect(restored.nextUint32()).toBe(g.nextUint32());
  });

  it('round-trips the freshly seeded state (twist pending)', () => {
    const g = new Generator().manualSeed(42);
    const state = g.getState();
    expect(state.index).toBe(624);
    expect(state.nextNormal).toBeNull();
    const r = new Generator().setState(JSON.parse(JSON.stringify(state)));
    expect(randnTensor([1, 4, 8, 8], { generator: r }).data).toEqual(
      randnTensor([1, 4, 8, 8], { generator: g }).data,
    );
  });

  it('is plain JSON data holding copies, not views of the generator', () => {
    const g = new Generator().manualSeed(1);
    const state = g.getState();
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    expect(Array.isArray(state.mt)).toBe(true);
    state.mt[0] = 0;
    expect(g.getState().mt[0]).not.toBe(0);
  });

  const corruptions: [string, (s: Record<string, unknown>) => unknown][] = [
    ['not an object', () => 'state'],
    ['null', () => null],
    ['an array', (s) => [s]],
    ['missing version', ({ version: _, ...rest }) => rest],
    ['wrong version', (s) => ({ ...s, version: 2 })],
    ['wrong engine', (s) => ({ ...s, engine: 'philox' })],
    ['missing seed', ({ seed: _, ...rest }) => rest],
    ['seed as a number', (s) => ({ ...s, seed: 5 })],
    ['negative seed', (s) => ({ ...s, seed: '-1' })],
    ['seed above 2^64 - 1', (s) => ({ ...s, seed: '18446744073709551616' })],
    ['missing mt', ({ mt: _, ...rest }) => rest],
    ['mt too short', (s) => ({ ...s, mt: (s.mt as number[]).slice(1) })],
    ['mt too long', (s) => ({ ...s, mt: [...(s.mt as number[]), 1] })],
    ['mt with a fraction', (s) => ({ ...s, mt: (s.mt as number[]).map((w, i) => (i === 9 ? w + 0.5 : w)) })],
    ['mt with a negative word', (s) => ({ ...s, mt: (s.mt as number[]).map((w, i) => (i === 3 ? -1 : w)) })],
    [
      'mt with a word >= 2^32',
      (s) => ({ ...s, mt: (s.mt as number[]).map((w, i) => (i === 600 ? 2 ** 32 : w)) }),
    ],
    [
      'mt with a string word',
      (s) => ({ ...s, mt: (s.mt as number[]).map((w, i) => (i === 0 ? String(w) : w)) }),
    ],
    ['mt all zero', (s) => ({ ...s, mt: new Array(624).fill(0) })],
    ['mt as a typed array', (s) => ({ ...s, mt: Uint32Array.from(s.mt as number[]) })],
    ['missing index', ({ index: _, ...rest }) => rest],
    ['index 625', (s) => ({ ...s, index: 625 })],
    ['index -1', (s) => ({ ...s, index: -1 })],
    ['index 1.5', (s) => ({ ...s, index: 1.5 })],
    ['missing nextNormal', ({ nextNormal: _, ...rest }) => rest],
    ['nextNormal a string', (s) => ({ ...s, nextNormal: '0.5' })],
    ['nextNormal NaN', (s) => ({ ...s, nextNormal: Number.NaN })],
  ];

  it.each(corruptions)(
    'rejects a corrupted state (%s) with ArgumentError and changes nothing',
    (_name, corrupt) => {
      const source = busyGenerator().getState();
      const bad = corrupt(JSON.parse(JSON.stringify(source)) as Record<string, unknown>);
      const g = new Generator().manualSeed(3);
      randnTensor([5], { generator: g });
      const before = g.getState();
      expect(() => g.setState(bad as GeneratorState)).toThrow(ArgumentError);
      expect(g.getState()).toEqual(before);
    },
  );

  it('accepts every corruption test base state unmodified (so the rejections above are about the change)', () => {
    const source = JSON.parse(JSON.stringify(busyGenerator().getState())) as GeneratorState;
    expect(() => new Generator().setState(source)).not.toThrow();
  });
});
