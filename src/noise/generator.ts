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
 * into the output. BigInt is used only to parse and report seeds. Where the WebAssembly backend is
 * in effect (wasm/backend.ts), draws of 16 values or more run on its SIMD kernels
 * (randn-wasm.ts): the same values and the same engine state, bit for bit, about 3x faster.
 *
 * This module is core: no Node built-ins, no dependencies. Secure seeding uses Web Crypto
 * (`globalThis.crypto.getRandomValues`), present in browsers and Node 20.
 */ import { ArgumentError, ShapeError, StateError } from '../errors.js';
import { guarded, unreadable } from '../guard.js';
import { type DType, holds, numberToFloat16, type TensorData } from '../tensor/dtype.js';
import { kernelsFor } from '../wasm/backend.js';
import { boxMullerBlock, doubleBoxMullerBlock, halfBoxMullerBlock, INV_2_53, TWO_PI } from './box-muller.js';
import { initGenrand, N, tempered, twist, UPPER_MASK } from './mt19937.js';
import { randnWasm } from './randn-wasm.js';

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

// ---------------------------------------------------------------------------------------------
// Seeds

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

  /**
   * Copy the engine state into `slot`, allocation-free (GeneratorCheckpoint, which saves it before
   * a step draws and puts it back if the step then fails).
   * @internal
   */
  saveEngineTo(slot: EngineState): void {
    slot.mt.set(this.mt);
    slot.mti = this.mti;
    slot.initial = this.initial;
    slot.hasNextNormal = this.hasNextNormal;
    slot.nextNormal = this.nextNormal;
  }

  /**
   * Put back an engine state saved by `saveEngineTo`.
   * @internal
   */
  restoreEngineFrom(slot: EngineState): void {
    this.mt.set(slot.mt);
    this.mti = slot.mti;
    this.initial = slot.initial;
    this.hasNextNormal = slot.hasNextNormal;
    this.nextNormal = slot.nextNormal;
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
    if (n >= 16) {
      if (!this.drawOnKernels(out, 'float32', offset, n)) this.fillBlocks(out, offset, n, 16, boxMullerBlock);
    } else for (let i = 0; i < n; i++) out[offset + i] = this.normalDouble();
  }

  /**
   * Exactly one `torch.randn(length, generator=g, dtype=torch.float16)` call, written to
   * `out[offset .. offset + length)` as float16 bits. A float16 draw is its own stream (see the
   * module notes), bit for bit torch's on Linux (glibc). No allocation after the first call.
   */
  fillRandnFloat16(out: Uint16Array, offset = 0, length?: number): void {
    checkRange(out, offset, length, 'float16');
    const n = length ?? out.length - offset;
    if (n >= 16) {
      if (!this.drawOnKernels(out, 'float16', offset, n))
        this.fillBlocks(out, offset, n, 16, halfBoxMullerBlock);
    }
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
    if (n >= 16) {
      if (!this.drawOnKernels(out, 'float64', offset, n))
        this.fillBlocks(out, offset, n, 32, doubleBoxMullerBlock);
    } else for (let i = 0; i < n; i++) out[offset + i] = this.normalDouble();
  }

  /**
   * The WebAssembly path of `normal_fill` (noise/randn-wasm.ts: the same values, the engine left in
   * the same state), when that backend is in effect; false (nothing drawn) on the JS path.
   */
  private drawOnKernels(out: TensorData, dtype: DType, offset: number, length: number): boolean {
    const k = kernelsFor(out);
    if (k === null) return false;
    this.mti = randnWasm(k, this.mt, this.mti, out, dtype, offset, length);
    return true;
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
// The default generator

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

/**
 * A `generator` option, as diffusers' `randn_tensor` takes it: one generator, a list with one per
 * batch element, or none (`null` / `undefined`: the default generator, see `manualSeed`).
 */
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

// ---------------------------------------------------------------------------------------------
// Checkpoints (internal: not exported from the package entry)

/** A generator's engine state, as `saveEngineTo` copies it. @internal */
export interface EngineState {
  mt: Int32Array;
  mti: number;
  initial: bigint;
  hasNextNormal: boolean;
  nextNormal: number;
}

interface SavedState extends EngineState {
  generator: Generator | null;
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
      s.generator?.restoreEngineFrom(s);
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
    g.saveEngineTo(s);
  }
}
