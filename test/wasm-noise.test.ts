/**
 * The WebAssembly noise kernels (src/noise/randn-wasm.ts, behind Generator's fills) against the JS
 * path (src/noise/box-muller.ts, the reference): the same values bit for bit and the generator
 * left in the same state, for every dtype, on random seeds, sizes (below 16, non-multiples of 16,
 * across the 624-word twist, across the staging chunks) and offsets, into ordinary arrays and into
 * an arena's; and the float32 and float16 block kernels on every input they can see. Each side is
 * drawn with its backend set explicitly, whatever the suite's project chose.
 */
import { describe, expect, it } from 'vitest';
import { Generator, type GeneratorState } from '../src/noise/generator.js';
import type { DType, TensorData } from '../src/tensor/dtype.js';
import { allocateIn } from '../src/tensor/kernel-memory.js';
import { activeKernels, newArena } from '../src/wasm/backend.js';
import { instanceHolding, type KernelInstance } from '../src/wasm/instance.js';
import { onJs, onWasm } from './helpers/backend.js';
import { untemper } from './helpers/mt19937.js';
import { seededRandom } from './helpers/rng.js';

const k = onWasm(() => activeKernels()) as KernelInstance;

type NoiseArray = TensorData;

/** The wasm path's draw of the same call (Generator's fill with the WebAssembly backend in effect). */
function fillRandnWasm(g: Generator, out: NoiseArray, dtype: DType, offset: number, length: number): void {
  onWasm(() => drawWith(g, out, dtype, offset, length));
}

const DTYPES: readonly DType[] = ['float32', 'float16', 'float64'];

function array(dtype: DType, n: number): NoiseArray {
  return dtype === 'float32'
    ? new Float32Array(n)
    : dtype === 'float64'
      ? new Float64Array(n)
      : new Uint16Array(n);
}

/** The JS path's draw (the reference). */
function jsFill(g: Generator, out: NoiseArray, dtype: DType, offset: number, length: number): void {
  onJs(() => drawWith(g, out, dtype, offset, length));
}

function drawWith(g: Generator, out: NoiseArray, dtype: DType, offset: number, length: number): void {
  if (dtype === 'float32') g.fillRandn(out as Float32Array, offset, length);
  else if (dtype === 'float64') g.fillRandnFloat64(out as Float64Array, offset, length);
  else g.fillRandnFloat16(out as Uint16Array, offset, length);
}

/** The bytes of a typed array: equal bytes are equal bits (NaN payloads and -0 included). */
function bytes(a: NoiseArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Index of the first differing element, or -1. */
function firstDifference(a: NoiseArray, b: NoiseArray): number {
  const x = bytes(a);
  const y = bytes(b);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return Math.floor(i / a.BYTES_PER_ELEMENT);
  return x.length === y.length ? -1 : x.length;
}

const SIZES = [
  0, 1, 2, 15, 16, 17, 31, 32, 33, 47, 100, 623, 624, 625, 640, 1000, 1248, 16368, 16383, 16384, 16385, 16400,
  40000,
];

describe('the wasm kernels are there', () => {
  it('on this engine (Node 20 has WebAssembly SIMD)', () => {
    expect(k).not.toBeNull();
  });
});

describe('the wasm path draws the JS path’s values bit for bit', () => {
  for (const dtype of DTYPES) {
    it(`${dtype}: every size in a list of edge cases, from misaligned engine positions`, () => {
      const rng = seededRandom(17);
      for (const n of SIZES) {
        const seed = Math.floor(rng.uniform() * 2 ** 40);
        const skip = Math.floor(rng.uniform() * 700); // words used before: blocks straddle the twist
        const a = new Generator().manualSeed(seed);
        const b = new Generator().manualSeed(seed);
        for (let i = 0; i < skip; i++) {
          a.nextUint32();
          b.nextUint32();
        }
        const offset = Math.floor(rng.uniform() * 5);
        const want = array(dtype, n + offset + 3);
        const got = array(dtype, n + offset + 3);
        jsFill(a, want, dtype, offset, n);
        fillRandnWasm(b, got, dtype, offset, n);
        expect(firstDifference(got, want), `n ${n}, skip ${skip}, offset ${offset}`).toBe(-1);
        expect(b.getState()).toEqual(a.getState());
        if (n >= 16) {
          // The kernel drew it: the engine state it hands back is still in the instance's memory.
          const { words, index } = stateSlots();
          const v = k.view().i32;
          expect(Array.from(v.subarray(words, words + 624), (w) => w >>> 0)).toEqual(b.getState().mt);
          expect(v[index]).toBe(b.getState().index);
        }
      }
    });

    it(`${dtype}: random seeds, sizes and offsets`, () => {
      const rng = seededRandom(dtype.length * 1000 + 3);
      for (let trial = 0; trial < 60; trial++) {
        const seed =
          BigInt(Math.floor(rng.uniform() * 2 ** 32)) * BigInt(Math.floor(rng.uniform() * 2 ** 32));
        const n = Math.floor(rng.uniform() ** 2 * 5000);
        const offset = Math.floor(rng.uniform() * 40);
        const a = new Generator().manualSeed(seed);
        const b = new Generator().manualSeed(seed);
        const skip = Math.floor(rng.uniform() * 1300);
        for (let i = 0; i < skip; i++) {
          a.nextUint32();
          b.nextUint32();
        }
        const want = array(dtype, offset + n);
        const got = array(dtype, offset + n);
        jsFill(a, want, dtype, offset, n);
        fillRandnWasm(b, got, dtype, offset, n);
        expect(firstDifference(got, want), `seed ${seed}, n ${n}, offset ${offset}`).toBe(-1);
        expect(b.getState()).toEqual(a.getState());
      }
    });

    it(`${dtype}: into an array that lives in the kernel memory (no copies)`, () => {
      const n = 5000;
      const a = new Generator().manualSeed(99);
      const b = new Generator().manualSeed(99);
      const want = array(dtype, n);
      jsFill(a, want, dtype, 0, n);
      const arena = newArena(8 * (n + 16), 0) as KernelInstance;
      const got = allocateIn(arena, dtype, n + 16) as NoiseArray;
      expect(instanceHolding(got)).toBe(arena);
      fillRandnWasm(b, got, dtype, 16, n - 16);
      const want2 = array(dtype, n + 16);
      const a2 = new Generator().manualSeed(99);
      jsFill(a2, want2, dtype, 16, n - 16);
      expect(firstDifference(got, want2)).toBe(-1);
      expect(b.getState()).toEqual(a2.getState());
    });
  }
});

describe('one generator through both paths', () => {
  it('continues the same stream whichever path draws, across dtypes, and across getState / setState', () => {
    const rng = seededRandom(4242);
    const a = new Generator().manualSeed(2024); // JS only
    const b = new Generator().manualSeed(2024); // either path, chosen at random
    for (let step = 0; step < 80; step++) {
      const dtype = DTYPES[Math.floor(rng.uniform() * 3)];
      const n = Math.floor(rng.uniform() ** 3 * 3000);
      const want = array(dtype, n);
      const got = array(dtype, n);
      jsFill(a, want, dtype, 0, n);
      if (rng.uniform() < 0.5) fillRandnWasm(b, got, dtype, 0, n);
      else jsFill(b, got, dtype, 0, n);
      expect(firstDifference(got, want), `step ${step}: ${dtype} x ${n}`).toBe(-1);
      if (step % 10 === 9) {
        // Through JSON and into a fresh generator, which the wasm path then continues.
        const c = new Generator().setState(JSON.parse(JSON.stringify(b.getState())));
        const x = array(dtype, 777);
        const y = array(dtype, 777);
        fillRandnWasm(c, x, dtype, 0, 777);
        jsFill(new Generator().setState(a.getState()), y, dtype, 0, 777);
        expect(firstDifference(x, y)).toBe(-1);
      }
    }
    // The cached second normal of the small-tensor path survives a wasm draw in between.
    const small = new Float32Array(1);
    const smallWant = new Float32Array(1);
    jsFill(a, smallWant, 'float32', 0, 1);
    fillRandnWasm(b, small, 'float32', 0, 1);
    const big = new Float32Array(100);
    const bigWant = new Float32Array(100);
    jsFill(a, bigWant, 'float32', 0, 100);
    fillRandnWasm(b, big, 'float32', 0, 100);
    jsFill(a, smallWant, 'float32', 0, 1);
    fillRandnWasm(b, small, 'float32', 0, 1);
    expect(firstDifference(big, bigWant)).toBe(-1);
    expect(small[0]).toBe(smallWant[0]);
    expect(b.getState()).toEqual(a.getState());
  });
});

/** A generator state whose next draw reads `raw` from its first word, without a twist. */
function stateAt(raw: Int32Array): GeneratorState {
  return {
    version: 1,
    engine: 'mt19937',
    seed: '0',
    mt: Array.from(raw, (w) => w >>> 0),
    index: 0,
    nextNormal: null,
  };
}

/** The kernel's view of the engine state: the words it reads and its index. */
function stateSlots(): { words: number; index: number; out: number } {
  return {
    words: (k.exports.MT_STATE.value as number) >> 2,
    index: (k.exports.MT_INDEX.value as number) >> 2,
    out: k.slot(0),
  };
}

describe('the block kernels on every input', () => {
  it('float32: every one of the 2^24 values of each uniform gives the JS kernel’s value', () => {
    // 624 state words are 39 blocks: words 0..7 of a block feed the radius, 8..15 the angle.
    // Block q takes radius inputs 8q..8q+7 and angle inputs 8q..8q+7, so 2^21 blocks cover both.
    // A float32 draw on the shared instance first: its tables are filled on the first one.
    fillRandnWasm(new Generator(), new Float32Array(16), 'float32', 0, 16);
    const { words, index, out } = stateSlots();
    const raw = new Int32Array(624);
    const blocks = 2 ** 21;
    let mismatches = 0;
    let first = -1;
    const reference = new Generator();
    const want = new Float32Array(624);
    for (let q0 = 0; q0 < blocks; q0 += 39) {
      const count = Math.min(39, blocks - q0);
      for (let q = 0; q < count; q++) {
        for (let j = 0; j < 8; j++) {
          const v = (q0 + q) * 8 + j;
          raw[16 * q + j] = untemper(v);
          raw[16 * q + 8 + j] = untemper(v);
        }
      }
      reference.setState(stateAt(raw));
      jsFill(reference, want, 'float32', 0, count * 16);
      const v = k.view();
      v.i32.set(raw, words);
      v.i32[index] = 0;
      k.exports.randnF32(out, count * 16);
      const got = k.view().f32.subarray(out >> 2, (out >> 2) + count * 16);
      for (let i = 0; i < count * 16; i++) {
        if (!Object.is(got[i], want[i])) {
          mismatches++;
          if (first < 0) first = q0 * 16 + i;
        }
      }
    }
    expect({ mismatches, first }).toEqual({ mismatches: 0, first: -1 });
  });

  it('float16: every pair of the 2048 radius and 2048 angle inputs gives the JS kernel’s bits', () => {
    // A float16 draw on the shared instance first: its tables are filled on the first one.
    fillRandnWasm(new Generator(), new Uint16Array(16), 'float16', 0, 16);
    const { words, index, out } = stateSlots();
    const raw = new Int32Array(624);
    const pairs = 2048 * 2048;
    const blocks = pairs / 8;
    let mismatches = 0;
    const reference = new Generator();
    const want = new Uint16Array(624);
    for (let q0 = 0; q0 < blocks; q0 += 39) {
      const count = Math.min(39, blocks - q0);
      for (let q = 0; q < count; q++) {
        for (let j = 0; j < 8; j++) {
          const p = (q0 + q) * 8 + j;
          // High bits random-looking, so the low 11 are what matters.
          raw[16 * q + j] = untemper(((p >>> 11) | (Math.imul(p, 2654435761) & ~2047)) >>> 0);
          raw[16 * q + 8 + j] = untemper(((p & 2047) | (Math.imul(p, 40503) << 11)) >>> 0);
        }
      }
      reference.setState(stateAt(raw));
      jsFill(reference, want, 'float16', 0, count * 16);
      const v = k.view();
      v.i32.set(raw, words);
      v.i32[index] = 0;
      k.exports.randnF16(out, count * 16);
      const got = k.view().u16.subarray(out >> 1, (out >> 1) + count * 16);
      for (let i = 0; i < count * 16; i++) if (got[i] !== want[i]) mismatches++;
    }
    expect(mismatches).toBe(0);
  });
});
