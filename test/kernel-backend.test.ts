/**
 * The suite runs twice, once per kernel backend (vitest.config.ts): each project really runs on
 * its own, and the library reports it through the public API.
 */
import { describe, expect, it } from 'vitest';
import { DDIMScheduler, Generator, kernelBackend, randnTensor } from '../src/index.js';
import { activeKernels } from '../src/wasm/backend.js';

describe('the project’s kernel backend', () => {
  it('is the one the project names', () => {
    expect(['wasm', 'js']).toContain(process.env.DDIM_TEST_BACKEND);
    expect(kernelBackend()).toBe(process.env.DDIM_TEST_BACKEND);
    expect(activeKernels() === null).toBe(process.env.DDIM_TEST_BACKEND === 'js');
  });

  it('steps and draws on it (the shared instance holds the engine state of the last draw on wasm)', () => {
    const g = new Generator().manualSeed(1);
    const x = randnTensor([1, 4, 8, 8], { generator: g });
    const s = new DDIMScheduler().setTimesteps(10);
    const r = s.step(x, s.timesteps[0], x, { eta: 1, generator: g });
    expect(r.prevSample.data.every(Number.isFinite)).toBe(true);
    const k = activeKernels();
    if (k !== null) {
      const words = (k.exports.MT_STATE.value as number) >> 2;
      const state = Array.from(k.view().i32.subarray(words, words + 624), (w) => w >>> 0);
      expect(state).toEqual(g.getState().mt);
    }
  });
});
