/**
 * Seeded Gaussian noise that is bit-for-bit (up to float32 transcendental rounding) what PyTorch's CPU
 * generator gives, so that `torch.Generator().manual_seed(s)` in Python and `new Generator().manualSeed(s)`
 * here start a diffusion run from the same latents.
 *
 * What is reproduced, from PyTorch's sources (ATen, torch 1.13 era):
 *
 * - `at::mt19937` (core/MT19937RNGEngine.h): the reference MT19937 seeded with `init_genrand` on the LOW
 *   32 bits of the 64-bit seed, while `initial_seed()` keeps all 64 bits. Its first draw after seeding
 *   twists first (left_ starts at 1), exactly as the reference code does.
 * - `CPUGeneratorImpl` (CPUGeneratorImpl.cpp): `random()` is one engine word; `random64()` is two words,
 *   the FIRST one becoming the high half. `manual_seed` also drops the cached normal.
 * - `normal_kernel` (native/cpu/DistributionTemplates.h), which `torch.randn` reaches with mean 0, std 1:
 *   * float32, at least 16 elements, contiguous: `normal_fill` / `normal_fill_AVX2`. Every element first
 *     gets a float uniform `(word & (2^24 - 1)) * 2^-24`; then each full block of 16 is Box-Muller'd in
 *     place, pairing element j with j + 8; when the size is not a multiple of 16, 16 FRESH uniforms are
 *     drawn into the last 16 slots and that block is transformed again (so the tail overwrites part of
 *     the last full block, and the leftover uniforms of the first pass are simply lost).
 *   * fewer than 16 elements: `normal_distribution<double>` per element: a cached second value is used
 *     first; otherwise two 53-bit uniforms u1, u2 from `random64()`, r = sqrt(-2 log(1 - u2)),
 *     theta = 2 pi u1, the value r sin(theta) is cached on the generator and r cos(theta) returned, then
 *     rounded to float32. The 16+ path neither reads nor clears that cache.
 * - float16 and float64 (`randnTensor(shape, { dtype })`, as diffusers' `randn_tensor(..., dtype=)`):
 *   the AVX2 kernel is float32-only, so 16 or more elements run the scalar `normal_fill<scalar_t>`:
 *   the same draw-all / transform-blocks-of-16 / recompute-the-last-16 structure, but the uniforms
 *   are `uniform_real_distribution<scalar_t>` -- float64: the low 53 bits of `random64()` (two words
 *   per element); float16: the low 11 bits of one word times 2^-11 -- and Box-Muller runs in
 *   scalar_t: for float64 in double with libm's log / cos / sin; for float16 every intermediate
 *   stored in a `c10::Half` is rounded to half (u1, radius, theta), the rest is float (libm's logf,
 *   cosf, sinf) and the result is rounded float -> half. So a float16 draw is its own stream, not
 *   float32 draws rounded. Fewer than 16 elements: `normal_distribution<double>` as for float32,
 *   cast double -> float -> half for float16 (two roundings, as `c10::Half(float)` does).
 * - `torch/csrc/Generator.cpp` `manual_seed`: a seed is read as uint64, and if that overflows as int64,
 *   so negative seeds down to -2^63 wrap to `seed + 2^64`; anything else is an error.
 *
 * The arithmetic of the 16+ path is done in float32 in torch (on x86 with AVX2: `log256_ps` and
 * `sincos256_ps` from avx_mathfun.h, float multiplies, `2pi` broadcast as a float). We reproduce every
 * float32 rounding step that is a basic operation (1 - u, 2pi * u, sqrt, the final products) exactly
 * with Math.fround, and take log/sin/cos to double accuracy, rounded to float32, where torch uses its
 * float polynomial approximations: on randn.json 83% of values are bit-identical to torch and the
 * largest difference is 4.8e-7 (torch's non-AVX2 build, with a double 2pi, is itself up to ~2e-6 away
 * from its AVX2 build). The tolerance is 1e-5.
 *
 * The hot path is allocation-free and BigInt-free: the engine state lives in an Int32Array, the twist
 * runs over the whole 624-word block, and words are tempered and transformed 16 at a time straight
 * into the output. BigInt is used only to parse and report seeds.
 *
 * This module is core: no Node built-ins, no dependencies. Secure seeding uses Web Crypto
 * (`globalThis.crypto.getRandomValues`), present in browsers and Node 20.
 */
import { ArgumentError, ShapeError, StateError } from '../errors.js';
import { checkOptionKeys, guarded, unreadable } from '../guard.js';
import {
  allocate,
  assertNever,
  checkDType,
  DTYPES,
  float16Table,
  holds,
  numberToFloat16,
} from '../tensor/dtype.js';
import { type DType, formatDims, sizeOf, type Tensor, type TensorData, tensorOf } from '../tensor/tensor.js';

/** A seed as PyTorch takes it: an integer in [-2^63, 2^64 - 1], as number, bigint or decimal string. */
export type Seed = number | bigint | string;

/**
 * A generator's full state as plain JSON data (`JSON.stringify` / `JSON.parse` round-trip it exactly).
 * It holds what torch's `get_state()` holds, in readable form.
 */
export interface GeneratorState {
  /** Format tag; only 1 exists. */
  version: 1;
  /** The engine; only `'mt19937'` exists. */
  engine: 'mt19937';
  /** The 64-bit initial seed, as an unsigned decimal string (torch's `initial_seed()`). */
  seed: string;
  /** The 624 words of the Mersenne Twister state, each an integer in [0, 2^32 - 1]. */
  mt: number[];
  /**
   * How many words of the current twisted block are used, 0..624; 624 means the next draw twists first
   * (that is also the state right after seeding). torch stores this as `next_` and `left_ = 625 - next_`
   * (`left_ = 1` after seeding).
   */
  index: number;
  /** The cached second Box-Muller value of the small-tensor path (a double), or null. */
  nextNormal: number | null;
}

// ---------------------------------------------------------------------------------------------
// Seeds

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df | 0;
const UPPER_MASK = 0x80000000 | 0;
const LOWER_MASK = 0x7fffffff;
const TEMPER_C = 0xefc60000 | 0;

/** `default_rng_seed_val` in c10/core/GeneratorImpl.h: what `torch.Generator()` starts from. */
export const DEFAULT_SEED = 67280421310721n;

const TWO_64 = 1n << 64n;
const MAX_SEED = TWO_64 - 1n;
const MIN_SEED = -(1n << 63n);
const SEED_RANGE = '[-2^63, 2^64 - 1] (-9223372036854775808 .. 18446744073709551615)';

/**
 * Read a seed the way torch's `Generator.manual_seed` does, returning the uint64 torch stores.
 *
 * Numbers must be safe integers (|n| <= 2^53 - 1). A larger number is rejected rather than taken at its
 * double value: a seed like 12345678901234567890 typed in JavaScript has already been rounded to
 * 12345678901234567168 before we see it, so accepting it would silently give a different stream from
 * the Python run it was copied from. Pass such seeds as a bigint or a decimal string instead.
 */
export function parseSeed(seed: Seed, field = 'seed'): bigint {
  let value: bigint;
  if (typeof seed === 'number') {
    if (!Number.isInteger(seed)) {
      throw new ArgumentError({
        field,
        value: seed,
        problem: 'must be an integer',
        fix: 'pass a whole number, e.g. 1234, as torch.manual_seed takes.',
      });
    }
    if (!Number.isSafeInteger(seed)) {
      throw new ArgumentError({
        field,
        value: seed,
        problem: 'is a number beyond 2^53 - 1, where JavaScript numbers cannot hold every integer exactly',
        fix: 'pass large seeds as a bigint (1234n) or a decimal string ("12345678901234567890").',
      });
    }
    value = BigInt(seed);
  } else if (typeof seed === 'bigint') {
    value = seed;
  } else if (typeof seed === 'string') {
    if (!/^-?[0-9]+$/.test(seed)) {
      throw new ArgumentError({
        field,
        value: seed,
        problem: 'must be a decimal integer string (digits, optionally a leading minus)',
        fix: 'pass e.g. "1234" or "18446744073709551615".',
      });
    }
    value = BigInt(seed);
  } else {
    throw new ArgumentError({
      field,
      value: seed,
      problem: 'must be a number, a bigint or a decimal string',
      fix: 'pass an integer seed, e.g. 1234.',
    });
  }
  if (value < MIN_SEED || value > MAX_SEED) {
    throw new ArgumentError({
      field,
      value: seed,
      problem: `is outside the range torch accepts, ${SEED_RANGE}`,
      fix: 'pass a seed in that range; torch raises an overflow error for it too.',
    });
  }
  // torch: PyLong_AsUnsignedLongLong overflows for negatives, then the value is re-read as int64 and
  // reinterpreted as uint64 -- i.e. two's complement wrap.
  return value < 0n ? value + TWO_64 : value;
}

/** 64 random bits from the platform's secure source (what torch reads from /dev/urandom). */
function secureSeed(): bigint {
  const crypto = (globalThis as { crypto?: { getRandomValues?: <T extends Uint32Array>(a: T) => T } }).crypto;
  if (crypto === undefined || typeof crypto.getRandomValues !== 'function') {
    throw new StateError({
      field: 'globalThis.crypto.getRandomValues',
      problem: 'is not available, so there is no secure source to seed a generator from',
      fix: 'seed explicitly: new Generator().manualSeed(seed), or manualSeed(seed) for the default generator.',
    });
  }
  const words = crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(words[0]) << 32n) | BigInt(words[1]);
}

// ---------------------------------------------------------------------------------------------
// The engine

/** `init_genrand` of the reference MT19937 (torch's `init_with_uint32`). */
function initGenrand(mt: Int32Array, seed32: number): void {
  mt[0] = seed32;
  for (let i = 1; i < N; i++) {
    const prev = mt[i - 1];
    mt[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) | 0;
  }
}

/** Regenerate all 624 words at once (torch's `next_state`, the reference `genrand` block update). */
function twist(mt: Int32Array): void {
  let k = 0;
  for (; k < N - M; k++) {
    const y = (mt[k] & UPPER_MASK) | (mt[k + 1] & LOWER_MASK);
    mt[k] = mt[k + M] ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
  }
  for (; k < N - 1; k++) {
    const y = (mt[k] & UPPER_MASK) | (mt[k + 1] & LOWER_MASK);
    mt[k] = mt[k + M - N] ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
  }
  const y = (mt[N - 1] & UPPER_MASK) | (mt[0] & LOWER_MASK);
  mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
}

/** 2^-24: `uniform_real_distribution<float>` scales the low 24 bits of one word by it. */
const INV_2_24 = 1 / 16777216;
/** 2^-53: `uniform_real_distribution<double>` scales the low 53 bits of `random64()` by it. */
const INV_2_53 = 1 / 9007199254740992;
/** `2.0f * c10::pi<double>` rounded to float, as the AVX2 kernel broadcasts it. */
const TWO_PI_F32 = Math.fround(2 * Math.PI);
const TWO_PI = 2 * Math.PI;
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
function halfBoxMullerBlock(words: Int32Array, i: number, out: Uint16Array, pos: number): void {
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

/** mt19937's tempering of one engine word, as an unsigned number (every draw goes through it). */
function tempered(y: number): number {
  y ^= y >>> 11;
  y ^= (y << 7) & 0x9d2c5680;
  y ^= (y << 15) & TEMPER_C;
  y ^= y >>> 18;
  return y >>> 0;
}

/**
 * `normal_fill_16<double>` on one block of 32 raw engine words (words[i .. i + 32)): uniform j of
 * the block is the low 53 bits of words 2j (high half) and 2j + 1, times 2^-53; uniform k < 8 gives
 * u1 = 1 - u (exact), uniform k + 8 gives u2. Math.log / cos / sin stand in for glibc's log / cos /
 * sin: both are within 1 ulp of the exact value, so results agree to a few ulps (most bit for bit).
 */
function doubleBoxMullerBlock(words: Int32Array, i: number, out: Float64Array, pos: number): void {
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

/**
 * A PyTorch CPU generator (`torch.Generator()`): same seeds, same streams, same `randn` values.
 *
 * ```ts
 * const g = new Generator().manualSeed(1234);
 * const latents = randnTensor([1, 4, 64, 64], { generator: g });
 * ```
 */
export class Generator {
  private readonly mt = new Int32Array(N);
  /** Words used of the current block; N = twist before the next draw. */
  private mti = N;
  private initial = DEFAULT_SEED;
  private hasNextNormal = false;
  private nextNormal = 0;
  /** Raw words of a block that straddles a twist (16 words; 32 for float64, two per uniform). */
  private readonly scratch = new Int32Array(32);

  /** Like `torch.Generator()`: seeded with torch's default seed 67280421310721, not randomly. */
  constructor() {
    this.reseed(DEFAULT_SEED);
  }

  /** `Generator.manual_seed(seed)`. Seeds are validated before anything changes. */
  manualSeed(seed: Seed): this {
    this.reseed(parseSeed(seed));
    return this;
  }

  /** `Generator.seed()`: reseed from the platform's secure random source and return the new seed. */
  seed(): bigint {
    const value = secureSeed();
    this.reseed(value);
    return value;
  }

  /** `Generator.initial_seed()`: the last seed set, as the uint64 torch stores (negatives wrapped). */
  initialSeed(): bigint {
    return this.initial;
  }

  private reseed(seed: bigint): void {
    this.initial = seed;
    initGenrand(this.mt, Number(seed & 0xffffffffn) | 0);
    this.mti = N;
    // set_current_seed resets both cached normals.
    this.hasNextNormal = false;
    this.nextNormal = 0;
  }

  /** A JSON-serialisable snapshot; `setState` on it resumes exactly here. */
  getState(): GeneratorState {
    const mt = new Array<number>(N);
    for (let i = 0; i < N; i++) mt[i] = this.mt[i] >>> 0;
    return {
      version: 1,
      engine: 'mt19937',
      seed: this.initial.toString(),
      mt,
      index: this.mti,
      nextNormal: this.hasNextNormal ? this.nextNormal : null,
    };
  }

  /** Restore a state from `getState`. Every field is checked first; a bad state changes nothing. */
  setState(state: GeneratorState): this {
    const checked = guarded(
      () => checkState(state),
      unreadable(ArgumentError, 'state', 'pass an object returned by Generator.getState().'),
    );
    this.initial = checked.seed;
    this.mt.set(checked.mt);
    this.mti = checked.index;
    this.hasNextNormal = checked.nextNormal !== null;
    this.nextNormal = checked.nextNormal ?? 0;
    return this;
  }

  /** One raw 32-bit engine output (torch's `random()`), in [0, 2^32 - 1]. */
  nextUint32(): number {
    return tempered(this.nextRaw());
  }

  /**
   * Exactly one `torch.randn(length, generator=g)` call, written to `out[offset .. offset + length)`.
   * No allocation.
   */
  fillRandn(out: Float32Array, offset = 0, length?: number): void {
    checkRange(out, offset, length, 'float32');
    const n = length ?? out.length - offset;
    if (n >= 16) this.fillBlocks(out, offset, n, 16, boxMullerBlock);
    else for (let i = 0; i < n; i++) out[offset + i] = this.normalDouble();
  }

  /**
   * Exactly one `torch.randn(length, generator=g, dtype=torch.float16)` call, written to
   * `out[offset .. offset + length)` as float16 bits. A float16 draw is its own stream (see the
   * module notes), bit for bit torch's on Linux (glibc). No allocation after the first call.
   */
  fillRandnFloat16(out: Uint16Array, offset = 0, length?: number): void {
    checkRange(out, offset, length, 'float16');
    const n = length ?? out.length - offset;
    if (n >= 16) this.fillBlocks(out, offset, n, 16, halfBoxMullerBlock);
    // static_cast<c10::Half>(double) goes through float: two roundings.
    else for (let i = 0; i < n; i++) out[offset + i] = numberToFloat16(Math.fround(this.normalDouble()));
  }

  /**
   * Exactly one `torch.randn(length, generator=g, dtype=torch.float64)` call, written to
   * `out[offset .. offset + length)`. The same generator words as torch; values within a few ulps of
   * torch's (libm differences), most bit for bit. No allocation.
   */
  fillRandnFloat64(out: Float64Array, offset = 0, length?: number): void {
    checkRange(out, offset, length, 'float64');
    const n = length ?? out.length - offset;
    if (n >= 16) this.fillBlocks(out, offset, n, 32, doubleBoxMullerBlock);
    else for (let i = 0; i < n; i++) out[offset + i] = this.normalDouble();
  }

  /**
   * torch's `normal_fill` for 16 or more elements, for every dtype: `words` engine words per block
   * of 16 values (16: one 32-bit word per float32 / float16 uniform; 32: one random64() per float64
   * uniform), turned into values by `block`. torch first fills all `length` uniforms, then
   * transforms each block of 16 in place; since a block only reads its own uniforms, drawing and
   * transforming block by block is the same and keeps the data in cache.
   */
  private fillBlocks<T>(
    out: T,
    offset: number,
    length: number,
    words: 16 | 32,
    block: (src: Int32Array, at: number, out: T, pos: number) => void,
  ): void {
    const mt = this.mt;
    const end = offset + length;
    let i = this.mti;
    for (let pos = offset; pos + 16 <= end; pos += 16) {
      if (i >= N) {
        twist(mt);
        i = 0;
      }
      if (i <= N - words) {
        block(mt, i, out, pos);
        i += words;
      } else {
        // The block straddles a twist (at most once per 624 words).
        this.mti = i;
        block(this.wordsIntoScratch(words), 0, out, pos);
        i = this.mti;
      }
    }
    this.mti = i;
    const rest = length % 16;
    if (rest !== 0) {
      // The first pass drew the uniforms of `rest` more values that no full block used; torch then
      // overwrites the last 16 values from fresh uniforms (overlapping the last full block).
      for (let k = 0; k < (words / 16) * rest; k++) this.nextRaw();
      block(this.wordsIntoScratch(words), 0, out, end - 16);
    }
  }

  /** The next `count` raw words into the scratch, twisting wherever needed. */
  private wordsIntoScratch(count: number): Int32Array {
    const scratch = this.scratch;
    for (let k = 0; k < count; k++) scratch[k] = this.nextRaw();
    return scratch;
  }

  /** The next untempered state word, twisting first when the block is used up. */
  private nextRaw(): number {
    if (this.mti >= N) {
      twist(this.mt);
      this.mti = 0;
    }
    return this.mt[this.mti++];
  }

  /** `uniform_real_distribution<double>(0, 1)`: low 53 bits of random64() (first word high) times 2^-53. */
  private uniform53(): number {
    const hi = this.nextUint32();
    const lo = this.nextUint32();
    return ((hi & 0x1fffff) * 4294967296 + lo) * INV_2_53;
  }

  /** `normal_distribution<double>(0, 1)` with the generator's cached second value. */
  private normalDouble(): number {
    if (this.hasNextNormal) {
      this.hasNextNormal = false;
      return this.nextNormal;
    }
    const u1 = this.uniform53();
    const u2 = this.uniform53();
    // torch 1.13 writes log(1 - u2) (later versions log1p(-u2)); 1 - u2 is exact for a 53-bit
    // uniform, so both are the same correctly rounded number.
    const r = Math.sqrt(-2 * Math.log(1 - u2));
    const theta = TWO_PI * u1;
    this.nextNormal = r * Math.sin(theta);
    this.hasNextNormal = true;
    return r * Math.cos(theta);
  }
}

// ---------------------------------------------------------------------------------------------
// Validation

/** The typed array each dtype's noise is written to (float16 as bits). */
const ARRAY_FOR: Record<DType, string> = {
  float32: 'Float32Array',
  float64: 'Float64Array',
  float16: 'Uint16Array (of float16 bits)',
};

function isArrayFor(out: unknown, dtype: DType): boolean {
  // isView first: it reads no property, so a Proxy cannot throw from a trap here.
  return ArrayBuffer.isView(out) && holds(out, dtype);
}

function checkRange(out: TensorData, offset: number, length: number | undefined, dtype: DType): void {
  if (!isArrayFor(out, dtype)) {
    throw new ShapeError({
      field: 'out',
      value: out,
      problem: `must be a ${ARRAY_FOR[dtype]} (this method draws ${dtype}, as torch.randn(..., dtype=torch.${dtype}))`,
      fix:
        dtype === 'float32'
          ? 'pass a Float32Array to fill (fillRandnFloat64 / fillRandnFloat16 draw the other dtypes).'
          : `pass a ${ARRAY_FOR[dtype]} to fill.`,
    });
  }
  if (!Number.isInteger(offset) || offset < 0) {
    throw new ArgumentError({
      field: 'offset',
      value: offset,
      problem: 'must be a non-negative integer',
      fix: 'pass the index of the first element to fill.',
    });
  }
  if (length === undefined) {
    if (offset > out.length) {
      throw new ShapeError({
        field: 'offset',
        value: offset,
        problem: `is past the end of out (${out.length} elements)`,
        fix: 'pass an offset within the array.',
      });
    }
    return;
  }
  if (!Number.isInteger(length) || length < 0) {
    throw new ArgumentError({
      field: 'length',
      value: length,
      problem: 'must be a non-negative integer',
      fix: 'pass the number of elements to draw (the numel of the torch.randn call).',
    });
  }
  if (offset + length > out.length) {
    throw new ShapeError({
      field: 'out',
      value: out,
      problem: `has ${out.length} elements, fewer than offset ${offset} + length ${length}`,
      fix: 'pass a larger array, or a smaller offset or length.',
    });
  }
}

function stateError(field: string, value: unknown, problem: string): ArgumentError {
  return new ArgumentError({
    field: `state.${field}`,
    value,
    problem,
    fix: 'pass an object returned by Generator.getState() (it survives JSON.stringify / JSON.parse).',
  });
}

function isUint32(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
}

function checkState(state: GeneratorState): {
  seed: bigint;
  mt: Int32Array;
  index: number;
  nextNormal: number | null;
} {
  if (state === null || typeof state !== 'object' || Array.isArray(state)) {
    throw new ArgumentError({
      field: 'state',
      value: state,
      problem: 'must be a generator state object',
      fix: 'pass an object returned by Generator.getState().',
    });
  }
  const s = state as unknown as Record<string, unknown>;
  if (s.version !== 1) throw stateError('version', s.version, 'must be 1, the only state format there is');
  if (s.engine !== 'mt19937') throw stateError('engine', s.engine, "must be 'mt19937'");
  const seedText = s.seed;
  if (typeof seedText !== 'string' || !/^[0-9]+$/.test(seedText) || BigInt(seedText) > MAX_SEED) {
    throw stateError('seed', seedText, 'must be an unsigned decimal string in [0, 2^64 - 1]');
  }
  const words = s.mt;
  if (!Array.isArray(words) || words.length !== N) {
    throw stateError('mt', words, `must be an array of ${N} words`);
  }
  const mt = new Int32Array(N);
  let lowerBitsSet = false;
  for (let i = 0; i < N; i++) {
    const w: unknown = words[i];
    if (!isUint32(w)) throw stateError(`mt[${i}]`, w, 'must be an integer in [0, 2^32 - 1]');
    mt[i] = w | 0;
    if (i > 0 ? w !== 0 : (w & UPPER_MASK) !== 0) lowerBitsSet = true;
  }
  // MT19937 uses only the top bit of word 0; if that and the other 623 words are all zero the engine
  // outputs zeros forever. No seed produces that state, so it can only be a corrupted one.
  if (!lowerBitsSet) throw stateError('mt', words, 'is all zero, which no seed produces');
  const index = s.index;
  if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > N) {
    throw stateError('index', index, `must be an integer in [0, ${N}]`);
  }
  const nextNormal = s.nextNormal;
  if (nextNormal !== null && (typeof nextNormal !== 'number' || !Number.isFinite(nextNormal))) {
    throw stateError('nextNormal', nextNormal, 'must be null or a finite number');
  }
  return { seed: BigInt(seedText), mt, index, nextNormal };
}

// ---------------------------------------------------------------------------------------------
// The default generator and tensors

let defaultGen: Generator | null = null;

/**
 * The generator used when none is passed (torch's `default_generator`). Created on first use and
 * seeded from the platform's secure random source, as torch seeds its own from /dev/urandom.
 */
export function defaultGenerator(): Generator {
  if (defaultGen === null) {
    const g = new Generator();
    g.seed();
    defaultGen = g;
  }
  return defaultGen;
}

/** `torch.manual_seed(seed)`: seed the default generator, and return it. */
export function manualSeed(seed: Seed): Generator {
  const g = defaultGen ?? new Generator();
  g.manualSeed(seed); // throws on a bad seed before the default generator is created or changed
  defaultGen = g;
  return g;
}

export type GeneratorOption = Generator | readonly Generator[] | null | undefined;

/**
 * `value instanceof Generator`, false instead of throwing for a Proxy whose getPrototypeOf trap
 * throws (instanceof reads the prototype chain). Internal: not exported from the package entry.
 */
export function isGenerator(value: unknown): value is Generator {
  try {
    return value instanceof Generator;
  } catch {
    return false;
  }
}

const RANDN_OPTION_KEYS: ReadonlySet<string> = new Set(['generator', 'dtype']);

function checkGenerator(g: unknown, field: string): Generator {
  if (!isGenerator(g)) {
    throw new ArgumentError({
      field,
      value: g,
      problem: 'must be a Generator',
      fix: 'pass new Generator().manualSeed(seed), a list of them (one per batch element), or nothing.',
    });
  }
  return g;
}

/**
 * Check a `generator` option as diffusers' `randn_tensor` reads it, drawing nothing: nothing
 * (null: the default generator), one Generator, or a plain list of them, one per batch element
 * (a list of one is that generator for the whole tensor). `batch` is the shape's first dim,
 * undefined for a 0-d shape. Returns the generator, or a checked copy of the list, so the caller's
 * objects are read once. Internal: not exported from the package entry.
 */
export function checkGenerators(
  option: unknown,
  batch: number | undefined,
  field = 'generator',
): Generator | Generator[] | null {
  // A list is a plain array, which Array.isArray and Array.from read; a Proxy of one may throw there.
  return guarded(
    () => {
      if (option === undefined || option === null) return null;
      if (!Array.isArray(option)) return checkGenerator(option, field);
      const list = Array.from(option as readonly unknown[]);
      if (list.length === 1) return checkGenerator(list[0], `${field}[0]`);
      if (batch === undefined || list.length !== batch) {
        throw new ArgumentError({
          field,
          value: list.length, // the length is what is wrong; printing generators would dump their state
          problem:
            batch === undefined
              ? `is a list of ${list.length} generators, but a 0-d shape has no batch axis to split`
              : `is a list of ${list.length} generators, but the batch size is ${batch}; they must be equal`,
          fix: 'pass one generator per batch element, or a single generator for the whole tensor.',
        });
      }
      // Every element is checked before anything draws, so a bad list leaves all generators untouched.
      return list.map((g, i) => checkGenerator(g, `${field}[${i}]`));
    },
    unreadable(ArgumentError, field, 'pass a Generator or a plain array of them.'),
  );
}

/**
 * The dtype a raw noise buffer is drawn in: Float32Array, Float64Array, or a Uint16Array, which
 * `randnInto` (given no `type`) fills with float16 bits; else null.
 */
function noiseDTypeOf(out: unknown): DType | null {
  if (!ArrayBuffer.isView(out)) return null;
  return DTYPES.find((dtype) => holds(out, dtype)) ?? null;
}

/** One torch.randn call of `length` elements in `dtype` from `g`, into out[offset ..). */
function drawInto(g: Generator, out: TensorData, dtype: DType, offset: number, length: number): void {
  switch (dtype) {
    case 'float32':
      g.fillRandn(out as Float32Array, offset, length);
      return;
    case 'float64':
      g.fillRandnFloat64(out as Float64Array, offset, length);
      return;
    case 'float16':
      g.fillRandnFloat16(out as Uint16Array, offset, length);
      return;
    default:
      assertNever(dtype, 'dtype');
  }
}

function fillRandnChecked(
  out: TensorData,
  shape: readonly number[],
  generator: GeneratorOption,
  field: string,
): void {
  const n = sizeOf(shape, field);
  // Read the caller's array once; sizeOf has checked it holds n >= 0 elements' worth of integers.
  const dims = guarded(() => [...shape], unreadable(ShapeError, field, 'pass a plain array.'));
  const dtype = noiseDTypeOf(out);
  if (dtype === null || out.length !== n) {
    throw new ShapeError({
      field: 'out',
      value: out,
      problem: `must be a Float32Array, Float64Array or Uint16Array (float16 bits) of ${n} elements, the size of ${formatDims(dims)}`,
      fix: 'allocate e.g. new Float32Array(size) for the shape.',
    });
  }
  const gens = checkGenerators(generator, dims.length > 0 ? dims[0] : undefined);
  if (gens === null) drawInto(defaultGenerator(), out, dtype, 0, n);
  else if (!Array.isArray(gens)) drawInto(gens, out, dtype, 0, n);
  else {
    // Each generator draws torch.randn((1, *shape[1:])) -- one call per batch element -- concatenated.
    const per = n / gens.length;
    for (let i = 0; i < gens.length; i++) drawInto(gens[i], out, dtype, i * per, per);
  }
}

/**
 * Allocation-free `randnTensor`: fill `out` (length = product of `dims`) exactly as
 * `randnTensor(dims, { generator, dtype })` would, the dtype being the array's: a Float32Array
 * gets float32 noise, a Float64Array float64, a Uint16Array float16 bits.
 */
export function randnInto(
  out: Float32Array | Float64Array | Uint16Array,
  dims: readonly number[],
  generator?: GeneratorOption,
): void {
  fillRandnChecked(out, dims, generator, 'dims');
}

/** Options of `randnTensor`. */
export interface RandnOptions<T extends DType = DType> {
  /** One Generator, one per batch element, or none (the default generator). */
  generator?: GeneratorOption;
  /** The dtype drawn in, as torch's `dtype=` (default 'float32'). Each dtype is its own stream. */
  dtype?: T;
}

/**
 * diffusers' `randn_tensor(shape, generator, dtype)` on the CPU: `torch.randn(shape, generator=g,
 * dtype=dtype)` for one generator (or none: the default generator), or one
 * `torch.randn((1, *shape[1:]), dtype=dtype)` per batch element for a list of generators.
 *
 * `dtype` (default 'float32') is drawn in, not converted to: as in torch, float16 and float64 are
 * different streams from float32 (other uniforms, other arithmetic), so a Python pipeline in float16
 * (`randn_tensor(..., dtype=torch.float16)`) is matched only with `dtype: 'float16'`. Agreement with
 * torch 1.13 on Linux x86-64: float16 bit for bit (`{ data: Uint16Array of half bits, type:
 * 'float16' }`); float64 within a few ulps (libm's log / sin / cos against JavaScript's); float32
 * within 5e-7 (torch's AVX2 polynomials against ours). The generator ends where torch's ends.
 */
export function randnTensor(shape: readonly number[], options?: RandnOptions<'float32'>): Tensor<'float32'>;
export function randnTensor(shape: readonly number[], options: RandnOptions<'float64'>): Tensor<'float64'>;
export function randnTensor(shape: readonly number[], options: RandnOptions<'float16'>): Tensor<'float16'>;
export function randnTensor(shape: readonly number[], options?: RandnOptions): Tensor;
export function randnTensor(shape: readonly number[], options?: RandnOptions): Tensor {
  let generator: GeneratorOption;
  let dtype: unknown = 'float32';
  if (checkOptionKeys(options, RANDN_OPTION_KEYS, 'options', '{ generator, dtype }')) {
    const o = options;
    guarded(
      () => {
        generator = o.generator as GeneratorOption;
        if (o.dtype !== undefined) dtype = o.dtype;
      },
      unreadable(ArgumentError, 'options', 'pass a plain { generator, dtype } object.'),
    );
  }
  const type = checkDType(
    dtype,
    'options.dtype',
    "pass one of those (torch.float32, torch.float64, torch.float16), or omit it for 'float32'.",
  );
  const n = sizeOf(shape, 'shape');
  const dims = guarded(() => [...shape], unreadable(ShapeError, 'shape', 'pass a plain array.'));
  const data = allocate(type, n);
  fillRandnChecked(data, dims, generator, 'shape');
  return tensorOf(data, dims, type);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints (internal: not exported from the package entry)

interface SavedState {
  generator: Generator | null;
  mt: Int32Array;
  mti: number;
  initial: bigint;
  hasNextNormal: boolean;
  nextNormal: number;
}

/**
 * The states of the generators a draw is about to advance, so that a step which draws its eta
 * noise and then throws (a NaN model output) can put them back: after any error the caller's
 * generators are where they were, and re-running the step gives the noise it would have given.
 * Slots are reused, so saving allocates nothing after the first step.
 */
export class GeneratorCheckpoint {
  private readonly slots: SavedState[] = [];
  private count = 0;

  /** Save every generator `option` names (the default generator when none); invalid entries are skipped (the draw refuses them before drawing). */
  save(option: GeneratorOption): void {
    this.count = 0;
    if (option === null || option === undefined) this.push(defaultGenerator());
    else if (isGenerator(option)) this.push(option);
    else if (Array.isArray(option)) for (const g of option) if (isGenerator(g)) this.push(g);
  }

  /** Put the saved states back. */
  restore(): void {
    for (let i = 0; i < this.count; i++) {
      const s = this.slots[i];
      const g = s.generator;
      if (g === null) continue;
      g['mt'].set(s.mt);
      g['mti'] = s.mti;
      g['initial'] = s.initial;
      g['hasNextNormal'] = s.hasNextNormal;
      g['nextNormal'] = s.nextNormal;
    }
  }

  /** Forget the generators (keeping the slots' buffers), so the checkpoint does not keep the caller's generators alive. */
  release(): void {
    for (let i = 0; i < this.count; i++) this.slots[i].generator = null;
    this.count = 0;
  }

  private push(g: Generator): void {
    if (this.count === this.slots.length) {
      this.slots.push({
        generator: g,
        mt: new Int32Array(N),
        mti: 0,
        initial: 0n,
        hasNextNormal: false,
        nextNormal: 0,
      });
    }
    const s = this.slots[this.count++];
    s.generator = g;
    s.mt.set(g['mt']);
    s.mti = g['mti'];
    s.initial = g['initial'];
    s.hasNextNormal = g['hasNextNormal'];
    s.nextNormal = g['nextNormal'];
  }
}
