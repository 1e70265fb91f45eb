import { describe, expect, it } from 'vitest';
import { float16ToNumber, numberToFloat16, ShapeError, tensor, toFloat64 } from '../src/index.js';
import { sizeOf } from '../src/tensor/tensor.js';

describe('float16', () => {
  it('decoding then encoding returns every non-NaN bit pattern unchanged', () => {
    for (let h = 0; h < 65536; h++) {
      const v = float16ToNumber(h);
      if (Number.isNaN(v)) {
        expect(Number.isNaN(float16ToNumber(numberToFloat16(v)))).toBe(true);
      } else {
        expect(numberToFloat16(v)).toBe(h);
      }
    }
  });
  it('known values and rounding to nearest even', () => {
    expect(float16ToNumber(0x3c00)).toBe(1);
    expect(float16ToNumber(0xc000)).toBe(-2);
    expect(float16ToNumber(0x7bff)).toBe(65504);
    expect(float16ToNumber(0x0001)).toBe(2 ** -24);
    expect(numberToFloat16(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and 1 + 2^-10: even (1)
    expect(numberToFloat16(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway: rounds up to even
    expect(numberToFloat16(65520)).toBe(0x7c00); // rounds to Inf
    expect(numberToFloat16(2 ** -25)).toBe(0); // halfway to the smallest subnormal: even (0)
    expect(numberToFloat16(3 * 2 ** -25)).toBe(2);
    expect(numberToFloat16(-0)).toBe(0x8000);
  });
  it('rounds every float32 between two halves to the nearer one, ties to even (every 97th pattern)', () => {
    // The nearest half by search over the (monotonic) positive half patterns; 65520, halfway
    // between 65504 and the next step 65536, and above round to Inf.
    const nearest = (v: number): number => {
      const a = Math.abs(v);
      let lo = 0;
      let hi = 0x7c00;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (float16ToNumber(mid) <= a) lo = mid;
        else hi = mid;
      }
      const below = float16ToNumber(lo);
      const above = hi === 0x7c00 ? 65536 : float16ToNumber(hi);
      const h = a - below < above - a || (a - below === above - a && (lo & 1) === 0) ? lo : hi;
      return (v < 0 || Object.is(v, -0) ? 0x8000 : 0) | h;
    };
    const f = new Float32Array(1);
    const bits = new Uint32Array(f.buffer);
    for (let x = 0; x < 0x100000000; x += 97 * 0x100 + 1) {
      bits[0] = x;
      const v = f[0];
      if (Number.isNaN(v)) continue;
      const got = numberToFloat16(v);
      if (got !== nearest(v)) expect.fail(`float32 bits ${x.toString(16)} (${v}): got ${got.toString(16)}`);
    }
  });
});

/** Reference rounding of a float64 to float16 bits, once, by exact power-of-two scaling. */
function referenceFloat16(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  const roundEven = (q: number) => {
    let r = Math.floor(q);
    const f = q - r;
    if (f > 0.5 || (f === 0.5 && r % 2 === 1)) r++;
    return r;
  };
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | roundEven(a * 2 ** 24);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  return sign | (((e + 15) << 10) + (roundEven(a * 2 ** (10 - e)) - 1024));
}

describe('float16 rounding from float64 (one rounding, not two)', () => {
  it('rounds once where going through float32 would round twice', () => {
    // 1 + 2^-11 is the tie between 1 and 1 + 2^-10; a hair above it must round up, although in
    // float32 the hair is lost and the tie would go to even (1).
    expect(numberToFloat16(1 + 2 ** -11 + 2 ** -40)).toBe(0x3c01);
    expect(numberToFloat16(1 + 3 * 2 ** -11 - 2 ** -40)).toBe(0x3c01);
    expect(numberToFloat16(-(1 + 2 ** -11 + 2 ** -40))).toBe(0xbc01);
    expect(numberToFloat16(2 ** -25 + 2 ** -60)).toBe(1); // subnormal: above half the smallest
    expect(numberToFloat16(65519.99999999)).toBe(0x7bff); // float32 rounds it to 65520, a tie
  });
  it('agrees with an exact reference on every value, every midpoint and its float64 neighbours', () => {
    const wrong: string[] = [];
    for (let h = 0; h < 0x7bff; h++) {
      const v = float16ToNumber(h);
      const mid = (v + float16ToNumber(h + 1)) / 2;
      for (const x of [v, mid, mid * (1 + 2 ** -40), mid * (1 - 2 ** -40), -mid * (1 + 2 ** -40)]) {
        if (numberToFloat16(x) !== referenceFloat16(x)) wrong.push(`${x}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe('tensors', () => {
  it('tensor() checks dims against data', () => {
    expect(tensor(new Float32Array(6), [2, 3]).type).toBe('float32');
    expect(() => tensor(new Float32Array(5), [2, 3])).toThrow(ShapeError);
    expect(() => tensor(new Uint16Array(6), [2, 3])).toThrow(/float16/);
    expect(tensor(new Uint16Array(6), [2, 3], 'float16').type).toBe('float16');
  });
  it('sizeOf refuses bad dims and sizes past the typed-array limit', () => {
    expect(sizeOf([2, 3, 4])).toBe(24);
    expect(() => sizeOf([2, -1])).toThrow(ShapeError);
    expect(() => sizeOf([2, 1.5])).toThrow(ShapeError);
    expect(() => sizeOf([65536, 65536])).toThrow(ShapeError);
  });
  it('toFloat64 reads float16 data', () => {
    expect(
      Array.from(toFloat64({ data: Uint16Array.of(0x3c00, 0xc000), dims: [2], type: 'float16' })),
    ).toEqual([1, -2]);
  });
});
