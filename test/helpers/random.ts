/** Seeded test data (mulberry32 + Box-Muller): reproducible, not PyTorch's stream. */
export function uniformSource(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n standard normal numbers. */
export function gaussians(n: number, seed: number): number[] {
  const u = uniformSource(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u()));
  return out;
}
