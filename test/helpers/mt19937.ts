/**
 * The inverse of mt19937's tempering: the state word whose engine output is `y`. Tests build
 * generator states (and kernel inputs) that produce chosen outputs with it.
 */
export function untemper(y: number): number {
  let x = y ^ (y >>> 18);
  x ^= (x << 15) & 0xefc60000; // one pass: the second-order term falls off the top
  let z = x;
  for (let i = 0; i < 4; i++) z = x ^ ((z << 7) & 0x9d2c5680); // 7 more correct bits per pass
  return z ^ (z >>> 11) ^ (z >>> 22);
}
