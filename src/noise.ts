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
 * - `torch/csrc/Generator.cpp` `manual_seed`: a seed is read as uint64, and if that overflows as int64,
 *   so negative seeds down to -2^63 wrap to `seed + 2^64`; anything else is an error.
 *
 * The arithmetic of the 16+ path is done in float32 in torch (on x86 with AVX2: `log256_ps` and
 * `sincos256_ps`, float multiplies). We reproduce every float32 rounding step that is a basic operation
 * (1 - u, 2pi * u, sqrt, the final products) exactly with Math.fround, and use correctly rounded
 * double log/sin/cos rounded to float32 where torch uses its polynomial approximations: the result
 * matches torch bit for bit most of the time and is always within a few float32 ulps (< 1e-6).
 *
 * The hot path is allocation-free and BigInt-free: the engine state lives in an Int32Array and the
 * twist runs over the whole block at once. BigInt is used only to parse and report seeds.
 *
 * This module is core: no Node built-ins, no dependencies. Secure seeding uses Web Crypto
 * (`globalThis.crypto.getRandomValues`), present in browsers and Node 20.
 */
import { ArgumentError, ShapeError, StateError } from './errors.js';
import { sizeOf, type Tensor } from './tensor.js';

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

/**
 * Box-Muller on one block of 16 float uniforms, in place: `normal_fill_16_AVX2`. Element k (k < 8) gives
 * u1 = 1 - d[k], element k + 8 gives u2; they become r cos(theta) and r sin(theta). Each fround is one
 * float32 rounding torch performs; log/sin/cos are torch's float approximations, here double rounded.
 */
function boxMuller16(d: Float32Array, j: number): void {
  const end = j + 8;
  for (let k = j; k < end; k++) {
    // 1 - u is exact in float32: u is a multiple of 2^-24 in [0, 1), so u1 is in (0, 1], never log(0).
    const u1 = 1 - d[k];
    const u2 = d[k + 8];
    // -2 * log is exact scaling; sqrt of a float done in double then rounded is the correctly rounded
    // float sqrt (_mm256_sqrt_ps).
    const radius = Math.fround(Math.sqrt(-2 * Math.fround(Math.log(u1))));
    // A product of two floats is exact in double, so one fround is the float multiply.
    const theta = Math.fround(TWO_PI_F32 * u2);
    // The Float32Array store rounds radius * cos (exact in double) like the float multiply; std = 1 and
    // mean = 0 make torch's final fmadd exact.
    d[k] = radius * Math.fround(Math.cos(theta));
    d[k + 8] = radius * Math.fround(Math.sin(theta));
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
    const checked = checkState(state);
    this.initial = checked.seed;
    this.mt.set(checked.mt);
    this.mti = checked.index;
    this.hasNextNormal = checked.nextNormal !== null;
    this.nextNormal = checked.nextNormal ?? 0;
    return this;
  }

  /** One raw 32-bit engine output (torch's `random()`), in [0, 2^32 - 1]. */
  nextUint32(): number {
    if (this.mti >= N) {
      twist(this.mt);
      this.mti = 0;
    }
    let y = this.mt[this.mti++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & (0xefc60000 | 0);
    y ^= y >>> 18;
    return y >>> 0;
  }

  /**
   * Exactly one `torch.randn(length, generator=g)` call, written to `out[offset .. offset + length)`.
   * No allocation.
   */
  fillRandn(out: Float32Array, offset = 0, length = out.length - offset): void {
    checkRange(out, offset, length);
    if (length >= 16) this.fillLarge(out, offset, length);
    else for (let i = 0; i < length; i++) out[offset + i] = this.normalDouble();
  }

  /** `normal_fill` for 16 or more float32 elements. */
  private fillLarge(out: Float32Array, offset: number, length: number): void {
    this.fillUniform24(out, offset, length);
    const end = offset + length;
    for (let j = offset; j + 16 <= end; j += 16) boxMuller16(out, j);
    if (length % 16 !== 0) {
      // torch recomputes the last 16 values from 16 fresh uniforms, overlapping the last full block.
      this.fillUniform24(out, end - 16, 16);
      boxMuller16(out, end - 16);
    }
  }

  /** `count` float uniforms (low 24 bits of each word, times 2^-24) into out[start ..]. */
  private fillUniform24(out: Float32Array, start: number, count: number): void {
    const mt = this.mt;
    let i = this.mti;
    let pos = start;
    const end = start + count;
    while (pos < end) {
      if (i >= N) {
        twist(mt);
        i = 0;
      }
      let stop = pos + (N - i);
      if (stop > end) stop = end;
      for (; pos < stop; pos++) {
        let y = mt[i++];
        y ^= y >>> 11;
        y ^= (y << 7) & 0x9d2c5680;
        y ^= (y << 15) & (0xefc60000 | 0);
        y ^= y >>> 18;
        out[pos] = (y & 0xffffff) * INV_2_24;
      }
    }
    this.mti = i;
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

function checkRange(out: Float32Array, offset: number, length: number): void {
  if (!(out instanceof Float32Array)) {
    throw new ShapeError({
      field: 'out',
      value: out,
      problem: 'must be a Float32Array (torch.randn gives float32)',
      fix: 'pass a Float32Array to fill.',
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
    throw stateError(
      'mt',
      words,
      `must be an array of ${N} words (got ${Array.isArray(words) ? `length ${words.length}` : typeof words})`,
    );
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

function checkGenerator(g: unknown, field: string): Generator {
  if (!(g instanceof Generator)) {
    throw new ArgumentError({
      field,
      value: g,
      problem: 'must be a Generator',
      fix: 'pass new Generator().manualSeed(seed), a list of them (one per batch element), or nothing.',
    });
  }
  return g;
}

function fillRandnChecked(
  out: Float32Array,
  dims: readonly number[],
  generator: GeneratorOption,
  field: string,
) {
  const n = sizeOf(dims, field);
  if (!(out instanceof Float32Array) || out.length !== n) {
    throw new ShapeError({
      field: 'out',
      value: out,
      problem: `must be a Float32Array of ${n} elements, the size of [${dims.join(', ')}]`,
      fix: 'allocate new Float32Array(size) for the shape.',
    });
  }
  if (generator === undefined || generator === null) {
    defaultGenerator().fillRandn(out, 0, n);
    return;
  }
  if (!Array.isArray(generator)) {
    checkGenerator(generator, 'generator').fillRandn(out, 0, n);
    return;
  }
  const list = generator as readonly unknown[];
  // diffusers' randn_tensor: a list of length 1 is treated as that one generator.
  if (list.length === 1) {
    checkGenerator(list[0], 'generator[0]').fillRandn(out, 0, n);
    return;
  }
  const batch = dims.length > 0 ? dims[0] : undefined;
  if (batch === undefined || list.length !== batch) {
    throw new ArgumentError({
      field: 'generator',
      value: list,
      problem:
        batch === undefined
          ? `is a list of ${list.length} generators, but a 0-d shape has no batch axis to split`
          : `is a list of ${list.length} generators, but the batch size (${field}[0]) is ${batch}; they must be equal`,
      fix: 'pass one generator per batch element, or a single generator for the whole tensor.',
    });
  }
  // Check every element before drawing, so a bad list leaves all generators untouched.
  const gens: Generator[] = [];
  for (let i = 0; i < list.length; i++) gens.push(checkGenerator(list[i], `generator[${i}]`));
  // Each generator draws torch.randn((1, *shape[1:])) -- one call per batch element -- concatenated.
  const per = n / batch;
  for (let i = 0; i < batch; i++) gens[i].fillRandn(out, i * per, per);
}

/**
 * Allocation-free `randnTensor`: fill `out` (length = product of `dims`) exactly as
 * `randnTensor(dims, { generator })` would.
 */
export function randnInto(out: Float32Array, dims: readonly number[], generator?: GeneratorOption): void {
  fillRandnChecked(out, dims, generator, 'dims');
}

/**
 * diffusers' `randn_tensor(shape, generator)` on the CPU: `torch.randn(shape, generator=g)` for one
 * generator (or none: the default generator), or one `torch.randn((1, *shape[1:]))` per batch element
 * for a list of generators. Returns a float32 tensor.
 */
export function randnTensor(
  shape: readonly number[],
  options?: { generator?: GeneratorOption },
): Tensor<Float32Array> {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new ArgumentError({
      field: 'options',
      value: options,
      problem: 'must be an object',
      fix: 'pass { generator } or nothing.',
    });
  }
  const data = new Float32Array(sizeOf(shape, 'shape'));
  fillRandnChecked(data, shape, options?.generator, 'shape');
  return { data, dims: [...shape], type: 'float32' };
}
