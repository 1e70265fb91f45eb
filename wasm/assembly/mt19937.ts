// The mt19937 engine (torch's at::mt19937, the reference MT19937) over the state in MT_STATE,
// four words at a time. src/noise/mt19937.ts holds the reference implementation.
import { MT_INDEX, MT_SCRATCH, MT_STATE } from './layout';

export const N: i32 = 624;
const M: i32 = 397;
const MATRIX_A: i32 = <i32>0x9908b0df;
const UPPER_MASK: i32 = <i32>0x80000000;
const LOWER_MASK: i32 = 0x7fffffff;

/** mt19937's tempering of four words. */
// @ts-ignore: decorator
@inline export function temper(y: v128): v128 {
  y = v128.xor(y, i32x4.shr_u(y, 11));
  y = v128.xor(y, v128.and(i32x4.shl(y, 7), i32x4.splat(<i32>0x9d2c5680)));
  y = v128.xor(y, v128.and(i32x4.shl(y, 15), i32x4.splat(<i32>0xefc60000)));
  return v128.xor(y, i32x4.shr_u(y, 18));
}

/** mt19937's tempering of one word. */
// @ts-ignore: decorator
@inline export function temper1(y: i32): i32 {
  y ^= y >>> 11;
  y ^= (y << 7) & <i32>0x9d2c5680;
  y ^= (y << 15) & <i32>0xefc60000;
  return y ^ (y >>> 18);
}

/** One step of the recurrence on four words: cur = mt[k..k+4), next = mt[k+1..k+5), far = mt[k+M..]. */
// @ts-ignore: decorator
@inline function twist4(cur: v128, next: v128, far: v128): v128 {
  const y = v128.or(v128.and(cur, i32x4.splat(UPPER_MASK)), v128.and(next, i32x4.splat(LOWER_MASK)));
  // -(y & 1) & MATRIX_A: the low bit spread over the word by shifting it to the top and back.
  const odd = v128.and(i32x4.shr_s(i32x4.shl(y, 31), 31), i32x4.splat(MATRIX_A));
  return v128.xor(v128.xor(far, i32x4.shr_u(y, 1)), odd);
}

// @ts-ignore: decorator
@inline function twist1(cur: i32, next: i32, far: i32): i32 {
  const y = (cur & UPPER_MASK) | (next & LOWER_MASK);
  return far ^ (y >>> 1) ^ (-(y & 1) & MATRIX_A);
}

/**
 * Regenerate all 624 words (torch's next_state). Word k reads words k + 1 (not yet updated) and
 * k + 397 (updated only once k >= 227, where it is k - 227): four consecutive words never read
 * one another's new values, so each group of four is one vector step, in the reference order.
 */
export function twist(): void {
  const mt = MT_STATE;
  let k: i32 = 0;
  for (; k + 4 <= N - M; k += 4) {
    const p = mt + (<usize>k << 2);
    v128.store(p, twist4(v128.load(p), v128.load(p, 4), v128.load(p + (<usize>M << 2))));
  }
  for (; k < N - M; k++) {
    const p = mt + (<usize>k << 2);
    store<i32>(p, twist1(load<i32>(p), load<i32>(p, 4), load<i32>(p + (<usize>M << 2))));
  }
  for (; k + 4 <= N - 1; k += 4) {
    const p = mt + (<usize>k << 2);
    v128.store(p, twist4(v128.load(p), v128.load(p, 4), v128.load(p - (<usize>(N - M) << 2))));
  }
  for (; k < N - 1; k++) {
    const p = mt + (<usize>k << 2);
    store<i32>(p, twist1(load<i32>(p), load<i32>(p, 4), load<i32>(p - (<usize>(N - M) << 2))));
  }
  const last = mt + (<usize>(N - 1) << 2);
  store<i32>(last, twist1(load<i32>(last), load<i32>(mt), load<i32>(mt + (<usize>(M - 1) << 2))));
}

/** The next raw (untempered) word, twisting first when the block is used up. */
export function nextRaw(): i32 {
  let i = load<i32>(MT_INDEX);
  if (i >= N) {
    twist();
    i = 0;
  }
  store<i32>(MT_INDEX, i + 1);
  return load<i32>(MT_STATE + (<usize>i << 2));
}

/** The next `count` raw words into MT_SCRATCH, twisting wherever needed. */
export function wordsIntoScratch(count: i32): usize {
  for (let k: i32 = 0; k < count; k++) store<i32>(MT_SCRATCH + (<usize>k << 2), nextRaw());
  return MT_SCRATCH;
}
