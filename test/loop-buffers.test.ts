/**
 * Where the sampling loop's buffers live (src/sampling/loop-buffers.ts): in a kernel arena on the
 * WebAssembly backend (the step then reads and writes them in place), ordinary arrays on the JS
 * path; the result is the caller's either way (copied out of the arena), the arena is reused by
 * the next loop, and the numbers are the JS path's (bit for bit in float64 lanes).
 */
import { describe, expect, it } from 'vitest';
import { DDIMScheduler, Generator, kernelBackend, sample, sampleGuided, type Tensor } from '../src/index.js';
import { instanceHolding, type KernelInstance } from '../src/wasm/instance.js';
import { onJs, withFloat64Lanes } from './helpers/backend.js';

const dims = [2, 4, 12, 10];

function denoiser(seen: Tensor[]) {
  return (x: Tensor, t: number) => {
    seen.push(x);
    return { data: Float32Array.from(x.data, (v, i) => 0.3 * v + 0.01 * Math.sin(i + t)), dims: x.dims };
  };
}

const options = (seed: number) => ({
  shape: dims,
  numInferenceSteps: 6,
  eta: 1,
  generator: new Generator().manualSeed(seed),
});

describe('the sampling loop’s buffers', () => {
  it('live in one kernel arena on the WebAssembly backend, ordinary arrays on the JS one; the result is the caller’s', async () => {
    const seen: Tensor[] = [];
    const r = await sample(new DDIMScheduler(), denoiser(seen), options(1));
    const arenas = new Set(seen.map((x) => instanceHolding(x.data)));
    expect(arenas.size).toBe(1);
    const [arena] = arenas;
    if (kernelBackend() === 'wasm') {
      expect(arena).not.toBeNull();
      expect((arena as KernelInstance).isSealed).toBe(true);
    } else {
      expect(arena).toBeNull();
    }
    // Two sample buffers in turn: the denoiser saw both.
    expect(new Set(seen.map((x) => x.data)).size).toBe(2);
    expect(instanceHolding(r.latents.data)).toBeNull();
    // Copied out of the arena on wasm (on the JS path the loop hands over its own array).
    if (kernelBackend() === 'wasm')
      expect(seen.some((x) => x.data.buffer === r.latents.data.buffer)).toBe(false);
  });

  it('give the JS path’s latents (float64 lanes: bit for bit), and the next loop reuses the arena', async () => {
    const want = await onJs(() => sample(new DDIMScheduler(), denoiser([]), options(2)));
    const got = await withFloat64Lanes(() => sample(new DDIMScheduler(), denoiser([]), options(2)));
    expect(Array.from(got.latents.data)).toEqual(Array.from(want.latents.data));
    const first: Tensor[] = [];
    const second: Tensor[] = [];
    const a = await withFloat64Lanes(() => sample(new DDIMScheduler(), denoiser(first), options(3)));
    const b = await withFloat64Lanes(() => sample(new DDIMScheduler(), denoiser(second), options(3)));
    expect(Array.from(b.latents.data)).toEqual(Array.from(a.latents.data));
    if (kernelBackend() === 'wasm')
      expect(instanceHolding(second[0].data)).toBe(instanceHolding(first[0].data));
  });

  it('two loops at once each have their own arena, and both give the sequential results', async () => {
    const alone = await withFloat64Lanes(() => sample(new DDIMScheduler(), denoiser([]), options(4)));
    const seenA: Tensor[] = [];
    const seenB: Tensor[] = [];
    const slow = (seen: Tensor[]) => async (x: Tensor, t: number) => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return denoiser(seen)(x, t);
    };
    const [a, b] = await withFloat64Lanes(() =>
      Promise.all([
        sample(new DDIMScheduler(), slow(seenA), options(4)),
        sample(new DDIMScheduler(), slow(seenB), options(4)),
      ]),
    );
    expect(Array.from(a.latents.data)).toEqual(Array.from(alone.latents.data));
    expect(Array.from(b.latents.data)).toEqual(Array.from(alone.latents.data));
    if (kernelBackend() === 'wasm') {
      expect(instanceHolding(seenA[0].data)).not.toBe(instanceHolding(seenB[0].data));
    }
  });

  it('a guided loop keeps its combined prediction in the arena too, with the JS path’s latents', async () => {
    const guided = (x: Tensor, t: number) => ({
      cond: { data: Float32Array.from(x.data, (v, i) => 0.3 * v + 0.02 * Math.cos(i * t)), dims: x.dims },
      uncond: { data: Float32Array.from(x.data, (v) => 0.25 * v), dims: x.dims },
    });
    const run = () =>
      sampleGuided(new DDIMScheduler(), guided, { ...options(5), guidanceScale: 5, guidanceRescale: 0.5 });
    const want = await onJs(run);
    const got = await withFloat64Lanes(run);
    expect(Array.from(got.latents.data)).toEqual(Array.from(want.latents.data));
  });
});
