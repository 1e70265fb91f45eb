/**
 * The loop's randomness against diffusers: initial latents, img2img noise and eta > 0 noise drawn
 * from the PyTorch-exact Generator in diffusers' order.
 */
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DDIMScheduler,
  type Denoiser,
  Generator,
  img2imgTimesteps,
  randnTensor,
  type SampleOptions,
  sample,
  sampleGuided,
  type Tensor,
} from '../src/index.js';
import {
  expectClose,
  f32,
  type GeneratorLoopCase,
  type Img2ImgCase,
  loadFixture,
} from './helpers/fixtures.js';
import { toyModel } from './helpers/models.js';

const seeded = (seed: number) => new Generator().manualSeed(seed);

describe('loops_generator.json through sample() (eta > 0 noise drawn inside the loop)', () => {
  const { cases } = loadFixture<GeneratorLoopCase>('loops_generator.json');
  it('has cases', () => expect(cases.length).toBeGreaterThan(0));
  for (const c of cases) {
    it(`${c.config_name} eta=${c.eta} seed=${c.generator_seed}`, async () => {
      const r = await sample(new DDIMScheduler(c.config), toyModel, {
        latents: { data: f32(c.initial), dims: c.shape, type: 'float32' },
        numInferenceSteps: c.num_inference_steps,
        eta: c.eta,
        generator: new Generator().manualSeed(c.generator_seed),
      });
      expectClose(r.latents.data, c.final, c.tol, 'final');
    });
  }
});

describe('seed parity of the initial latents', () => {
  /** The sample the denoiser is first called with: the drawn x_T. */
  async function drawnLatents(options: SampleOptions): Promise<number[]> {
    let first: number[] | null = null;
    await sample(
      new DDIMScheduler(),
      (x, t) => {
        first ??= Array.from(x.data);
        return toyModel(x, t);
      },
      options,
    );
    return first ?? [];
  }

  it('draws randn_tensor(shape, generator) * init_noise_sigma before the first model call', async () => {
    const shape = [2, 4, 8, 8];
    const want = randnTensor(shape, { generator: seeded(42) });
    expect(await drawnLatents({ shape, generator: seeded(42), numInferenceSteps: 3 })).toEqual(
      Array.from(want.data),
    );
  });

  it('a list of generators draws one per batch element', async () => {
    const rows = [1, 2, 3].flatMap((seed) =>
      Array.from(randnTensor([1, 20], { generator: seeded(seed) }).data),
    );
    const generator = [seeded(1), seeded(2), seeded(3)];
    expect(await drawnLatents({ shape: [3, 20], generator, numInferenceSteps: 2 })).toEqual(rows);
  });

  it('eta > 0: the step noise follows the initial draw on the same generator, one draw per step', async () => {
    const shape = [1, 4, 4, 4];
    const s = new DDIMScheduler({ clip_sample: false });
    const r = await sample(s, toyModel, { shape, generator: seeded(7), eta: 0.6, numInferenceSteps: 6 });
    // By hand: one generator, initial latents first, then randn_tensor(sample.shape) per step.
    const g = seeded(7);
    const ref = new DDIMScheduler({ clip_sample: false }).setTimesteps(6);
    let x: Tensor = randnTensor(shape, { generator: g });
    for (const t of ref.timesteps) {
      const noise = randnTensor(shape, { generator: g });
      x = ref.step(toyModel(x, t), t, x, { eta: 0.6, varianceNoise: noise }).prevSample;
    }
    expect(Array.from(r.latents.data)).toEqual(Array.from(x.data));
  });

  it('the same seed gives the same run; a generator list of the wrong length fails before drawing', async () => {
    const run = () => sample(new DDIMScheduler(), toyModel, { shape: [2, 16], generator: seeded(5), eta: 1 });
    const a = await run();
    const b = await run();
    expect(Array.from(a.latents.data)).toEqual(Array.from(b.latents.data));
    const g = seeded(9);
    const before = JSON.stringify(g.getState());
    await expect(
      sample(new DDIMScheduler(), toyModel, { shape: [3, 16], generator: [g, seeded(1)] }),
    ).rejects.toThrow(/generator/);
    expect(JSON.stringify(g.getState())).toBe(before);
  });
});

describe('nothing is drawn when the run cannot start', () => {
  it('zero SNR with epsilon prediction: ConfigError from setTimesteps, no model call, generator untouched', async () => {
    const g = seeded(11);
    const before = JSON.stringify(g.getState());
    let calls = 0;
    const err = await sample(
      new DDIMScheduler({ rescale_betas_zero_snr: true, timestep_spacing: 'trailing', clip_sample: false }),
      (x, t) => {
        calls++;
        return toyModel(x, t);
      },
      { shape: [1, 16], generator: g, numInferenceSteps: 10 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(calls).toBe(0);
    expect(JSON.stringify(g.getState())).toBe(before);
  });
});

describe('custom timesteps (options.timesteps)', () => {
  const list = [951, 700, 420, 180, 35];

  it('sample() steps through the list, as setTimesteps({ timesteps }) by hand', async () => {
    const r = await sample(new DDIMScheduler({ clip_sample: false }), toyModel, {
      shape: [2, 8],
      generator: seeded(21),
      eta: 0.3,
      timesteps: list,
    });
    expect(Array.from(r.timesteps)).toEqual(list);
    const s = new DDIMScheduler({ clip_sample: false }).setTimesteps({ timesteps: list });
    const g = seeded(21);
    let x: Tensor = randnTensor([2, 8], { generator: g });
    for (const t of list) x = s.step(toyModel(x, t), t, x, { eta: 0.3, generator: g }).prevSample;
    expect(Array.from(r.latents.data)).toEqual(Array.from(x.data));
  });

  it('img2img keeps the tail of the list: n = its length (diffusers retrieve_timesteps + get_timesteps)', async () => {
    const init: Tensor = { data: Float32Array.from([0.5, -0.5, 1, 0]), dims: [1, 4], type: 'float32' };
    const r = await sample(new DDIMScheduler({ clip_sample: false }), toyModel, {
      initLatents: init,
      strength: 0.6, // int(5 * 0.6) = 3 kept
      timesteps: list,
      generator: seeded(2),
    });
    expect(Array.from(r.timesteps)).toEqual([420, 180, 35]);
  });

  it('numInferenceSteps and timesteps together are an ArgumentError', async () => {
    await expect(
      sample(new DDIMScheduler(), toyModel, { shape: [1, 4], timesteps: list, numInferenceSteps: 5 }),
    ).rejects.toThrow(/timesteps/);
    await expect(
      sample(new DDIMScheduler(), toyModel, { shape: [1, 4], timesteps: 5 as never }),
    ).rejects.toThrow(/timesteps/);
  });
});

describe('img2img: diffusers procedure step by step', () => {
  const { cases } = loadFixture<Img2ImgCase>('img2img_timesteps.json');
  const kept = cases.filter((c) => c.timesteps.length > 0);
  const empty = cases.filter((c) => c.timesteps.length === 0);
  it('covers both kinds of case', () => {
    expect(kept.length).toBeGreaterThan(0);
    expect(empty.length).toBeGreaterThan(0);
  });

  for (const c of kept) {
    it(`${c.config_name} n=${c.num_inference_steps} strength=${c.strength}`, async () => {
      const dims = [2, 4, 4];
      const init: Tensor = {
        data: randnTensor(dims, { generator: seeded(100) }).data,
        dims,
        type: 'float32',
      };
      const initCopy = Array.from(init.data);
      const calls: number[] = [];
      const model: Denoiser = (x, t) => {
        calls.push(t);
        return toyModel(x, t);
      };
      const r = await sample(new DDIMScheduler(c.config), model, {
        initLatents: init,
        strength: c.strength,
        numInferenceSteps: c.num_inference_steps,
        generator: seeded(3),
      });
      // prepare_latents then the loop, by hand, on the fixture's timesteps.
      const s = new DDIMScheduler(c.config).setTimesteps(c.num_inference_steps);
      const noise = randnTensor(dims, { generator: seeded(3) });
      let x = s.addNoise(init, noise, c.timesteps[0]);
      for (const t of c.timesteps) x = s.step(toyModel(x, t), t, x).prevSample;
      expect(Array.from(r.timesteps)).toEqual(c.timesteps);
      expect(calls).toEqual(c.timesteps);
      expect(r.steps).toBe(c.timesteps.length);
      expect(Array.from(r.latents.data)).toEqual(Array.from(x.data));
      expect(Array.from(init.data)).toEqual(initCopy);
    });
  }

  for (const c of empty) {
    it(`${c.config_name} n=${c.num_inference_steps} strength=${c.strength}: zero steps return the init latents`, async () => {
      const init: Tensor = { data: Float32Array.from([1, -2, 3, 0.5]), dims: [1, 4], type: 'float32' };
      const g = seeded(3);
      const before = JSON.stringify(g.getState());
      let calls = 0;
      const r = await sample(
        new DDIMScheduler(c.config),
        (x, t) => {
          calls++;
          return toyModel(x, t);
        },
        { initLatents: init, strength: c.strength, numInferenceSteps: c.num_inference_steps, generator: g },
      );
      expect(calls).toBe(0);
      expect(r.steps).toBe(0);
      expect(r.timesteps.length).toBe(0);
      expect(Array.from(r.latents.data)).toEqual([1, -2, 3, 0.5]);
      expect(r.latents.data).not.toBe(init.data);
      expect(JSON.stringify(g.getState())).toBe(before);
    });
  }

  it('strength defaults to 0.8 (diffusers) and strength 1 keeps every step', async () => {
    const c = kept[0];
    const init: Tensor = { data: Float32Array.from([0.1, 0.2, 0.3, 0.4]), dims: [1, 4], type: 'float32' };
    const a = await sample(new DDIMScheduler(c.config), toyModel, {
      initLatents: init,
      generator: seeded(1),
    });
    expect(Array.from(a.timesteps)).toEqual(
      Array.from(img2imgTimesteps(new DDIMScheduler(c.config), 50, 0.8)),
    );
    const full = await sample(new DDIMScheduler(c.config), toyModel, {
      initLatents: init,
      strength: 1,
      numInferenceSteps: 10,
      generator: seeded(1),
    });
    expect(Array.from(full.timesteps)).toEqual(
      Array.from(new DDIMScheduler(c.config).setTimesteps(10).timesteps),
    );
  });

  it('guided img2img with eta > 0 draws img2img noise first, then one draw per step', async () => {
    const c = kept[0];
    const dims = [1, 16];
    const init: Tensor = randnTensor(dims, { generator: seeded(8) });
    const uncond = (x: Tensor): Tensor => ({
      data: Float32Array.from(x.data, (v) => 0.3 * v),
      dims: x.dims,
      type: 'float32',
    });
    const r = await sampleGuided(
      new DDIMScheduler(c.config),
      (x, t) => ({ cond: toyModel(x, t), uncond: uncond(x) }),
      {
        initLatents: init,
        strength: 0.5,
        numInferenceSteps: 10,
        eta: 1,
        generator: seeded(4),
        guidanceScale: 5,
      },
    );
    const g = seeded(4);
    const s = new DDIMScheduler(c.config);
    const ts = img2imgTimesteps(s, 10, 0.5);
    let x = s.addNoise(init, randnTensor(dims, { generator: g }), ts[0]);
    for (const t of ts) {
      const u = uncond(x);
      const m = toyModel(x, t);
      const guided = { data: u.data.map((v, i) => v + 5 * (m.data[i] - v)), dims, type: 'float32' as const };
      x = s.step(guided, t, x, { eta: 1, varianceNoise: randnTensor(dims, { generator: g }) }).prevSample;
    }
    expect(r.steps).toBe(5);
    expect(Array.from(r.latents.data)).toEqual(Array.from(x.data));
  });
});
