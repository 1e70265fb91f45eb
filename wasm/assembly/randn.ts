// torch.randn's normal_fill for 16 or more elements on the mt19937 state in MT_STATE, in the
// three dtypes, bit for bit what src/noise/box-muller.ts (the reference, with the why of every
// rounding) draws: the same engine words, the same operations in the same order, the same tables.
import { encodeHalf4 } from './half';
import { HALF_COSSIN, HALF_RADIUS, LOG_PAIRS, MT_INDEX, MT_STATE, SINCOS_PAIRS } from './layout';
import { N, nextRaw, temper, temper1, twist, wordsIntoScratch } from './mt19937';

// Math.log / Math.cos / Math.sin of the JS engine, for the float64 stream (the JS path calls
// them): importing the engine's own functions is what makes the two paths agree bit for bit on
// every engine. V8 calls them directly, without a trip through JavaScript (--wasm-math-intrinsics).
// @ts-ignore: decorator
@external('math', 'log') declare function jsLog(x: f64): f64;
// @ts-ignore: decorator
@external('math', 'cos') declare function jsCos(x: f64): f64;
// @ts-ignore: decorator
@external('math', 'sin') declare function jsSin(x: f64): f64;

const TWO_PI: f64 = 2 * Math.PI;
/** 2.0f * pi rounded to float, as torch's AVX2 kernel broadcasts it. */
const TWO_PI_F32: f32 = <f32>TWO_PI;
const INV_2_24: f32 = 1.0 / 16777216.0;
const INV_2_53: f64 = 1.0 / 9007199254740992.0;
const LN2: f64 = Math.LN2;
const SINCOS_STEP: f64 = TWO_PI / 1024;
const SINCOS_INV_STEP: f64 = 1024 / TWO_PI;

/** Lanes 2, 3 of an i32x4 / f32x4 moved to lanes 0, 1. */
// @ts-ignore: decorator
@inline function high(v: v128): v128 {
  return i64x2.shuffle(v, v, 1, 1);
}

/** Two f32x4 whose lanes 0, 1 hold results (demoted f64x2) joined into one f32x4. */
// @ts-ignore: decorator
@inline function join(lo: v128, hi: v128): v128 {
  return i64x2.shuffle(lo, hi, 0, 2);
}

/**
 * log(w * 2^-24) for two integers w in [1, 2^24] given as the float32 bits' mantissa m and
 * exponent e - 24: logScaled24 of src/noise/box-muller.ts. There the 23 bits below w's leading one are
 * frac = m << 8, the table point j = (frac + 2^22) >> 23 and t = (frac - j 2^23) LOG_TSCALE[j];
 * here d = m - (j << 15) and t = d * (256 LOG_TSCALE[j]): the same exact integer times the same
 * scale (256 LOG_TSCALE[j] is exact), so the same double.
 */
// @ts-ignore: decorator
@inline function logPair(j0: i32, j1: i32, d: v128, e: v128): v128 {
  const p0 = v128.load(LOG_PAIRS + (<usize>j0 << 4));
  const p1 = v128.load(LOG_PAIRS + (<usize>j1 << 4));
  const table = i64x2.shuffle(p0, p1, 0, 2);
  const scale = i64x2.shuffle(p0, p1, 1, 3);
  const t = f64x2.mul(f64x2.convert_low_i32x4_s(d), scale);
  let s = f64x2.add(f64x2.splat(-0.25), f64x2.mul(t, f64x2.splat(0.2)));
  s = f64x2.add(f64x2.splat(1.0 / 3.0), f64x2.mul(t, s));
  s = f64x2.add(f64x2.splat(-0.5), f64x2.mul(t, s));
  s = f64x2.add(f64x2.splat(1.0), f64x2.mul(t, s));
  const series = f64x2.mul(t, s);
  return f64x2.add(f64x2.add(table, f64x2.mul(f64x2.convert_low_i32x4_s(e), f64x2.splat(LN2))), series);
}

/** float32 radius sqrt(-2 log(1 - u)) of four tempered words (u from their low 24 bits). */
// @ts-ignore: decorator
@inline function radius4(a: v128): v128 {
  // w = 2^24 - (a & (2^24 - 1)) in [1, 2^24] is exact as a float32; its bits give the exponent
  // (clz32 in the JS path) and the bits below the leading one.
  const w = i32x4.sub(i32x4.splat(16777216), v128.and(a, i32x4.splat(0xffffff)));
  const bits = f32x4.convert_i32x4_s(w);
  const e = i32x4.sub(i32x4.shr_u(bits, 23), i32x4.splat(127 + 24));
  const m = v128.and(bits, i32x4.splat(0x7fffff));
  const j = i32x4.shr_u(i32x4.add(m, i32x4.splat(0x4000)), 15);
  const d = i32x4.sub(m, i32x4.shl(j, 15));
  const lo = logPair(i32x4.extract_lane(j, 0), i32x4.extract_lane(j, 1), d, e);
  const hi = logPair(i32x4.extract_lane(j, 2), i32x4.extract_lane(j, 3), high(d), high(e));
  const logf = join(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi));
  // -2 * log is exact; the float32 sqrt is the JS path's double sqrt rounded to float32.
  return f32x4.sqrt(f32x4.mul(logf, f32x4.splat(-2.0)));
}

/**
 * cos and sin, rounded to float32, of the two float32 angles in lanes 0, 1 of `theta`, as
 * [cos0, cos1, sin0, sin1]: the nearest table angle A = k 2pi / 1024 and the short series of
 * x = theta - A (|x| <= pi / 1024), then the angle-sum formulas, as boxMullerBlock computes them.
 */
// @ts-ignore: decorator
@inline function cosSinPair(theta: v128): v128 {
  const th = f64x2.promote_low_f32x4(theta);
  // (theta / step + 0.5) | 0 in [0, 1024]: a truncation, here of the double (one instruction;
  // the integer conversion of wasm saturates and costs four). Adding 2^52 then puts the integer
  // in the low 32 bits of each lane, for the table addresses.
  const idx = f64x2.trunc(f64x2.add(f64x2.mul(th, f64x2.splat(SINCOS_INV_STEP)), f64x2.splat(0.5)));
  const x = f64x2.sub(th, f64x2.mul(idx, f64x2.splat(SINCOS_STEP)));
  const bits = f64x2.add(idx, f64x2.splat(4503599627370496.0));
  const p0 = v128.load(SINCOS_PAIRS + (<usize>i32x4.extract_lane(bits, 0) << 4));
  const p1 = v128.load(SINCOS_PAIRS + (<usize>i32x4.extract_lane(bits, 2) << 4));
  const sinA = i64x2.shuffle(p0, p1, 0, 2);
  const cosA = i64x2.shuffle(p0, p1, 1, 3);
  const x2 = f64x2.mul(x, x);
  const sinX = f64x2.sub(
    x,
    f64x2.mul(f64x2.mul(x, x2), f64x2.sub(f64x2.splat(1.0 / 6.0), f64x2.mul(x2, f64x2.splat(1.0 / 120.0)))),
  );
  const cosX = f64x2.sub(
    f64x2.splat(1.0),
    f64x2.mul(x2, f64x2.sub(f64x2.splat(0.5), f64x2.mul(x2, f64x2.splat(1.0 / 24.0)))),
  );
  const cos = f32x4.demote_f64x2_zero(f64x2.sub(f64x2.mul(cosA, cosX), f64x2.mul(sinA, sinX)));
  const sin = f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(sinA, cosX), f64x2.mul(cosA, sinX)));
  return i64x2.shuffle(cos, sin, 0, 2);
}

/**
 * Four of the 8 pairs of a float32 block: words a (u1) and b (u2), tempered; writes r cos(theta)
 * at out[0..4) and r sin(theta) at out[8..12).
 */
// @ts-ignore: decorator
@inline function quadF32(a: v128, b: v128, out: usize): void {
  const r = radius4(a);
  const u = f32x4.mul(f32x4.convert_i32x4_s(v128.and(b, i32x4.splat(0xffffff))), f32x4.splat(INV_2_24));
  const theta = f32x4.mul(f32x4.splat(TWO_PI_F32), u);
  const lo = cosSinPair(theta);
  const hi = cosSinPair(high(theta));
  v128.store(out, f32x4.mul(r, i64x2.shuffle(lo, hi, 0, 2)));
  v128.store(out, f32x4.mul(r, i64x2.shuffle(lo, hi, 1, 3)), 32);
}

/**
 * normal_fill_16_AVX2 (boxMullerBlock of src/noise/box-muller.ts) on `count` consecutive blocks of 16 raw
 * words at src, into 16 * count float32 at out. (Splitting this into a pass of radii and a pass
 * of angles, to shorten the dependency chains, measured 5% slower: the loop is bound by its
 * instruction count, about 480 per block, mostly the float64 arithmetic of the JS path.)
 */
function blocksF32(src: usize, out: usize, count: i32): void {
  for (let k: i32 = 0; k < count; k++) {
    const s = src + (<usize>k << 6);
    const o = out + (<usize>k << 6);
    quadF32(temper(v128.load(s)), temper(v128.load(s, 32)), o);
    quadF32(temper(v128.load(s, 16)), temper(v128.load(s, 48)), o + 16);
  }
}

/**
 * Four pairs of a float16 block (halfBoxMullerBlock), from the tables of the 2048 values each
 * factor can take: the float16 bits of r cos(theta) and r sin(theta) as [c0..c3, s0..s3].
 */
// @ts-ignore: decorator
@inline function quadF16(a: v128, b: v128): v128 {
  const ra = v128.and(a, i32x4.splat(2047));
  const jb = v128.and(b, i32x4.splat(2047));
  let r = v128.load32_zero(HALF_RADIUS + (<usize>i32x4.extract_lane(ra, 0) << 2));
  r = v128.load32_lane(HALF_RADIUS + (<usize>i32x4.extract_lane(ra, 1) << 2), r, 1);
  r = v128.load32_lane(HALF_RADIUS + (<usize>i32x4.extract_lane(ra, 2) << 2), r, 2);
  r = v128.load32_lane(HALF_RADIUS + (<usize>i32x4.extract_lane(ra, 3) << 2), r, 3);
  let cs01 = v128.load64_zero(HALF_COSSIN + (<usize>i32x4.extract_lane(jb, 0) << 3));
  cs01 = v128.load64_lane(HALF_COSSIN + (<usize>i32x4.extract_lane(jb, 1) << 3), cs01, 1);
  let cs23 = v128.load64_zero(HALF_COSSIN + (<usize>i32x4.extract_lane(jb, 2) << 3));
  cs23 = v128.load64_lane(HALF_COSSIN + (<usize>i32x4.extract_lane(jb, 3) << 3), cs23, 1);
  const cos4 = i32x4.shuffle(cs01, cs23, 0, 2, 4, 6);
  const sin4 = i32x4.shuffle(cs01, cs23, 1, 3, 5, 7);
  // r * cos is a half times a float: a float multiply. + 0 turns -0 into +0 (torch's * std + mean).
  const zero = f32x4.splat(0);
  return i16x8.narrow_i32x4_u(
    encodeHalf4(f32x4.add(f32x4.mul(r, cos4), zero)),
    encodeHalf4(f32x4.add(f32x4.mul(r, sin4), zero)),
  );
}

/** normal_fill_16<c10::Half> on 16 raw words at src into 16 float16 bit patterns at out. */
// @ts-ignore: decorator
@inline function blockF16(src: usize, out: usize): void {
  const q0 = quadF16(temper(v128.load(src)), temper(v128.load(src, 32)));
  const q1 = quadF16(temper(v128.load(src, 16)), temper(v128.load(src, 48)));
  v128.store(out, i64x2.shuffle(q0, q1, 0, 2));
  v128.store(out, i64x2.shuffle(q0, q1, 1, 3), 16);
}

/** A float64 uniform from two raw words: the low 53 bits of random64() (first word high) times 2^-53. */
// @ts-ignore: decorator
@inline function uniform53(p: usize): f64 {
  const hi = <u64>(temper1(load<i32>(p)) & 0x1fffff);
  const lo = <u64>(<u32>temper1(load<i32>(p, 4)));
  return <f64>((hi << 32) | lo) * INV_2_53;
}

/** normal_fill_16<double> on 32 raw words at src into 16 float64 at out (doubleBoxMullerBlock). */
function blockF64(src: usize, out: usize): void {
  for (let k: usize = 0; k < 8; k++) {
    const u1 = uniform53(src + (k << 3));
    const u2 = uniform53(src + 64 + (k << 3));
    const radius = Math.sqrt(-2 * jsLog(1 - u1));
    const theta = TWO_PI * u2;
    store<f64>(out + (k << 3), radius * jsCos(theta) + 0);
    store<f64>(out + (k << 3), radius * jsSin(theta) + 0, 64);
  }
}

/** `count` consecutive blocks of T from 16 (float64: 32) raw words each at src, into out. */
// @ts-ignore: decorator
@inline function blocks<T>(src: usize, out: usize, count: i32): void {
  if (sizeof<T>() == 4) {
    blocksF32(src, out, count);
  } else if (sizeof<T>() == 2) {
    for (let k: i32 = 0; k < count; k++) blockF16(src + (<usize>k << 6), out + (<usize>k << 5));
  } else {
    for (let k: i32 = 0; k < count; k++) blockF64(src + (<usize>k << 7), out + (<usize>k << 7));
  }
}

/**
 * One torch.randn call of `length` >= 16 values of T (f32, u16 = float16 bits, f64) into out:
 * Generator.fillBlocks of src/noise/generator.ts. Each block of 16 values takes 16 engine words (32 for
 * float64); when length is not a multiple of 16, the words of the leftover values are skipped
 * and the last 16 values are redrawn from fresh words, as torch does.
 */
function fill<T>(out: usize, length: i32): void {
  const words: i32 = sizeof<T>() == 8 ? 32 : 16;
  const size = <usize>sizeof<T>();
  let i = load<i32>(MT_INDEX);
  let pos: i32 = 0;
  while (pos + 16 <= length) {
    if (i >= N) {
      twist();
      i = 0;
    }
    const at = out + <usize>pos * size;
    // The whole blocks left in this twist's words, up to what is still to draw.
    const count = min((N - i) / words, (length - pos) >> 4);
    if (count > 0) {
      blocks<T>(MT_STATE + (<usize>i << 2), at, count);
      i += count * words;
      pos += count << 4;
    } else {
      // The block straddles a twist (at most once per 624 words).
      store<i32>(MT_INDEX, i);
      blocks<T>(wordsIntoScratch(words), at, 1);
      i = load<i32>(MT_INDEX);
      pos += 16;
    }
  }
  store<i32>(MT_INDEX, i);
  const rest = length % 16;
  if (rest != 0) {
    for (let k: i32 = 0; k < (words >> 4) * rest; k++) nextRaw();
    blocks<T>(wordsIntoScratch(words), out + <usize>(length - 16) * size, 1);
  }
}

export function randnF32(out: usize, length: i32): void {
  fill<f32>(out, length);
}

export function randnF16(out: usize, length: i32): void {
  fill<u16>(out, length);
}

export function randnF64(out: usize, length: i32): void {
  fill<f64>(out, length);
}
