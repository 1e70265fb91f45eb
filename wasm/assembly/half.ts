// IEEE float16 <-> float32 / float64, bit for bit what src/tensor/dtype.ts's float16Table() and
// numberToFloat16() give: rounding to nearest, ties to even; Inf and overflow to +-Inf; a NaN
// encodes as sign | 0x7e00, and every float16 NaN decodes to the float32 NaN 0x7fc00000 (the bits
// of Number.NaN stored into a Float32Array, which is what the JS table holds).

/** 2^112: scales a float16's exponent and mantissa, shifted into float32 position, to its value. */
// @ts-ignore: decorator
@inline const HALF_TO_FLOAT: f32 = reinterpret<f32>(0x77800000);
/** 2^-112: the inverse, from a float32 to float16's exponent bias. */
// @ts-ignore: decorator
@inline const FLOAT_TO_HALF: f32 = reinterpret<f32>(0x07800000);

/** Float16 bits from the low four (`high` false) or high four 16-bit lanes of `h`, as i32 lanes holding h << 16. */
// @ts-ignore: decorator
@inline export function halfLanes(h: v128, high: bool): v128 {
  const zero = v128.splat<i32>(0);
  // Interleaving with zeros puts each half in the top 16 bits of a 32-bit lane: one unpack.
  if (high) return v128.shuffle<u16>(zero, h, 4, 12, 5, 13, 6, 14, 7, 15);
  return v128.shuffle<u16>(zero, h, 0, 8, 1, 9, 2, 10, 3, 11);
}

/**
 * Four float16 values (lanes holding h << 16) as float32, Inf and NaN kept as Inf and a NaN
 * (with its payload, not the canonical NaN decodeHalf4 returns): what the step needs, in 8
 * instructions. An arithmetic shift by 3 moves the sign to bit 31 (clearing the three copies it
 * leaves) and the exponent and mantissa to float32's bits 27..13: a float32 2^112 times too
 * small, for normal and subnormal halves alike, so one exact multiply gives the value.
 */
// @ts-ignore: decorator
@inline export function widenHalf4(x: v128): v128 {
  const f = f32x4.mul(v128.and(i32x4.shr_s(x, 3), i32x4.splat(<i32>0x8fffe000)), f32x4.splat(HALF_TO_FLOAT));
  // Exponent 31 (Inf, NaN): the product is finite there (2^16 to 2^17); setting all its exponent
  // bits makes it Inf for a zero mantissa and a NaN otherwise.
  const special = i32x4.eq(v128.and(x, i32x4.splat(0x7c000000)), i32x4.splat(0x7c000000));
  return v128.or(f, v128.and(special, i32x4.splat(0x7f800000)));
}

/** widenHalf4 for halves known to be finite (no exponent 31 among them): 4 instructions. */
// @ts-ignore: decorator
@inline export function widenFiniteHalf4(x: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(x, 3), i32x4.splat(<i32>0x8fffe000)), f32x4.splat(HALF_TO_FLOAT));
}

/** widenHalf4 with every NaN decoded to 0x7fc00000, as float16Table() holds it. */
// @ts-ignore: decorator
@inline export function decodeHalf4(x: v128): v128 {
  const nan = i32x4.gt_s(v128.and(x, i32x4.splat(0x7fff0000)), i32x4.splat(0x7c000000));
  return v128.bitselect(i32x4.splat(0x7fc00000), widenHalf4(x), nan);
}

/**
 * Four float32 values to float16 bits (in the low 16 bits of i32 lanes), to nearest even, as
 * numberToFloat16 does for float32 values. Adding and taking away 2^13 times the float16 unit of
 * |f|'s exponent (at least 2^-14, whose 2^-10 is the subnormal step 2^-24) makes the float32 sum
 * round to nearest even at the float16's last bit; that r, times 2^-112, has float16's exponent
 * bias, so its bits shifted by 13 are the float16's (subnormal ones too: r is then a subnormal
 * float32). From 65520 on (and Inf) the exponent passes 30 and the bits are clamped to Inf; a NaN
 * becomes 0x7e00.
 */
// @ts-ignore: decorator
@inline export function encodeHalf4(f: v128): v128 {
  return v128.or(encodeNumberHalf4(f), v128.and(f32x4.ne(f, f), i32x4.splat(0x7e00)));
}

/** encodeHalf4 for values known not to be NaN (a NaN would come out as Inf): 12 instructions. */
// @ts-ignore: decorator
@inline export function encodeNumberHalf4(f: v128): v128 {
  const abs = v128.and(f, i32x4.splat(0x7fffffff));
  const unit = i32x4.max_s(v128.and(abs, i32x4.splat(0x7f800000)), i32x4.splat(0x38800000));
  const magic = i32x4.add(unit, i32x4.splat(13 << 23));
  const r = f32x4.sub(f32x4.add(abs, magic), magic);
  const h = i32x4.min_u(i32x4.shr_u(f32x4.mul(r, f32x4.splat(FLOAT_TO_HALF)), 13), i32x4.splat(0x7c00));
  return v128.or(h, v128.and(i32x4.shr_u(f, 16), i32x4.splat(0x8000)));
}

/** Lanes whose float16 bits (low 16 bits of i32 lanes) are Inf or NaN: all ones there. */
// @ts-ignore: decorator
@inline export function halfSpecial4(h: v128): v128 {
  return i32x4.eq(v128.and(h, i32x4.splat(0x7c00)), i32x4.splat(0x7c00));
}

/** Eight float16 bit patterns (16-bit lanes) that are Inf or NaN: all ones there. */
// @ts-ignore: decorator
@inline export function halfSpecial8(h: v128): v128 {
  return i16x8.eq(v128.and(h, i16x8.splat(0x7c00)), i16x8.splat(0x7c00));
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
    v128.store(o, decodeHalf4(halfLanes(h, false)));
    v128.store(o, decodeHalf4(halfLanes(h, true)), 16);
  }
  for (; i < n; i++) {
    const h = i32x4.splat(<i32>load<u16>(src + (<usize>i << 1)) << 16);
    store<f32>(dst + (<usize>i << 2), f32x4.extract_lane(decodeHalf4(h), 0));
  }
}

/** float16 bits to float64 values. */
export function halfToF64(src: usize, dst: usize, n: i32): void {
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const f = decodeHalf4(i32x4.shl(v128.load16x4_u(src + (<usize>i << 1)), 16));
    const o = dst + (<usize>i << 3);
    v128.store(o, f64x2.promote_low_f32x4(f));
    v128.store(o, f64x2.promote_low_f32x4(i64x2.shuffle(f, f, 1, 1)), 16);
  }
  for (; i < n; i++) {
    const h = i32x4.splat(<i32>load<u16>(src + (<usize>i << 1)) << 16);
    store<f64>(dst + (<usize>i << 3), <f64>f32x4.extract_lane(decodeHalf4(h), 0));
  }
}

/** float32 values to float16 bits. Returns 1 if every result is finite (no Inf, no NaN). */
export function f32ToHalf(src: usize, dst: usize, n: i32): i32 {
  let special = v128.splat<i32>(0);
  let i: i32 = 0;
  for (; i + 8 <= n; i += 8) {
    const s = src + (<usize>i << 2);
    const h = i16x8.narrow_i32x4_u(encodeHalf4(v128.load(s)), encodeHalf4(v128.load(s, 16)));
    special = v128.or(special, halfSpecial8(h));
    v128.store(dst + (<usize>i << 1), h);
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
