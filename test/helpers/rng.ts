/**
 * A small seeded PRNG for tests that need random draws independent of the library's own generator
 * (so a bug there cannot hide a bug in what is being tested): random.ts' mulberry32 + Box-Muller,
 * as an object with both draws.
 */
import { uniformSource } from './random.js';

export function seededRandom(seed: number): { uniform(): number; normal(): number } {
  const uniform = uniformSource(seed);
  const normal = () => {
    let u = uniform();
    while (u === 0) u = uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
  return { uniform, normal };
}
