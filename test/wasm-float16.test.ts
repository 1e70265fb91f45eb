/**
 * float16 conversion on the WebAssembly kernels (src/tensor/convert-wasm.ts, behind convertInto)
 * against the JS path (float16Table and numberToFloat16 of src/tensor/dtype.ts): identical bits on
 * all 65536 float16 patterns, and on float32 and float64 values chosen where rounding is hard
 * (every tie, each tie's neighbours, the subnormal range, the overflow threshold, Inf, NaN of
 * either sign and any payload) plus random bit patterns; any length and offsets, through the
 * staging slots and in place in an arena.
 */
import { describe, expect, it } from 'vitest';
import { convertHalfWasm } from '../src/tensor/convert-wasm.js';
import {
  convertInto,
  type DType,
  float16Table,
  numberToFloat16,
  type TensorData,
} from '../src/tensor/dtype.js';
import { allocateIn } from '../src/tensor/kernel-memory.js';
import { kernelsFor, newArena } from '../src/wasm/backend.js';
import type { KernelInstance } from '../src/wasm/instance.js';
import { onJs, onWasm } from './helpers/backend.js';
import { seededRandom } from './helpers/rng.js';

/**
 * The kernels' conversion, called directly (so that nothing can quietly route around them); the
 * conversions without float16 are convertInto's own.
 */
function convertIntoWasm(
  src: TensorData,
  srcType: DType,
  dst: TensorData,
  dstType: DType,
  from = 0,
  to = src.length,
  at = 0,
): void {
  if (srcType !== 'float16' && dstType !== 'float16') convertInto(src, srcType, dst, dstType, from, to, at);
  else
    convertHalfWasm(
      onWasm(() => kernelsFor(dst)) as KernelInstance,
      src,
      srcType,
      dst,
      dstType,
      from,
      to,
      at,
    );
}

function bitsEqual(a: TensorData, b: TensorData): number {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return Math.floor(i / a.BYTES_PER_ELEMENT);
  return -1;
}

/** The JS path's conversion (what src/onnxruntime.ts's convertInto writes). */
function jsEncode(src: Float32Array | Float64Array): Uint16Array {
  return Uint16Array.from(src, numberToFloat16);
}

const ALL_HALVES = Uint16Array.from({ length: 65536 }, (_, i) => i);

/** float32 values around every float16: each half, the midpoints to its neighbours, and their float32 neighbours. */
function hardFloat32(): Float32Array {
  const table = float16Table();
  const values: number[] = [];
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  const around = (x: number) => {
    f32[0] = x;
    const b = u32[0];
    for (const d of [-2, -1, 0, 1, 2]) {
      u32[0] = (b + d) >>> 0;
      values.push(f32[0]);
    }
  };
  for (let h = 0; h < 0x7c00; h++) {
    const v = table[h];
    const next = h + 1 < 0x7c00 ? table[h + 1] : 65536;
    around(v);
    around((v + next) / 2);
    around(-v);
    around(-(v + next) / 2);
  }
  for (const x of [
    65504,
    65519,
    65519.99,
    65520,
    65520.01,
    65536,
    1e10,
    3.4e38,
    2 ** -24,
    2 ** -25,
    2 ** -26,
  ]) {
    around(x);
    around(-x);
  }
  values.push(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -0);
  const out = Float32Array.from(values);
  // NaNs of both signs and several payloads (quiet and signalling patterns).
  const nan = new Uint32Array([
    0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fbfffff, 0x7fe12345, 0xffffffff,
  ]);
  const withNaN = new Float32Array(out.length + nan.length);
  withNaN.set(out);
  new Uint32Array(withNaN.buffer).set(nan, out.length);
  return withNaN;
}

describe('float16 -> float32 / float64', () => {
  it('decodes all 65536 patterns to float16Table’s bits (NaN as 0x7fc00000)', () => {
    const got = new Float32Array(65536);
    convertIntoWasm(ALL_HALVES, 'float16', got, 'float32');
    expect(bitsEqual(got, float16Table())).toBe(-1);
    const wide = new Float64Array(65536);
    convertIntoWasm(ALL_HALVES, 'float16', wide, 'float64');
    expect(bitsEqual(wide, Float64Array.from(float16Table()))).toBe(-1);
  });
});

describe('float32 -> float16', () => {
  it('rounds every half, every midpoint and their float32 neighbours as numberToFloat16', () => {
    const src = hardFloat32();
    const got = new Uint16Array(src.length);
    convertIntoWasm(src, 'float32', got, 'float16');
    expect(bitsEqual(got, jsEncode(src))).toBe(-1);
  });

  it('rounds 2^21 random bit patterns as numberToFloat16, and every 4099th float32', () => {
    const rng = seededRandom(5);
    const bits = Uint32Array.from({ length: 2 ** 21 }, () => Math.floor(rng.uniform() * 2 ** 32));
    const src = new Float32Array(bits.buffer);
    const got = new Uint16Array(src.length);
    convertIntoWasm(src, 'float32', got, 'float16');
    expect(bitsEqual(got, jsEncode(src))).toBe(-1);
    const stride = Uint32Array.from({ length: Math.floor(2 ** 32 / 4099) }, (_, i) => i * 4099);
    const strideSrc = new Float32Array(stride.buffer);
    const strideGot = new Uint16Array(strideSrc.length);
    convertIntoWasm(strideSrc, 'float32', strideGot, 'float16');
    expect(bitsEqual(strideGot, jsEncode(strideSrc))).toBe(-1);
  });
});

describe('float64 -> float16 (rounded once)', () => {
  it('rounds the float32 hard cases, and float64 values just off every midpoint, as numberToFloat16', () => {
    const base = hardFloat32();
    const values: number[] = [];
    for (const v of base) {
      values.push(v);
      // Off the midpoint by far less than a float32 ulp: rounding through float32 would land on the
      // tie and go to even; a single rounding goes to the side the value is on.
      if (Number.isFinite(v) && v !== 0) values.push(v * (1 + 2 ** -40), v * (1 - 2 ** -40));
    }
    values.push(2 ** -25 * (1 + 2 ** -50), 2 ** -25 * (1 - 2 ** -50), 65520 * (1 - 2 ** -52), 1e300, -1e-300);
    const src = Float64Array.from(values);
    // A NaN with the sign bit set and a payload.
    new Uint32Array(src.buffer, 0, 2).set([0x12345678, 0xfff80001]);
    const got = new Uint16Array(src.length);
    convertIntoWasm(src, 'float64', got, 'float16');
    expect(bitsEqual(got, jsEncode(src))).toBe(-1);
  });

  it('rounds 2^20 random doubles (random bit patterns, and values in the half range) as numberToFloat16', () => {
    const rng = seededRandom(6);
    const src = new Float64Array(2 ** 20);
    const u32 = new Uint32Array(src.buffer);
    for (let i = 0; i < src.length; i += 2) {
      u32[2 * i] = Math.floor(rng.uniform() * 2 ** 32);
      u32[2 * i + 1] = Math.floor(rng.uniform() * 2 ** 32);
      src[i + 1] = (rng.uniform() - 0.5) * 2 ** (Math.floor(rng.uniform() * 44) - 28);
    }
    const got = new Uint16Array(src.length);
    convertIntoWasm(src, 'float64', got, 'float16');
    expect(bitsEqual(got, jsEncode(src))).toBe(-1);
  });
});

describe('convertInto on the kernels', () => {
  it('converts any length, through the staging chunks or in place in an arena', () => {
    const rng = seededRandom(8);
    for (const n of [0, 1, 7, 8, 9, 16383, 16384, 16385, 50000]) {
      const src = Float32Array.from({ length: n }, () => (rng.uniform() - 0.5) * 1000);
      const half = new Uint16Array(n);
      convertIntoWasm(src, 'float32', half, 'float16');
      expect(bitsEqual(half, jsEncode(src)), `n ${n}`).toBe(-1);
      const back = new Float32Array(n);
      convertIntoWasm(half, 'float16', back, 'float32');
      expect(
        bitsEqual(
          back,
          Float32Array.from(half, (h) => float16Table()[h]),
        ),
        `n ${n}`,
      ).toBe(-1);
      const arena = newArena(2 * n, 0) as KernelInstance;
      const resident = allocateIn(arena, 'float16', n) as Uint16Array;
      convertIntoWasm(src, 'float32', resident, 'float16');
      expect(bitsEqual(resident, half), `n ${n} resident`).toBe(-1);
      const wide = new Float64Array(n);
      convertIntoWasm(resident, 'float16', wide, 'float64');
      expect(bitsEqual(wide, Float64Array.from(back)), `n ${n} to float64`).toBe(-1);
    }
  });

  it('converts a range into an offset, as the JS path (the step’s chunks, the ONNX adapter)', () => {
    const rng = seededRandom(9);
    const cases: [DType, DType][] = [
      ['float32', 'float16'],
      ['float64', 'float16'],
      ['float16', 'float32'],
      ['float16', 'float64'],
    ];
    for (const [srcType, dstType] of cases) {
      for (const [from, to, at] of [
        [0, 40000, 0],
        [3, 17000, 5],
        [16383, 16385 + 100, 1],
        [100, 163, 0], // below convertInto's minimum length for the kernels
      ]) {
        const n = 40000;
        const src: TensorData =
          srcType === 'float16'
            ? Uint16Array.from({ length: n }, () => Math.floor(rng.uniform() * 65536))
            : srcType === 'float32'
              ? Float32Array.from({ length: n }, () => (rng.uniform() - 0.5) * 2 ** (rng.uniform() * 40 - 20))
              : Float64Array.from(
                  { length: n },
                  () => (rng.uniform() - 0.5) * 2 ** (rng.uniform() * 40 - 20),
                );
        const make = (): TensorData =>
          dstType === 'float16'
            ? new Uint16Array(n + 8)
            : dstType === 'float32'
              ? new Float32Array(n + 8)
              : new Float64Array(n + 8);
        const want = make();
        const got = make();
        onJs(() => convertInto(src, srcType, want, dstType, from, to, at));
        convertIntoWasm(src, srcType, got, dstType, from, to, at);
        expect(bitsEqual(got, want), `${srcType} -> ${dstType} [${from}, ${to}) at ${at}`).toBe(-1);
        // And convertInto itself with the WebAssembly backend in effect (the kernels from 64 values on).
        const routed = make();
        onWasm(() => convertInto(src, srcType, routed, dstType, from, to, at));
        expect(bitsEqual(routed, want), `convertInto ${srcType} -> ${dstType}`).toBe(-1);
      }
    }
  });

  it('leaves conversions without float16 to TypedArray.set (rounding to nearest even)', () => {
    const src = Float64Array.of(1 + 2 ** -24, 1 + 3 * 2 ** -24, -0, 1e39);
    const got = new Float32Array(4);
    convertIntoWasm(src, 'float64', got, 'float32');
    expect(Array.from(got)).toEqual([1, 1 + 2 ** -22, -0, Number.POSITIVE_INFINITY]);
  });
});
