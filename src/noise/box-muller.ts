/**
 * PyTorch's Box-Muller kernels over raw engine words, one block of 16 normals at a time: the float32
 * 16-wide kernel of `normal_fill` (AVX2 and scalar), and the float16 and float64 streams of the
 * scalar `normal_fill<scalar_t>` (see noise/generator.ts for what torch does and what is matched).
 */
import { float16Table, numberToFloat16 } from '../tensor/dtype.js';
import { tempered } from './mt19937.js';

/** 2^-24: `uniform_real_distribution<float>` scales the low 24 bits of one word by it. */
const INV_2_24 = 1 / 16777216;
/** 2^-53: `uniform_real_distribution<double>` scales the low 53 bits of `random64()` by it. */
export const INV_2_53 = 1 / 9007199254740992;
/** `2.0f * c10::pi<double>` rounded to float, as the AVX2 kernel broadcasts it. */
const TWO_PI_F32 = Math.fround(2 * Math.PI);
export const TWO_PI = 2 * Math.PI;
const LN2 = Math.LN2;

// Math.log, Math.sin and Math.cos are out-of-line library calls in V8: with them the 16-wide kernel
// below runs at less than half the speed (about 2.5x slower, measured on the kernel alone). The
// kernel rounds each of them to float32 (as torch's float kernel does), so double accuracy is far
// more than it needs: small tables plus short series, accurate to ~1e-15, give the same float32
// values as Math.log / Math.sin / Math.cos on every one of the 2^24 possible inputs of each --
// test/noise.test.ts checks all of them through the kernel.

/** log(1 + j/256), j = 0..256; LOG_TABLE[256] is exactly Math.LN2, so log(2^-k * 2) cancels exactly. */
const LOG_TABLE = new Float64Array(257);
/** 2^-31 / (1 + j/256): turns the 23-bit remainder below a table point into t = m / (1 + j/256) - 1. */
const LOG_TSCALE = new Float64Array(257);
for (let j = 0; j <= 256; j++) {
  LOG_TABLE[j] = Math.log(1 + j / 256);
  LOG_TSCALE[j] = 2 ** -31 / (1 + j / 256);
}

/**
 * log(w * 2^-24) for an integer w in [1, 2^24], i.e. log(u1) for u1 = 1 - u of the float kernel.
 * w = 2^e * m with m in [1, 2); m is split at the nearest table point 1 + j/256 (|t| <= 2^-9), and
 * log(1 + t) is its 5-term series (error below t^6/6 ~ 1e-17).
 */
function logScaled24(w: number): number {
  const sh = Math.clz32(w); // w < 2^(32 - sh): exponent e = 31 - sh, and e - 24 = 7 - sh
  const frac = (w << sh) & 0x7fffffff; // the bits of m below its leading 1, as a 31-bit integer
  const j = (frac + 0x400000) >>> 23; // nearest table point, 0..256
  const t = (frac - j * 8388608) * LOG_TSCALE[j]; // j * 2^23, not j << 23: that overflows int32 at 256
  const series = t * (1 + t * (-0.5 + t * (1 / 3 + t * (-0.25 + t * 0.2))));
  // Table value and exponent first: they cancel exactly at j = 256, e = 23.
  return LOG_TABLE[j] + (7 - sh) * LN2 + series;
}

/** Angles k * 2pi / 1024 (as the double k * SINCOS_STEP) and their sines and cosines. */
const SINCOS_N = 1024;
const SINCOS_STEP = TWO_PI / SINCOS_N;
const SINCOS_INV_STEP = SINCOS_N / TWO_PI;
const SIN_TABLE = new Float64Array(SINCOS_N + 1);
const COS_TABLE = new Float64Array(SINCOS_N + 1);
for (let k = 0; k <= SINCOS_N; k++) {
  SIN_TABLE[k] = Math.sin(k * SINCOS_STEP);
  COS_TABLE[k] = Math.cos(k * SINCOS_STEP);
}

/**
 * Box-Muller on one block of 16 engine words (raw, untempered, read from words[i .. i + 16)) into
 * out[pos .. pos + 16): `normal_fill_16_AVX2` applied to the block of 16 float uniforms those words
 * give. Word k (k < 8) gives u1 = 1 - u_k, word k + 8 gives u2; they become r cos(theta) and
 * r sin(theta) at k and k + 8. Each fround is one float32 rounding torch performs.
 * Internal: exported for the tests (not from the package entry).
 */
export function boxMullerBlock(words: Int32Array, i: number, out: Float32Array, pos: number): void {
  for (let k = 0; k < 8; k++) {
    const a = tempered(words[i + k]);
    const b = tempered(words[i + k + 8]);
    // u1 = 1 - (a & 0xffffff) * 2^-24 is exact in float32 and lies in (0, 1]: never log(0).
    // -2 * log is exact scaling; sqrt of a float done in double then rounded is the correctly rounded
    // float sqrt (_mm256_sqrt_ps).
    const radius = Math.fround(Math.sqrt(-2 * Math.fround(logScaled24(16777216 - (a & 0xffffff)))));
    // A product of two floats is exact in double, so one fround is the float multiply.
    const theta = Math.fround(TWO_PI_F32 * ((b & 0xffffff) * INV_2_24));
    // sin/cos of theta = A + x, A the nearest table angle: theta - A is exact (Sterbenz) and
    // |x| <= pi / 1024, where the series below are exact to ~1e-16.
    const idx = (theta * SINCOS_INV_STEP + 0.5) | 0;
    const x = theta - idx * SINCOS_STEP;
    const x2 = x * x;
    const sinX = x - x * x2 * (1 / 6 - x2 * (1 / 120));
    const cosX = 1 - x2 * (0.5 - x2 * (1 / 24));
    const sinA = SIN_TABLE[idx];
    const cosA = COS_TABLE[idx];
    // The Float32Array store rounds radius * cos (exact in double) like the float multiply; std = 1 and
    // mean = 0 make torch's final fmadd exact.
    out[pos + k] = radius * Math.fround(cosA * cosX - sinA * sinX);
    out[pos + k + 8] = radius * Math.fround(sinA * cosX + cosA * sinX);
  }
}

// ---------------------------------------------------------------------------------------------
// float16 and float64: torch's scalar normal_fill<scalar_t>

/**
 * Uniform words k (u2 = k / 2048) at which glibc's cosf / sinf -- the implementation every glibc
 * since 2.28 ships, which torch's `std::cos(float)` calls -- return the float on the other side of
 * the exact value (their error bound is 0.56 ulp, not 0.5): 27 + 26 of the 2048 angles. Found by
 * comparing with glibc 2.36 on every angle; test/fixtures/randn_dtypes.json holds glibc's values and
 * the tests check the whole table. (glibc's logf is off the same way at 11 of the 2048 u1, but the
 * radius is rounded to half, which absorbs all of them.)
 */
const COSF_OTHER_SIDE = [
  275, 292, 311, 325, 335, 416, 421, 568, 585, 587, 666, 674, 695, 702, 767, 1353, 1354, 1355, 1608, 1623,
  1624, 1649, 1691, 1768, 1769, 1773, 1774,
];
const SINF_OTHER_SIDE = [
  51, 88, 111, 126, 182, 197, 228, 270, 789, 806, 858, 935, 955, 968, 988, 1076, 1093, 1198, 1221, 1245, 1277,
  1821, 1919, 1978, 1979, 2003,
];

/**
 * The float16 kernel's Box-Muller factors, indexed by the 11-bit uniform word k (u = k / 2048): a
 * float16 uniform has only 2048 values, so each factor has only 2048 values too.
 */
export interface HalfBoxMullerTables {
  /** radius(u1 = 1 - k / 2048) = half(sqrtf(-2 * logf(u1))), as a number. */
  radius: Float64Array;
  /** cosf / sinf of theta = half(2 pi * k / 2048), as numbers (float32 values). */
  cos: Float64Array;
  sin: Float64Array;
}

let halfTables: HalfBoxMullerTables | null = null;

const stepF32 = new Float32Array(1);
const stepI32 = new Int32Array(stepF32.buffer);

/** The float32 next to `f` (nonzero) in the direction of `towards`. */
function nextFloat32(f: number, towards: number): number {
  stepF32[0] = f;
  stepI32[0] += towards > f === f > 0 ? 1 : -1;
  return stepF32[0];
}

/**
 * Build (once) the float16 tables, each step rounded as torch 1.13's `normal_fill_16<c10::Half>`
 * rounds it: `u1 = 1 - u` is exact; `std::log(u1)` converts the half to float and calls logf; `-2 *`
 * is exact; `std::sqrt` of a float is the correctly rounded float sqrt (double sqrt then fround
 * is the same); storing the radius in a Half rounds it. `theta = 2.0f * pi<double> * u2` is a double
 * product, stored in a Half through `c10::Half(float)`: double -> float -> half. Internal: exported
 * for the tests (not from the package entry).
 */
export function halfBoxMullerTables(): HalfBoxMullerTables {
  if (halfTables !== null) return halfTables;
  const half = float16Table();
  const radius = new Float64Array(2048);
  const cos = new Float64Array(2048);
  const sin = new Float64Array(2048);
  const theta = new Float64Array(2048);
  for (let k = 0; k < 2048; k++) {
    const logU1 = Math.fround(Math.log((2048 - k) / 2048));
    // k = 0: log(1) = 0 and sqrt(-2 * 0) = -0, a negative zero radius, as in torch.
    radius[k] = half[numberToFloat16(Math.fround(Math.sqrt(-2 * logU1)))];
    theta[k] = half[numberToFloat16(Math.fround(TWO_PI * (k / 2048)))];
    cos[k] = Math.fround(Math.cos(theta[k]));
    sin[k] = Math.fround(Math.sin(theta[k]));
  }
  // Each listed value is 1 ulp from the correctly rounded one, on the far side of the exact value.
  for (const k of COSF_OTHER_SIDE) cos[k] = nextFloat32(cos[k], Math.cos(theta[k]));
  for (const k of SINF_OTHER_SIDE) sin[k] = nextFloat32(sin[k], Math.sin(theta[k]));
  halfTables = { radius, cos, sin };
  return halfTables;
}

/**
 * `normal_fill_16<c10::Half>` on one block of 16 raw engine words (words[i .. i + 16)) into
 * out[pos .. pos + 16) as half bits: word k < 8 gives u1 (via its low 11 bits), word k + 8 gives u2.
 * `radius * cos(theta)` is a Half times a float, so a float multiply (exact in double, one fround);
 * `* std + mean` with std 1, mean +0 changes nothing but turns -0 into +0 (torch never returns -0);
 * the store into the Half tensor rounds float -> half.
 */
export function halfBoxMullerBlock(words: Int32Array, i: number, out: Uint16Array, pos: number): void {
  const tables = halfTables ?? halfBoxMullerTables();
  const radius = tables.radius;
  const cos = tables.cos;
  const sin = tables.sin;
  for (let k = 0; k < 8; k++) {
    const a = tempered(words[i + k]);
    const b = tempered(words[i + k + 8]);
    const r = radius[a & 2047];
    const j = b & 2047;
    out[pos + k] = numberToFloat16(Math.fround(r * cos[j]) + 0);
    out[pos + k + 8] = numberToFloat16(Math.fround(r * sin[j]) + 0);
  }
}

/**
 * `normal_fill_16<double>` on one block of 32 raw engine words (words[i .. i + 32)): uniform j of
 * the block is the low 53 bits of words 2j (high half) and 2j + 1, times 2^-53; uniform k < 8 gives
 * u1 = 1 - u (exact), uniform k + 8 gives u2. Math.log / cos / sin stand in for glibc's log / cos /
 * sin: both are within 1 ulp of the exact value, so results agree to a few ulps (most bit for bit).
 */
export function doubleBoxMullerBlock(words: Int32Array, i: number, out: Float64Array, pos: number): void {
  for (let k = 0; k < 8; k++) {
    const w1 = i + 2 * k;
    const w2 = w1 + 16;
    const u1 = ((tempered(words[w1]) & 0x1fffff) * 4294967296 + tempered(words[w1 + 1])) * INV_2_53;
    const u2 = ((tempered(words[w2]) & 0x1fffff) * 4294967296 + tempered(words[w2 + 1])) * INV_2_53;
    const radius = Math.sqrt(-2 * Math.log(1 - u1));
    const theta = TWO_PI * u2;
    // * std + mean (1 and +0): exact, except that -0 (radius -0 at u1 = 1) becomes +0.
    out[pos + k] = radius * Math.cos(theta) + 0;
    out[pos + k + 8] = radius * Math.sin(theta) + 0;
  }
}
