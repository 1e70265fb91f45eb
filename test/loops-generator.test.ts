import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  DDIMScheduler,
  defaultGenerator,
  Generator,
  manualSeed,
  randnTensor,
  type Tensor,
} from '../src/index.js';
import { expectClose, f32, type GeneratorLoopCase, loadFixture } from './helpers/fixtures.js';
import { toyModel } from './helpers/models.js';

function runLoop(s: DDIMScheduler, initial: Tensor, eta: number, generator: Generator | null): Tensor {
  let x = initial;
  for (const t of s.timesteps) x = s.step(toyModel(x, t), t, x, { eta, generator }).prevSample;
  return x;
}

describe('loops_generator.json (eta > 0, noise drawn inside step from a seeded generator)', () => {
  const { cases } = loadFixture<GeneratorLoopCase>('loops_generator.json');
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));
  for (const c of cases) {
    it(`${c.config_name} eta=${c.eta} seed=${c.generator_seed}${c.diffusers_gives_nan ? ' (diffusers: NaN)' : ''}`, () => {
      expect(c.model).toBe('x*t/(t+1)');
      const s = new DDIMScheduler(c.config).setTimesteps(c.num_inference_steps);
      const generator = new Generator().manualSeed(c.generator_seed);
      const x = runLoop(s, { data: f32(c.initial), dims: c.shape, type: 'float32' }, c.eta, generator);
      expectClose(x.data, c.final, c.tol, 'final');
    });
  }
});

describe('step noise sources', () => {
  const dims = [2, 3, 4, 4];
  const sample: Tensor = randnTensor(dims, { generator: new Generator().manualSeed(7) });
  const model: Tensor = randnTensor(dims, { generator: new Generator().manualSeed(8) });

  it('a generator draws exactly what randnTensor draws, and the step equals passing that as varianceNoise', () => {
    const s = new DDIMScheduler().setTimesteps(10);
    const drawn = s.step(model, 500, sample, { eta: 1, generator: new Generator().manualSeed(3) });
    const noise = randnTensor(dims, { generator: new Generator().manualSeed(3) });
    const given = s.step(model, 500, sample, { eta: 1, varianceNoise: noise });
    expect(Array.from(drawn.prevSample.data)).toEqual(Array.from(given.prevSample.data));
  });

  it('a list of generators draws one per batch element, as diffusers randn_tensor', () => {
    const s = new DDIMScheduler().setTimesteps(10);
    const gens = () => [new Generator().manualSeed(1), new Generator().manualSeed(2)];
    const drawn = s.step(model, 500, sample, { eta: 1, generator: gens() });
    const given = s.step(model, 500, sample, {
      eta: 1,
      varianceNoise: randnTensor(dims, { generator: gens() }),
    });
    expect(Array.from(drawn.prevSample.data)).toEqual(Array.from(given.prevSample.data));
    expect(() =>
      s.step(model, 500, sample, { eta: 1, generator: [new Generator(), new Generator(), new Generator()] }),
    ).toThrow(ArgumentError);
  });

  it('without generator or varianceNoise, eta > 0 uses the default generator that manualSeed seeds', () => {
    const s = new DDIMScheduler().setTimesteps(10);
    manualSeed(11);
    const a = s.step(model, 500, sample, { eta: 1 });
    manualSeed(11);
    const b = s.step(model, 500, sample, { eta: 1 });
    expect(Array.from(a.prevSample.data)).toEqual(Array.from(b.prevSample.data));
    const c = s.step(model, 500, sample, { eta: 1, generator: new Generator().manualSeed(11) });
    expect(Array.from(c.prevSample.data)).toEqual(Array.from(a.prevSample.data));
    expect(defaultGenerator().initialSeed()).toBe(11n);
  });

  it('generator together with varianceNoise is an ArgumentError, and draws nothing', () => {
    const s = new DDIMScheduler().setTimesteps(10);
    const g = new Generator().manualSeed(5);
    const before = JSON.stringify(g.getState());
    expect(() => s.step(model, 500, sample, { eta: 1, generator: g, varianceNoise: model })).toThrow(
      /generator/,
    );
    expect(JSON.stringify(g.getState())).toBe(before);
  });

  it("the scheduler keeps no reference to the caller's generators after a step (it may live in a long-running server)", () => {
    const s = new DDIMScheduler().setTimesteps(10);
    const g = new Generator().manualSeed(5);
    const saved = () =>
      (s['generatorCheckpoint']['slots'] as { generator: unknown }[]).map((slot) => slot.generator);
    s.step(model, 500, sample, { eta: 1, generator: [g, new Generator()] });
    expect(saved()).toEqual([null, null]);
    const bad = { data: Float32Array.from(model.data, (v, i) => (i === 3 ? Number.NaN : v)), dims };
    expect(() => s.step(bad, 500, sample, { eta: 1, generator: g })).toThrow(/modelOutput\[3\]/);
    expect(saved()).toEqual([null, null]);
  });

  it('a rejected step (bad shapes) leaves the generator untouched; eta = 0 never draws', () => {
    const s = new DDIMScheduler().setTimesteps(10);
    const g = new Generator().manualSeed(5);
    const before = JSON.stringify(g.getState());
    expect(() =>
      s.step({ data: new Float32Array(3), dims: [3] }, 500, sample, { eta: 1, generator: g }),
    ).toThrow();
    s.step(model, 500, sample, { eta: 0, generator: g });
    expect(JSON.stringify(g.getState())).toBe(before);
  });
});
