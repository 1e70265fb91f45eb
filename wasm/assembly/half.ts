// IEEE float16 <-> float32 / float64, bit for bit what src/tensor.ts's float16Table() and
// numberToFloat16() give: rounding to nearest, ties to even; Inf and overflow to +-Inf; a NaN
// encodes as sign | 0x7e00, and every float16 NaN decodes to the float32 NaN 0x7fc00000 (the bits
// of Number.NaN stored into a Float32Array, which is what the JS table holds).

/** 2^112: scales a float16's exponent and mantissa, shifted into float32 position, to its value. */
// @ts-ignore: decorator
@inline const HALF_TO_FLOAT: f32 = reinterpret<f32>(0x77800000);

/** Four float16 bit patterns (the low 16 bits of i32 lanes) to four float32 values. */
// @ts-ignore: decorator
@inline export function decodeHalf4(h: v128): v128 {
  const sign = i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16);
  const em = v128.and(h, i32x4.splat(0x7fff));
  // Exponent and mantissa moved to float32 position read as a float32 2^112 times too small, for
  // normal and subnormal halves alike (a subnormal half lands on a subnormal float32): one
  // multiply, exact.
  const value = v128.or(f32x4.mul(i32x4.shl(em, 13), f32x4.splat(HALF_TO_FLOAT)), sign);
  const inf = v128.or(i32x4.splat(0x7f800000), sign);
  const special = v128.bitselect(inf, i32x4.splat(0x7fc00000), i32x4.eq(em, i32x4.splat(0x7c00)));
  return v128.bitselect(special, value, i32x4.ge_s(em, i32x4.splat(0x7c00)));
}

/**
 * Four float32 values to float16 bit patterns (in the low 16 bits of i32 lanes), to nearest even.
 * Normal results re-bias the exponent and round off 13 mantissa bits by an integer add that
 * carries exactly when the dropped bits are above half (or half and the kept part is odd);
 * subnormal results add 0.5 in float32, whose rounding to nearest even puts the rounded 10-bit
 * mantissa in the low bits.
 */
// @ts-ignore: decorator
@inline export function encodeHalf4(f: v128): v128 {
  const sign = v128.and(i32x4.shr_u(f, 16), i32x4.splat(0x8000));
  const abs = v128.and(f, i32x4.splat(0x7fffffff));
  const odd = v128.and(i32x4.shr_u(abs, 13), i32x4.splat(1));
  const normal = i32x4.sub(
    i32x4.shr_u(i32x4.add(i32x4.add(abs, i32x4.splat(0xfff)), odd), 13),
    i32x4.splat((127 - 15) << 10),
  );
  const subnormal = i32x4.sub(f32x4.add(abs, f32x4.splat(0.5)), i32x4.splat(0x3f000000));
  // 65520 and up (0x47800000) overflow to Inf; a NaN (above 0x7f800000) is 0x7e00.
  const special = v128.bitselect(
    i32x4.splat(0x7e00),
    i32x4.splat(0x7c00),
    i32x4.gt_s(abs, i32x4.splat(0x7f800000)),
  );
  const finite = v128.bitselect(subnormal, normal, i32x4.lt_s(abs, i32x4.splat(0x38800000)));
  return v128.or(v128.bitselect(finite, special, i32x4.lt_s(abs, i32x4.splat(0x47800000))), sign);
}

/** Lanes whose float16 bits (low 16 bits of i32 lanes) are Inf or NaN: all ones there. */
// @ts-ignore: decorator
@inline export function halfSpecial4(h: v128): v128 {
  return i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0x7c00));
}

/** One float64 to float16 bits, rounded once (not through float32). */
export function halfOfF64(v: f64): i32 {
  const bits = reinterpret<i64>(v);
  const sign = <i32>(bits >>> 48) & 0x8000;
  const abs = bits & 0x7fffffffffffffff;
  if (abs >= 0x7ff0000000000000) return sign | (abs > 0x7ff0000000000000 ? 0x7e00 : 0x7c00);
  if (abs >= 0x40effe0000000000) return sign | 0x7c00; // 65520 and up: Inf
  if (abs >= 0x3f10000000000000) {
    // Normal half: drop 42 of the 52 mantissa bits, to nearest even, carrying into the exponent.
    const odd = (abs >>> 42) & 1;
    return sign | <i32>(((abs + 0x1ffffffffff + odd) >>> 42) - ((1023 - 15) << 10));
  }
  // Subnormal half (|v| < 2^-14): |v| + 2^28 rounds |v| to a multiple of 2^-24, to nearest even.
  const r = reinterpret<i64>(reinterpret<f64>(abs) + 268435456.0) - reinterpret<i64>(268435456.0);
  return sign | <i32>r;
}

/** float16 bits (n of them at src) to float32 values at dst. */
export function halfToF32(src: usize, dst: usize, n: i32): void {
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    const o = dst + (<usize>i << 2);
    v128.store(o, decodeHalf4(i32x4.extend_low_i16x8_u(h)));
    v128.store(o, decodeHalf4(i32x4.extend_high_i16x8_u(h)), 16);
  }
  for (; i < n; i++) {
    const h = i32x4.splat(<i32>load<u16>(src + (<usize>i << 1)));
    store<f32>(dst + (<usize>i << 2), f32x4.extract_lane(decodeHalf4(h), 0));
  }
}

/** float16 bits to float64 values. */
export function halfToF64(src: usize, dst: usize, n: i32): void {
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const f = decodeHalf4(v128.load16x4_u(src + (<usize>i << 1)));
    const o = dst + (<usize>i << 3);
    v128.store(o, f64x2.promote_low_f32x4(f));
    v128.store(o, f64x2.promote_low_f32x4(i64x2.shuffle(f, f, 1, 1)), 16);
  }
  for (; i < n; i++) {
    const h = i32x4.splat(<i32>load<u16>(src + (<usize>i << 1)));
    store<f64>(dst + (<usize>i << 3), <f64>f32x4.extract_lane(decodeHalf4(h), 0));
  }
}

/** float32 values to float16 bits. Returns 1 if every result is finite (no Inf, no NaN). */
export function f32ToHalf(src: usize, dst: usize, n: i32): i32 {
  let special = v128.splat<i32>(0);
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) {
    const s = src + (<usize>i << 2);
    const lo = encodeHalf4(v128.load(s));
    const hi = encodeHalf4(v128.load(s, 16));
    special = v128.or(special, v128.or(halfSpecial4(lo), halfSpecial4(hi)));
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(lo, hi));
  }
  for (; i < n; i++) {
    const h = encodeHalf4(v128.load32_zero(src + (<usize>i << 2)));
    special = v128.or(special, halfSpecial4(h));
    store<u16>(dst + (<usize>i << 1), <u16>i32x4.extract_lane(h, 0));
  }
  return i32(!v128.any_true(special));
}

/** float64 values to float16 bits (each rounded once). Returns 1 if every result is finite. */
export function f64ToHalf(src: usize, dst: usize, n: i32): i32 {
  let special: i32 = 0;
  for (let i: i32 = 0; i < n; i++) {
    const h = halfOfF64(load<f64>(src + (<usize>i << 3)));
    store<u16>(dst + (<usize>i << 1), <u16>h);
    special |= ((h & 0x7c00) + 0x400) & 0x8000;
  }
  return i32(special == 0);
}
