/**
 * The Mersenne Twister MT19937 as PyTorch's CPU generator runs it (`at::mt19937`,
 * core/MT19937RNGEngine.h): the reference `init_genrand`, the 624-word block update, tempering.
 * The state is an Int32Array of 624 words; every draw is one tempered word.
 */

export const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df | 0;
export const UPPER_MASK = 0x80000000 | 0;
const LOWER_MASK = 0x7fffffff;
const TEMPER_C = 0xefc60000 | 0;

/** `init_genrand` of the reference MT19937 (torch's `init_with_uint32`). */
export function initGenrand(mt: Int32Array, seed32: number): void {
  mt[0] = seed32;
  for (let i = 1; i < N; i++) {
    const prev = mt[i - 1];
    mt[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) | 0;
  }
}

/** Regenerate all 624 words at once (torch's `next_state`, the reference `genrand` block update). */
export function twist(mt: Int32Array): void {
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

/** mt19937's tempering of one engine word, as an unsigned number (every draw goes through it). */
export function tempered(y: number): number {
  y ^= y >>> 11;
  y ^= (y << 7) & 0x9d2c5680;
  y ^= (y << 15) & TEMPER_C;
  y ^= y >>> 18;
  return y >>> 0;
}
