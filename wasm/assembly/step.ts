// The DDIM step's three loops (src/scheduler/step.ts has the derivation and the folding of the scalars):
//
//   linear        x0 = A x + B m                  prev = P x + Q m
//   linear noise  x0 = A x + B m                  prev = P x + Q m + W z
//   bounded       x0 = clamp(A x + B m, lo, hi)   prev = E x0 + F x + G u + W z
//
// in two lane widths:
//
// - f64x2, for any float64 tensor (or when the caller asks for it): the JS path's arithmetic,
//   operation for operation in float64, each input widened exactly and each output rounded once
//   (to float32 as a Float32Array store does, to float16 by halfOfF64), so the results are the
//   JS path's bit for bit;
// - f32x4, for float32 and float16 tensors: the scalars rounded to float32 and every product and
//   sum rounded to float32 (as diffusers' own float32 tensor ops round), 2.5x the f64x2 speed;
//   results within a few float32 ulps of the terms' magnitudes of the JS path's (the bound is in
//   test/wasm-step.test.ts, derived there and tested).
//
// Every entry returns 1 when every result it stores (and the unclamped x0) is finite, else 0: the
// caller then scans for the element to name. (The JS path also reports 0 past a sum of 2^127,
// a false alarm its scan clears; these report exactly the non-finite results.)
import {
  encodeHalf4,
  encodeNumberHalf4,
  f32ToHalf,
  f64ToHalf,
  halfLanes,
  halfSpecial4,
  halfSpecial8,
  halfToF32,
  halfToF64,
  widenFiniteHalf4,
  widenHalf4,
} from './half';
import {
  PARAMS,
  SCRATCH_M,
  SCRATCH_PREV,
  SCRATCH_X,
  SCRATCH_X0,
  SCRATCH_Z,
  SUB,
} from './layout';

/** dtype codes shared with src/scheduler/step-kernel-wasm.ts. */
export const F32: i32 = 0;
export const F64: i32 = 1;
export const F16: i32 = 2;

export const LINEAR: i32 = 0;
export const LINEAR_NOISE: i32 = 1;
export const BOUNDED: i32 = 2;

// Slots of PARAMS (f64): the folded scalars of src/scheduler/step.ts's FoldedStep, then the clamp bounds.
const A: usize = 0;
const B: usize = 8;
const P: usize = 16;
const Q: usize = 24;
const E: usize = 32;
const F: usize = 40;
const G: usize = 48;
const W: usize = 56;
const LO: usize = 64;
const HI: usize = 72;

// @ts-ignore: decorator
@inline function param(slot: usize): f64 {
  return load<f64>(PARAMS + slot);
}

// @ts-ignore: decorator
@inline function p32(slot: usize): v128 {
  return f32x4.splat(<f32>load<f64>(PARAMS + slot));
}

// @ts-ignore: decorator
@inline function p64(slot: usize): v128 {
  return f64x2.splat(load<f64>(PARAMS + slot));
}

/** v - v: +0 (all bits clear) for a finite lane, NaN for Inf or NaN. OR-ed together, any set bit is a non-finite result. */
// @ts-ignore: decorator
@inline function nonFinite32(v: v128): v128 {
  return f32x4.sub(v, v);
}

// @ts-ignore: decorator
@inline function nonFinite64(v: v128): v128 {
  return f64x2.sub(v, v);
}

// ---------------------------------------------------------------------------------------------
// f32x4 loops over float32 arrays

function linear32(x: usize, m: usize, prev: usize, x0: usize, n: i32): i32 {
  const a = p32(A);
  const b = p32(B);
  const p = p32(P);
  const q = p32(Q);
  let bad = v128.splat<i32>(0);
  const end = <usize>n << 2;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) {
    const xv = v128.load(x + o);
    const mv = v128.load(m + o);
    const v = f32x4.add(f32x4.mul(p, xv), f32x4.mul(q, mv));
    const w = f32x4.add(f32x4.mul(a, xv), f32x4.mul(b, mv));
    v128.store(prev + o, v);
    v128.store(x0 + o, w);
    bad = v128.or(bad, v128.or(nonFinite32(v), nonFinite32(w)));
  }
  for (; o < end; o += 4) {
    const xv = v128.load32_zero(x + o);
    const mv = v128.load32_zero(m + o);
    const v = f32x4.add(f32x4.mul(p, xv), f32x4.mul(q, mv));
    const w = f32x4.add(f32x4.mul(a, xv), f32x4.mul(b, mv));
    v128.store32_lane(prev + o, v, 0);
    v128.store32_lane(x0 + o, w, 0);
    bad = v128.or(bad, v128.or(nonFinite32(v), nonFinite32(w)));
  }
  return i32(!v128.any_true(bad));
}

function linearNoise32(x: usize, m: usize, z: usize, prev: usize, x0: usize, n: i32): i32 {
  const a = p32(A);
  const b = p32(B);
  const p = p32(P);
  const q = p32(Q);
  const w = p32(W);
  let bad = v128.splat<i32>(0);
  const end = <usize>n << 2;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) {
    const xv = v128.load(x + o);
    const mv = v128.load(m + o);
    const zv = v128.load(z + o);
    const v = f32x4.add(f32x4.add(f32x4.mul(p, xv), f32x4.mul(q, mv)), f32x4.mul(w, zv));
    const u = f32x4.add(f32x4.mul(a, xv), f32x4.mul(b, mv));
    v128.store(prev + o, v);
    v128.store(x0 + o, u);
    bad = v128.or(bad, v128.or(nonFinite32(v), nonFinite32(u)));
  }
  for (; o < end; o += 4) {
    const xv = v128.load32_zero(x + o);
    const mv = v128.load32_zero(m + o);
    const zv = v128.load32_zero(z + o);
    const v = f32x4.add(f32x4.add(f32x4.mul(p, xv), f32x4.mul(q, mv)), f32x4.mul(w, zv));
    const u = f32x4.add(f32x4.mul(a, xv), f32x4.mul(b, mv));
    v128.store32_lane(prev + o, v, 0);
    v128.store32_lane(x0 + o, u, 0);
    bad = v128.or(bad, v128.or(nonFinite32(v), nonFinite32(u)));
  }
  return i32(!v128.any_true(bad));
}

/**
 * clamp(raw, lo, hi) as src/scheduler/step-kernel-js.ts's select: lo below, hi above, raw
 * otherwise, NaN passing through. pmax(raw, lo) is `raw < lo ? lo : raw`, pmin(t, hi) is `hi < t ? hi : t`.
 */
// @ts-ignore: decorator
@inline function clamp32(raw: v128, lo: v128, hi: v128): v128 {
  return f32x4.pmin(f32x4.pmax(raw, lo), hi);
}

function bounded32(x: usize, m: usize, u: usize, z: usize, prev: usize, x0: usize, n: i32): i32 {
  const a = p32(A);
  const b = p32(B);
  const e = p32(E);
  const f = p32(F);
  const g = p32(G);
  const w = p32(W);
  const lo = p32(LO);
  const hi = p32(HI);
  let bad = v128.splat<i32>(0);
  const end = <usize>n << 2;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) {
    const xv = v128.load(x + o);
    const raw = f32x4.add(f32x4.mul(a, xv), f32x4.mul(b, v128.load(m + o)));
    const v = clamp32(raw, lo, hi);
    const t = f32x4.add(f32x4.add(f32x4.mul(e, v), f32x4.mul(f, xv)), f32x4.mul(g, v128.load(u + o)));
    const pv = f32x4.add(t, f32x4.mul(w, v128.load(z + o)));
    v128.store(prev + o, pv);
    v128.store(x0 + o, v);
    // |raw|, not the clamped value: a +-Inf model output clamped away must still be seen.
    bad = v128.or(bad, v128.or(nonFinite32(pv), nonFinite32(raw)));
  }
  for (; o < end; o += 4) {
    const xv = v128.load32_zero(x + o);
    const raw = f32x4.add(f32x4.mul(a, xv), f32x4.mul(b, v128.load32_zero(m + o)));
    const v = clamp32(raw, lo, hi);
    const t = f32x4.add(f32x4.add(f32x4.mul(e, v), f32x4.mul(f, xv)), f32x4.mul(g, v128.load32_zero(u + o)));
    const pv = f32x4.add(t, f32x4.mul(w, v128.load32_zero(z + o)));
    v128.store32_lane(prev + o, pv, 0);
    v128.store32_lane(x0 + o, v, 0);
    bad = v128.or(bad, v128.or(nonFinite32(pv), nonFinite32(raw)));
  }
  return i32(!v128.any_true(bad));
}

/**
 * Eight elements of linearHalf at byte offset o: float16 x and m (already loaded as xh, mh) to
 * float16 prev and x0. `exact` (a constant at each call site): widen Inf and NaN inputs to Inf
 * and NaN and encode a NaN result as NaN; without it, 21 fewer instructions, for inputs known to
 * be finite and scalars that cannot overflow float32 with them. Returns the lanes whose results
 * are Inf or NaN.
 */
// @ts-ignore: decorator
@inline function halfBlock8(
  xh: v128,
  mh: v128,
  a: v128,
  b: v128,
  p: v128,
  q: v128,
  prev: usize,
  x0: usize,
  exact: bool,
): v128 {
  const xl = exact ? widenHalf4(halfLanes(xh, false)) : widenFiniteHalf4(halfLanes(xh, false));
  const xu = exact ? widenHalf4(halfLanes(xh, true)) : widenFiniteHalf4(halfLanes(xh, true));
  const ml = exact ? widenHalf4(halfLanes(mh, false)) : widenFiniteHalf4(halfLanes(mh, false));
  const mu = exact ? widenHalf4(halfLanes(mh, true)) : widenFiniteHalf4(halfLanes(mh, true));
  const vl = f32x4.add(f32x4.mul(p, xl), f32x4.mul(q, ml));
  const vu = f32x4.add(f32x4.mul(p, xu), f32x4.mul(q, mu));
  const wl = f32x4.add(f32x4.mul(a, xl), f32x4.mul(b, ml));
  const wu = f32x4.add(f32x4.mul(a, xu), f32x4.mul(b, mu));
  const v = exact
    ? i16x8.narrow_i32x4_u(encodeHalf4(vl), encodeHalf4(vu))
    : i16x8.narrow_i32x4_u(encodeNumberHalf4(vl), encodeNumberHalf4(vu));
  const w = exact
    ? i16x8.narrow_i32x4_u(encodeHalf4(wl), encodeHalf4(wu))
    : i16x8.narrow_i32x4_u(encodeNumberHalf4(wl), encodeNumberHalf4(wu));
  v128.store(prev, v);
  v128.store(x0, w);
  return v128.or(halfSpecial8(v), halfSpecial8(w));
}

/**
 * linear32 over float16 bits in and out, decoding and encoding in registers (the fp16 SD case).
 * The finiteness test reads the encoded outputs. Eight elements at a time take the short
 * conversions (halfBlock8 without `exact`) unless one of their inputs is Inf or NaN (tested on
 * the 16-bit patterns, 5 instructions) or a scalar is 2^100 or more (then a float32 product can
 * overflow and Inf - Inf make a NaN): the results are the same either way, bit for bit.
 */
function linearHalf(x: usize, m: usize, prev: usize, x0: usize, n: i32): i32 {
  const a = p32(A);
  const b = p32(B);
  const p = p32(P);
  const q = p32(Q);
  const big = f32x4.splat(1.2676506002282294e30); // 2^100
  // All four below 2^100 (a NaN is not): |scalar x| < 2^116 for any finite half, no overflow.
  const safe =
    v128.all_true<i32>(f32x4.lt(f32x4.abs(a), big)) &&
    v128.all_true<i32>(f32x4.lt(f32x4.abs(b), big)) &&
    v128.all_true<i32>(f32x4.lt(f32x4.abs(p), big)) &&
    v128.all_true<i32>(f32x4.lt(f32x4.abs(q), big));
  let bad = v128.splat<i32>(0);
  const end = <usize>n << 1;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) {
    const xh = v128.load(x + o);
    const mh = v128.load(m + o);
    if (safe && !v128.any_true(v128.or(halfSpecial8(xh), halfSpecial8(mh)))) {
      bad = v128.or(bad, halfBlock8(xh, mh, a, b, p, q, prev + o, x0 + o, false));
    } else {
      bad = v128.or(bad, halfBlock8(xh, mh, a, b, p, q, prev + o, x0 + o, true));
    }
  }
  for (; o < end; o += 2) {
    const xv = widenHalf4(i32x4.splat(<i32>load<u16>(x + o) << 16));
    const mv = widenHalf4(i32x4.splat(<i32>load<u16>(m + o) << 16));
    const v = encodeHalf4(f32x4.add(f32x4.mul(p, xv), f32x4.mul(q, mv)));
    const w = encodeHalf4(f32x4.add(f32x4.mul(a, xv), f32x4.mul(b, mv)));
    store<u16>(prev + o, <u16>i32x4.extract_lane(v, 0));
    store<u16>(x0 + o, <u16>i32x4.extract_lane(w, 0));
    bad = v128.or(bad, v128.or(halfSpecial4(v), halfSpecial4(w)));
  }
  return i32(!v128.any_true(bad));
}

// ---------------------------------------------------------------------------------------------
// f64x2 loops over float64 arrays: src/scheduler/step-kernel-js.ts's loops, the same operations
// in the same order

function linear64(x: usize, m: usize, prev: usize, x0: usize, n: i32): i32 {
  const a = p64(A);
  const b = p64(B);
  const p = p64(P);
  const q = p64(Q);
  let bad = v128.splat<i32>(0);
  const end = <usize>n << 3;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) {
    const xv = v128.load(x + o);
    const mv = v128.load(m + o);
    const v = f64x2.add(f64x2.mul(p, xv), f64x2.mul(q, mv));
    const w = f64x2.add(f64x2.mul(a, xv), f64x2.mul(b, mv));
    v128.store(prev + o, v);
    v128.store(x0 + o, w);
    bad = v128.or(bad, v128.or(nonFinite64(v), nonFinite64(w)));
  }
  if (o < end) {
    const xv = v128.load64_zero(x + o);
    const mv = v128.load64_zero(m + o);
    const v = f64x2.add(f64x2.mul(p, xv), f64x2.mul(q, mv));
    const w = f64x2.add(f64x2.mul(a, xv), f64x2.mul(b, mv));
    v128.store64_lane(prev + o, v, 0);
    v128.store64_lane(x0 + o, w, 0);
    bad = v128.or(bad, v128.or(nonFinite64(v), nonFinite64(w)));
  }
  return i32(!v128.any_true(bad));
}

function linearNoise64(x: usize, m: usize, z: usize, prev: usize, x0: usize, n: i32): i32 {
  const a = p64(A);
  const b = p64(B);
  const p = p64(P);
  const q = p64(Q);
  const w = p64(W);
  let bad = v128.splat<i32>(0);
  const end = <usize>n << 3;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) {
    const xv = v128.load(x + o);
    const mv = v128.load(m + o);
    const v = f64x2.add(f64x2.add(f64x2.mul(p, xv), f64x2.mul(q, mv)), f64x2.mul(w, v128.load(z + o)));
    const u = f64x2.add(f64x2.mul(a, xv), f64x2.mul(b, mv));
    v128.store(prev + o, v);
    v128.store(x0 + o, u);
    bad = v128.or(bad, v128.or(nonFinite64(v), nonFinite64(u)));
  }
  if (o < end) {
    const xv = v128.load64_zero(x + o);
    const mv = v128.load64_zero(m + o);
    const v = f64x2.add(f64x2.add(f64x2.mul(p, xv), f64x2.mul(q, mv)), f64x2.mul(w, v128.load64_zero(z + o)));
    const u = f64x2.add(f64x2.mul(a, xv), f64x2.mul(b, mv));
    v128.store64_lane(prev + o, v, 0);
    v128.store64_lane(x0 + o, u, 0);
    bad = v128.or(bad, v128.or(nonFinite64(v), nonFinite64(u)));
  }
  return i32(!v128.any_true(bad));
}

function bounded64(x: usize, m: usize, u: usize, z: usize, prev: usize, x0: usize, n: i32): i32 {
  const a = p64(A);
  const b = p64(B);
  const e = p64(E);
  const f = p64(F);
  const g = p64(G);
  const w = p64(W);
  const lo = p64(LO);
  const hi = p64(HI);
  let bad = v128.splat<i32>(0);
  const end = <usize>n << 3;
  let o: usize = 0;
  for (; o + 16 <= end; o += 16) {
    const xv = v128.load(x + o);
    const raw = f64x2.add(f64x2.mul(a, xv), f64x2.mul(b, v128.load(m + o)));
    const v = f64x2.pmin(f64x2.pmax(raw, lo), hi);
    const t = f64x2.add(f64x2.add(f64x2.mul(e, v), f64x2.mul(f, xv)), f64x2.mul(g, v128.load(u + o)));
    const pv = f64x2.add(t, f64x2.mul(w, v128.load(z + o)));
    v128.store(prev + o, pv);
    v128.store(x0 + o, v);
    bad = v128.or(bad, v128.or(nonFinite64(pv), nonFinite64(raw)));
  }
  if (o < end) {
    const xv = v128.load64_zero(x + o);
    const raw = f64x2.add(f64x2.mul(a, xv), f64x2.mul(b, v128.load64_zero(m + o)));
    const v = f64x2.pmin(f64x2.pmax(raw, lo), hi);
    const t = f64x2.add(f64x2.add(f64x2.mul(e, v), f64x2.mul(f, xv)), f64x2.mul(g, v128.load64_zero(u + o)));
    const pv = f64x2.add(t, f64x2.mul(w, v128.load64_zero(z + o)));
    v128.store64_lane(prev + o, pv, 0);
    v128.store64_lane(x0 + o, v, 0);
    bad = v128.or(bad, v128.or(nonFinite64(pv), nonFinite64(raw)));
  }
  return i32(!v128.any_true(bad));
}

// ---------------------------------------------------------------------------------------------
// Widening and narrowing of sub-chunks

/** float32 to float64 (exact). */
function promote(src: usize, dst: usize, n: i32): void {
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(src + (<usize>i << 2));
    const o = dst + (<usize>i << 3);
    v128.store(o, f64x2.promote_low_f32x4(v));
    v128.store(o, f64x2.promote_low_f32x4(i64x2.shuffle(v, v, 1, 1)), 16);
  }
  for (; i < n; i++) store<f64>(dst + (<usize>i << 3), <f64>load<f32>(src + (<usize>i << 2)));
}

/** float64 to float32, to nearest even (a Float32Array store). Returns 1 if every result is finite. */
function demote(src: usize, dst: usize, n: i32): i32 {
  let bad = v128.splat<i32>(0);
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const s = src + (<usize>i << 3);
    const lo = f32x4.demote_f64x2_zero(v128.load(s));
    const hi = f32x4.demote_f64x2_zero(v128.load(s, 16));
    const v = i64x2.shuffle(lo, hi, 0, 2);
    v128.store(dst + (<usize>i << 2), v);
    bad = v128.or(bad, nonFinite32(v));
  }
  for (; i < n; i++) {
    const v = <f32>load<f64>(src + (<usize>i << 3));
    store<f32>(dst + (<usize>i << 2), v);
    bad = v128.or(bad, nonFinite32(f32x4.splat(v)));
  }
  return i32(!v128.any_true(bad));
}

// @ts-ignore: decorator
@inline function sizeOf(type: i32): usize {
  return type == F64 ? 8 : type == F32 ? 4 : 2;
}

/** Input `type` at src[start ..] as float64: the array itself, or widened into scratch. */
function wide(src: usize, type: i32, start: i32, len: i32, scratch: usize): usize {
  const at = src + <usize>start * sizeOf(type);
  if (type == F64) return at;
  if (type == F32) promote(at, scratch, len);
  else halfToF64(at, scratch, len);
  return scratch;
}

/** Input `type` at src[start ..] as float32: the array itself, or decoded into scratch. */
function narrow(src: usize, type: i32, start: i32, len: i32, scratch: usize): usize {
  const at = src + <usize>start * sizeOf(type);
  if (type == F32) return at;
  halfToF32(at, scratch, len);
  return scratch;
}

/** Run loop `kind` on float64 arrays. */
// @ts-ignore: decorator
@inline function run64(kind: i32, x: usize, m: usize, u: usize, z: usize, prev: usize, x0: usize, n: i32): i32 {
  if (kind == LINEAR) return linear64(x, m, prev, x0, n);
  if (kind == LINEAR_NOISE) return linearNoise64(x, m, z, prev, x0, n);
  return bounded64(x, m, u, z, prev, x0, n);
}

// @ts-ignore: decorator
@inline function run32(kind: i32, x: usize, m: usize, u: usize, z: usize, prev: usize, x0: usize, n: i32): i32 {
  if (kind == LINEAR) return linear32(x, m, prev, x0, n);
  if (kind == LINEAR_NOISE) return linearNoise32(x, m, z, prev, x0, n);
  return bounded32(x, m, u, z, prev, x0, n);
}

/**
 * One step over n elements: x (sample), m (model output), z (noise; 0 for none), prev and x0
 * (outputs, both of dtype `outType`), with the scalars in PARAMS. `clipped`: the G term reads x
 * instead of m (use_clipped_model_output). `wideLanes`: f64x2 lanes (required when any tensor is
 * float64). Inputs and outputs may be the same arrays element for element (in place): every
 * element is read before its results are stored. Returns 1 when every result is finite.
 */
export function step(
  kind: i32,
  clipped: i32,
  wideLanes: i32,
  x: usize,
  xType: i32,
  m: usize,
  mType: i32,
  z: usize,
  zType: i32,
  prev: usize,
  x0: usize,
  outType: i32,
  n: i32,
): i32 {
  if (z == 0) {
    // No noise: the bounded loop reads x with weight 0 (src/scheduler/step-kernel-js.ts does the same).
    z = x;
    zType = xType;
    store<f64>(PARAMS + W, 0);
  }
  let ok: i32 = 1;
  if (wideLanes != 0) {
    for (let start: i32 = 0; start < n; start += SUB) {
      const len = min(SUB, n - start);
      const xs = wide(x, xType, start, len, SCRATCH_X);
      const ms = wide(m, mType, start, len, SCRATCH_M);
      const zs = kind == LINEAR ? <usize>0 : wide(z, zType, start, len, SCRATCH_Z);
      const off = <usize>start * sizeOf(outType);
      const direct = outType == F64;
      const ps = direct ? prev + off : SCRATCH_PREV;
      const x0s = direct ? x0 + off : SCRATCH_X0;
      ok &= run64(kind, xs, ms, clipped != 0 ? xs : ms, zs, ps, x0s, len);
      if (outType == F32) {
        ok &= demote(SCRATCH_PREV, prev + off, len);
        ok &= demote(SCRATCH_X0, x0 + off, len);
      } else if (outType == F16) {
        ok &= f64ToHalf(SCRATCH_PREV, prev + off, len);
        ok &= f64ToHalf(SCRATCH_X0, x0 + off, len);
      }
    }
    return ok;
  }
  const allF32 = xType == F32 && mType == F32 && (kind == LINEAR || zType == F32) && outType == F32;
  if (allF32) return run32(kind, x, m, clipped != 0 ? x : m, z, prev, x0, n);
  if (kind == LINEAR && xType == F16 && mType == F16 && outType == F16) return linearHalf(x, m, prev, x0, n);
  for (let start: i32 = 0; start < n; start += SUB) {
    const len = min(SUB, n - start);
    const xs = narrow(x, xType, start, len, SCRATCH_X);
    const ms = narrow(m, mType, start, len, SCRATCH_M);
    const zs = kind == LINEAR ? <usize>0 : narrow(z, zType, start, len, SCRATCH_Z);
    const off = <usize>start * sizeOf(outType);
    const direct = outType == F32;
    const ps = direct ? prev + off : SCRATCH_PREV;
    const x0s = direct ? x0 + off : SCRATCH_X0;
    ok &= run32(kind, xs, ms, clipped != 0 ? xs : ms, zs, ps, x0s, len);
    if (!direct) {
      ok &= f32ToHalf(SCRATCH_PREV, prev + off, len);
      ok &= f32ToHalf(SCRATCH_X0, x0 + off, len);
    }
  }
  return ok;
}

/**
 * |A x + B m| for thresholding's quantile, in float64 as src/scheduler/step-kernel-js.ts's
 * absX0Loop (so the quantile, and the threshold s, are the JS path's exactly), stored as float32
 * (`outWide` 0, rounded as a Float32Array store) or float64. Returns 1 if a NaN was seen.
 */
export function absX0(x: usize, xType: i32, m: usize, mType: i32, out: usize, outWide: i32, n: i32): i32 {
  const a = p64(A);
  const b = p64(B);
  let nan = v128.splat<i32>(0);
  for (let start: i32 = 0; start < n; start += SUB) {
    const len = min(SUB, n - start);
    const xs = wide(x, xType, start, len, SCRATCH_X);
    const ms = wide(m, mType, start, len, SCRATCH_M);
    const end = <usize>len << 3;
    let o: usize = 0;
    for (; o + 16 <= end; o += 16) {
      const v = f64x2.abs(f64x2.add(f64x2.mul(a, v128.load(xs + o)), f64x2.mul(b, v128.load(ms + o))));
      nan = v128.or(nan, f64x2.ne(v, v));
      v128.store(SCRATCH_PREV + o, v);
    }
    if (o < end) {
      const v = f64x2.abs(f64x2.add(f64x2.mul(a, v128.load64_zero(xs + o)), f64x2.mul(b, v128.load64_zero(ms + o))));
      nan = v128.or(nan, f64x2.ne(v, v));
      v128.store64_lane(SCRATCH_PREV + o, v, 0);
    }
    if (outWide != 0) memory.copy(out + (<usize>start << 3), SCRATCH_PREV, end);
    else demote(SCRATCH_PREV, out + (<usize>start << 2), len);
  }
  return i32(v128.any_true(nan));
}

/** float32 to float64 and back, for whole arrays (the ONNX adapter's conversions). */
export function f32ToF64(src: usize, dst: usize, n: i32): void {
  promote(src, dst, n);
}
export function f64ToF32(src: usize, dst: usize, n: i32): i32 {
  return demote(src, dst, n);
}
