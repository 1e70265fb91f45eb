import { describe, expect, it } from 'vitest';
import {
  AbortError,
  ArgumentError,
  classifierFreeGuidance,
  DDIMInverseScheduler,
  DDIMScheduler,
  type Denoiser,
  Generator,
  invert,
  NumericError,
  numberToFloat16,
  rescaleNoiseCfg,
  SCHEDULER_PRESETS,
  ShapeError,
  StateError,
  type StepInfo,
  sample,
  sampleGuided,
  type Tensor,
  type TensorLike,
  tensor,
} from '../src/index.js';
import { float16Table } from '../src/tensor/dtype.js';
import { withFloat64Lanes } from './helpers/backend.js';
import { expectClose, f32, type LoopCase, loadFixture } from './helpers/fixtures.js';
import { toyModel } from './helpers/models.js';
import { uniformSource } from './helpers/random.js';

const SD = SCHEDULER_PRESETS.sd.config;

/** n seeded values in [-2, 2) (not the library's generator: no draw of it is under test here). */
function values(n: number, seed = 1): Float32Array {
  const uniform = uniformSource(seed);
  return Float32Array.from({ length: n }, () => uniform() * 4 - 2);
}

/** The loop by hand, with the scheduler's own step: what sample() must reproduce. */
function manualLoop(s: DDIMScheduler, model: (x: Tensor, t: number) => TensorLike, x: Tensor, n: number) {
  s.setTimesteps(n);
  const x0s: number[][] = [];
  for (const t of s.timesteps) {
    const out = s.step(model(x, t), t, x);
    x0s.push(Array.from(out.predOriginalSample.data));
    x = out.prevSample;
  }
  return { final: x, x0s };
}

describe('sample() reproduces the fixtures loops (loops.json, eta = 0)', () => {
  const { cases } = loadFixture<LoopCase>('loops.json');
  for (const c of cases) {
    it(`${c.config_name} n=${c.num_inference_steps}`, async () => {
      const s = new DDIMScheduler(c.config);
      const latents = tensor(f32(c.initial), c.shape);
      const result = await sample(s, toyModel, { latents, numInferenceSteps: c.num_inference_steps });
      expectClose(result.latents.data, c.final, c.tol, 'final');
      expect(result.steps).toBe(s.timesteps.length);
      expect(Array.from(result.timesteps)).toEqual(Array.from(s.timesteps));
      // The given latents are never written.
      expect(Array.from(latents.data)).toEqual(Array.from(f32(c.initial)));
    });
  }
});

describe('invert() reproduces the fixtures inversion loops (inverse_loops.json)', () => {
  const { cases } = loadFixture<LoopCase>('inverse_loops.json');
  for (const c of cases) {
    it(`${c.config_name} ${JSON.stringify(c.config)} n=${c.num_inference_steps}`, async () => {
      const s = new DDIMInverseScheduler(c.config);
      const x0 = tensor(f32(c.initial), c.shape);
      const result = await invert(s, toyModel, x0, { numInferenceSteps: c.num_inference_steps });
      expect(Array.from(result.timesteps)).toEqual(c.timesteps);
      expectClose(result.latents.data, c.final, c.tol, 'final');
      expect(Array.from(x0.data)).toEqual(Array.from(f32(c.initial)));
    });
  }
});

describe('sample(): steps, callback, async denoisers, buffers', () => {
  const dims = [2, 3, 4];
  const initial = () => tensor(values(24), dims);

  it('the callback sees every step: index, timestep, the new sample and predOriginalSample', async () => {
    const s = new DDIMScheduler(SD);
    const ref = manualLoop(new DDIMScheduler(SD), toyModel, initial(), 12);
    const seen: { index: number; timestep: number; x0: number[]; sample: number[]; total: number }[] = [];
    const result = await sample(s, toyModel, {
      latents: initial(),
      numInferenceSteps: 12,
      onStep: (info: StepInfo) => {
        seen.push({
          index: info.index,
          timestep: info.timestep,
          x0: Array.from(info.predOriginalSample.data),
          sample: Array.from(info.sample.data),
          total: info.total,
        });
      },
    });
    expect(seen.map((v) => v.index)).toEqual([...Array(12).keys()]);
    expect(seen.map((v) => v.timestep)).toEqual(Array.from(s.timesteps));
    expect(seen.every((v) => v.total === 12)).toBe(true);
    for (const [i, v] of seen.entries()) expect(v.x0).toEqual(ref.x0s[i]);
    expect(seen[11].sample).toEqual(Array.from(result.latents.data));
    expect(Array.from(result.latents.data)).toEqual(Array.from(ref.final.data));
  });

  it('awaits async denoisers and async callbacks, with the same result as sync ones', async () => {
    const sync = await sample(new DDIMScheduler(SD), toyModel, { latents: initial(), numInferenceSteps: 8 });
    const order: string[] = [];
    const asyncModel: Denoiser = async (x, t) => {
      order.push(`model ${t}`);
      await new Promise((r) => setTimeout(r, 1));
      return toyModel(x, t);
    };
    const result = await sample(new DDIMScheduler(SD), asyncModel, {
      latents: initial(),
      numInferenceSteps: 8,
      onStep: async (info) => {
        await new Promise((r) => setTimeout(r, 1));
        order.push(`step ${info.timestep}`);
      },
    });
    expect(Array.from(result.latents.data)).toEqual(Array.from(sync.latents.data));
    // Strictly alternating: the next model call waits for the previous callback.
    const s = new DDIMScheduler(SD).setTimesteps(8);
    expect(order).toEqual(Array.from(s.timesteps).flatMap((t) => [`model ${t}`, `step ${t}`]));
  });

  it('hands the denoiser two buffers in turn and onStep one x0 buffer (no allocation per step)', async () => {
    const inputs = new Set<unknown>();
    const x0Buffers = new Set<unknown>();
    const given = initial();
    await sample(
      new DDIMScheduler(SD),
      (x, t) => {
        inputs.add(x.data);
        return toyModel(x, t);
      },
      {
        latents: given,
        numInferenceSteps: 10,
        onStep: (info) => void x0Buffers.add(info.predOriginalSample.data),
      },
    );
    expect(inputs.size).toBe(2);
    expect(inputs.has(given.data)).toBe(false);
    expect(x0Buffers.size).toBe(1);
  });

  it('a denoiser may return the same output buffer at every call (the step reads it before the next)', async () => {
    const own = tensor(new Float32Array(24), dims);
    const reusing: Denoiser = (x, t) => {
      own.data.set(toyModel(x, t).data);
      return own;
    };
    const run = (model: Denoiser) =>
      sample(new DDIMScheduler(SD), model, {
        latents: initial(),
        numInferenceSteps: 10,
        eta: 1,
        generator: new Generator().manualSeed(4),
      });
    const a = await run(reusing);
    const b = await run(toyModel);
    expect(Array.from(a.latents.data)).toEqual(Array.from(b.latents.data));
  });

  it('documents that the sample is only valid during the call: a kept reference is overwritten', async () => {
    let kept: Tensor | null = null;
    let copy: number[] = [];
    await sample(
      new DDIMScheduler(SD),
      (x, t) => {
        if (kept === null) {
          kept = x;
          copy = Array.from(x.data);
        }
        return toyModel(x, t);
      },
      { latents: initial(), numInferenceSteps: 4 },
    );
    expect(Array.from((kept as unknown as Tensor).data)).not.toEqual(copy);
  });

  it('a model output of another dtype is accepted (float64 model, float32 latents)', async () => {
    const f64Model: Denoiser = (x, t) => ({ data: Float64Array.from(toyModel(x, t).data), dims: x.dims });
    // The same numbers both ways: a float64 model output makes the WebAssembly step take float64
    // lanes, so the float32 run takes them too (its default float32 lanes are within a few float32
    // ulps of it, the bound of test/wasm-step.test.ts, not equal).
    const { a, b } = await withFloat64Lanes(async () => ({
      a: await sample(new DDIMScheduler(SD), f64Model, { latents: initial(), numInferenceSteps: 5 }),
      b: await sample(new DDIMScheduler(SD), toyModel, { latents: initial(), numInferenceSteps: 5 }),
    }));
    expect(a.latents.type).toBe('float32');
    expect(Array.from(a.latents.data)).toEqual(Array.from(b.latents.data));
  });

  it('float16 latents run in float16 (the steps as the scheduler takes them)', async () => {
    const bits = Uint16Array.from(values(24), numberToFloat16);
    const lat = { data: bits, dims, type: 'float16' as const };
    // The toy model on decoded float16 values, answering in float32.
    const model = (x: Tensor, t: number): Tensor => ({
      data: Float32Array.from(x.data, (h) => (float16Table()[h] * t) / (t + 1)),
      dims: x.dims,
      type: 'float32',
    });
    const r = await sample(new DDIMScheduler(SD), model, { latents: lat, numInferenceSteps: 6 });
    expect(r.latents.type).toBe('float16');
    const ref = manualLoop(
      new DDIMScheduler(SD),
      model,
      { data: bits.slice(), dims: [...dims], type: 'float16' },
      6,
    );
    expect(r.latents.data.some((h) => float16Table()[h] !== 0)).toBe(true);
    expect(Array.from(r.latents.data)).toEqual(Array.from(ref.final.data));
    expect(Array.from(lat.data)).toEqual(Array.from(Uint16Array.from(values(24), numberToFloat16)));
  });

  it('invert: the callback sees every (ascending) timestep', async () => {
    const s = new DDIMInverseScheduler({ clip_sample: false });
    const seen: [number, number][] = [];
    const r = await invert(s, toyModel, initial(), {
      numInferenceSteps: 10,
      onStep: (info) => void seen.push([info.index, info.timestep]),
    });
    expect(seen).toEqual(Array.from(r.timesteps, (t, i) => [i, t]));
    expect(Array.from(r.timesteps)).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
  });

  it('invert with your own ascending timesteps, sampled back through the same list reversed', async () => {
    const list = [35, 180, 420, 700, 951];
    const inv = await invert(new DDIMInverseScheduler({ clip_sample: false }), toyModel, initial(), {
      timesteps: list,
    });
    expect(Array.from(inv.timesteps)).toEqual(list);
    const s = new DDIMInverseScheduler({ clip_sample: false }).setTimesteps({ timesteps: list });
    let x: Tensor = initial();
    for (const t of list) x = s.step(toyModel(x, t), t, x).prevSample;
    expect(Array.from(inv.latents.data)).toEqual(Array.from(x.data));
    const back = await sample(new DDIMScheduler({ clip_sample: false }), toyModel, {
      latents: inv.latents,
      timesteps: [...list].reverse(),
    });
    expect(Array.from(back.timesteps)).toEqual([...list].reverse());
  });

  it('float64 latents run in float64', async () => {
    const lat = { data: Float64Array.from(values(24)), dims, type: 'float64' as const };
    const model: Denoiser = (x, t) => ({
      data: Float64Array.from(x.data, (v) => (v * t) / (t + 1)),
      dims: x.dims,
      type: 'float64',
    });
    const r = await sample(new DDIMScheduler(SD), model, { latents: lat, numInferenceSteps: 5 });
    expect(r.latents.type).toBe('float64');
    const ref = manualLoop(new DDIMScheduler(SD), model as never, { ...lat, dims: [...dims] }, 5);
    expect(Array.from(r.latents.data)).toEqual(Array.from(ref.final.data));
  });
});

describe('abort', () => {
  const dims = [1, 8];
  const latents = () => tensor(values(8, 7), dims);

  it('aborted inside the denoiser: no further denoiser call, AbortError with the reason as cause', async () => {
    const s = new DDIMScheduler(SD);
    const controller = new AbortController();
    let calls = 0;
    const reason = new Error('user cancelled');
    const run = sample(
      s,
      (x, t) => {
        calls++;
        if (calls === 3) controller.abort(reason);
        return toyModel(x, t);
      },
      { latents: latents(), numInferenceSteps: 20, signal: controller.signal },
    );
    const err = await run.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect((err as AbortError).cause).toBe(reason);
    expect(calls).toBe(3);
    // The scheduler is reusable: a new run equals a run on a fresh scheduler.
    const again = await sample(s, toyModel, { latents: latents(), numInferenceSteps: 20 });
    const fresh = await sample(new DDIMScheduler(SD), toyModel, {
      latents: latents(),
      numInferenceSteps: 20,
    });
    expect(Array.from(again.latents.data)).toEqual(Array.from(fresh.latents.data));
  });

  it('aborted from onStep: the denoiser is not called again', async () => {
    const controller = new AbortController();
    let calls = 0;
    const steps: number[] = [];
    const err = await sample(
      new DDIMScheduler(SD),
      (x, t) => {
        calls++;
        return toyModel(x, t);
      },
      {
        latents: latents(),
        numInferenceSteps: 20,
        signal: controller.signal,
        onStep: (info) => {
          steps.push(info.index);
          if (info.index === 4) controller.abort();
        },
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(calls).toBe(5);
    expect(steps).toEqual([0, 1, 2, 3, 4]);
  });

  it('aborted while an async denoiser runs: stops when it returns, within that step', async () => {
    const controller = new AbortController();
    let calls = 0;
    const s = new DDIMScheduler(SD);
    const err = await sample(
      s,
      async (x, t) => {
        calls++;
        if (calls === 2) setTimeout(() => controller.abort(), 0);
        await new Promise((r) => setTimeout(r, 5));
        return toyModel(x, t);
      },
      { latents: latents(), numInferenceSteps: 20, signal: controller.signal },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(calls).toBe(2);
  });

  it('an already-aborted signal stops before any call and before setTimesteps', async () => {
    const s = new DDIMScheduler(SD);
    let calls = 0;
    const err = await sample(
      s,
      (x, t) => {
        calls++;
        return toyModel(x, t);
      },
      { latents: latents(), signal: AbortSignal.abort() },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(calls).toBe(0);
    expect(s.numInferenceSteps).toBeNull();
  });

  it('invert stops the same way', async () => {
    const controller = new AbortController();
    let calls = 0;
    const s = new DDIMInverseScheduler({ clip_sample: false });
    const err = await invert(
      s,
      (x, t) => {
        calls++;
        return toyModel(x, t);
      },
      latents(),
      {
        numInferenceSteps: 10,
        signal: controller.signal,
        onStep: (i) => (i.index === 1 ? controller.abort() : undefined),
      },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    expect(calls).toBe(2);
    const again = await invert(s, toyModel, latents(), { numInferenceSteps: 10 });
    const fresh = await invert(new DDIMInverseScheduler({ clip_sample: false }), toyModel, latents(), {
      numInferenceSteps: 10,
    });
    expect(Array.from(again.latents.data)).toEqual(Array.from(fresh.latents.data));
  });
});

describe('one loop per scheduler; failures leave it reusable', () => {
  const latents = () => tensor(values(8, 3), [2, 4]);

  it('a second concurrent loop on the same scheduler is a StateError; afterwards it works', async () => {
    const s = new DDIMScheduler(SD);
    const slow: Denoiser = async (x, t) => {
      await new Promise((r) => setTimeout(r, 1));
      return toyModel(x, t);
    };
    const first = sample(s, slow, { latents: latents(), numInferenceSteps: 5 });
    await expect(sample(s, toyModel, { latents: latents(), numInferenceSteps: 7 })).rejects.toThrow(
      StateError,
    );
    const r = await first;
    const ref = await sample(new DDIMScheduler(SD), toyModel, { latents: latents(), numInferenceSteps: 5 });
    expect(Array.from(r.latents.data)).toEqual(Array.from(ref.latents.data));
    await expect(sample(s, toyModel, { latents: latents(), numInferenceSteps: 7 })).resolves.toBeTruthy();
  });

  it('setTimesteps called during the loop is detected', async () => {
    const s = new DDIMScheduler(SD);
    const err = await sample(
      s,
      (x, t) => {
        s.setTimesteps(3);
        return toyModel(x, t);
      },
      { latents: latents(), numInferenceSteps: 5 },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateError);
  });

  it('a non-finite model output raises NumericError and the scheduler is free again', async () => {
    const s = new DDIMScheduler(SD);
    let n = 0;
    const bad: Denoiser = (x, t) => {
      const out = toyModel(x, t);
      if (++n === 2) out.data[1] = Number.NaN;
      return out;
    };
    await expect(sample(s, bad, { latents: latents(), numInferenceSteps: 5 })).rejects.toThrow(NumericError);
    await expect(sample(s, toyModel, { latents: latents(), numInferenceSteps: 5 })).resolves.toBeTruthy();
  });

  it('a denoiser that throws propagates its error', async () => {
    const boom = new Error('model failed');
    await expect(
      sample(
        new DDIMScheduler(SD),
        () => {
          throw boom;
        },
        { latents: latents() },
      ),
    ).rejects.toBe(boom);
  });
});

describe('sampleGuided', () => {
  const dims = [2, 2, 3];
  const latents = () => tensor(values(12, 11), dims);
  // A conditional and an unconditional toy model that differ, so guidance matters.
  const cond = (x: Tensor, t: number): Tensor => toyModel(x, t);
  const uncond = (x: Tensor, t: number): Tensor => {
    const data = new Float32Array(x.data.length);
    for (let i = 0; i < data.length; i++) data[i] = 0.5 * x.data[i] + 0.01 * (i % 5) - 0.02 + 1e-5 * t;
    return { data, dims: x.dims, type: 'float32' };
  };
  const guided = (x: Tensor, t: number) => ({ cond: cond(x, t), uncond: uncond(x, t) });

  for (const [scale, rescale] of [
    [7.5, 0],
    [7.5, 0.7],
    [3, 1],
  ]) {
    it(`equals cfg (+ rescale) by hand at every step: scale ${scale}, rescale ${rescale}`, async () => {
      const cfg = SCHEDULER_PRESETS['sd-zero-snr'].config;
      const s = new DDIMScheduler(cfg).setTimesteps(10);
      let x: Tensor = latents();
      const x0s: number[][] = [];
      for (const t of s.timesteps) {
        let m = classifierFreeGuidance(uncond(x, t), cond(x, t), scale);
        if (rescale > 0) m = rescaleNoiseCfg(m, cond(x, t), rescale);
        const out = s.step(m, t, x);
        x0s.push(Array.from(out.predOriginalSample.data));
        x = out.prevSample;
      }
      const seen: number[][] = [];
      const r = await sampleGuided(new DDIMScheduler(cfg), guided, {
        latents: latents(),
        numInferenceSteps: 10,
        guidanceScale: scale,
        guidanceRescale: rescale,
        onStep: (info) => void seen.push(Array.from(info.predOriginalSample.data)),
      });
      expect(Array.from(r.latents.data)).toEqual(Array.from(x.data));
      expect(seen).toEqual(x0s);
    });
  }

  it('defaults to guidanceScale 7.5 and no rescale, as diffusers', async () => {
    const a = await sampleGuided(new DDIMScheduler(SD), guided, { latents: latents(), numInferenceSteps: 6 });
    const b = await sampleGuided(new DDIMScheduler(SD), guided, {
      latents: latents(),
      numInferenceSteps: 6,
      guidanceScale: 7.5,
      guidanceRescale: 0,
    });
    expect(Array.from(a.latents.data)).toEqual(Array.from(b.latents.data));
  });

  it('guidanceScale <= 1 uses the conditional prediction alone (diffusers: no cfg)', async () => {
    const plain = await sample(new DDIMScheduler(SD), cond, { latents: latents(), numInferenceSteps: 6 });
    for (const scale of [1, 0.5, 0]) {
      const r = await sampleGuided(new DDIMScheduler(SD), guided, {
        latents: latents(),
        numInferenceSteps: 6,
        guidanceScale: scale,
        guidanceRescale: 0.7,
      });
      expect(Array.from(r.latents.data)).toEqual(Array.from(plain.latents.data));
    }
  });

  it('rejects a result without cond / uncond, and bad guidance options', async () => {
    await expect(
      sampleGuided(new DDIMScheduler(SD), ((x: Tensor, t: number) => cond(x, t)) as never, {
        latents: latents(),
      }),
    ).rejects.toThrow(ArgumentError);
    await expect(
      sampleGuided(new DDIMScheduler(SD), guided, { latents: latents(), guidanceScale: Number.NaN }),
    ).rejects.toThrow(ArgumentError);
    await expect(
      sampleGuided(new DDIMScheduler(SD), guided, { latents: latents(), guidanceRescale: -1 }),
    ).rejects.toThrow(ArgumentError);
  });
});

describe('options validation (before the scheduler or any generator is touched)', () => {
  const latents = tensor(values(8), [2, 4]);
  const cases: [string, Record<string, unknown>, new (...args: never[]) => Error][] = [
    ['an unknown option', { latents, numInferenceStep: 10 }, ArgumentError],
    ['guidance options on sample()', { latents, guidanceScale: 7.5 }, ArgumentError],
    ['negative eta', { latents, eta: -1 }, ArgumentError],
    ['strength without initLatents', { latents, strength: 0.5 }, ArgumentError],
    ['latents with initLatents', { latents, initLatents: latents }, ArgumentError],
    ['strength out of [0, 1]', { initLatents: latents, strength: 1.5 }, ArgumentError],
    ['neither latents nor shape', {}, ArgumentError],
    ['shape disagreeing with latents', { latents, shape: [2, 5] }, ShapeError],
    ['a non-integer shape', { shape: [2, 1.5] }, ShapeError],
    ['a shape without batch axis', { shape: [] }, ShapeError],
    ['a generator that is not one', { latents, generator: {} }, ArgumentError],
    ['a non-function onStep', { latents, onStep: 3 }, ArgumentError],
    ['a signal that is not one', { latents, signal: {} }, ArgumentError],
    ['bad latents', { latents: { data: [1, 2], dims: [2] } }, ShapeError],
  ];
  for (const [what, options, kind] of cases) {
    it(`rejects ${what}`, async () => {
      const s = new DDIMScheduler(SD);
      let calls = 0;
      await expect(
        sample(
          s,
          (x, t) => {
            calls++;
            return toyModel(x, t);
          },
          options as never,
        ),
      ).rejects.toThrow(kind);
      expect(calls).toBe(0);
      expect(s.numInferenceSteps).toBeNull();
    });
  }

  it('rejects a bad numInferenceSteps, a non-function denoiser and a non-scheduler', async () => {
    await expect(sample(new DDIMScheduler(SD), toyModel, { latents, numInferenceSteps: 0 })).rejects.toThrow(
      ArgumentError,
    );
    await expect(sample(new DDIMScheduler(SD), 'unet' as never, { latents })).rejects.toThrow(ArgumentError);
    await expect(sample({} as never, toyModel, { latents })).rejects.toThrow(ArgumentError);
    await expect(invert(new DDIMInverseScheduler(), toyModel, latents, { eta: 1 } as never)).rejects.toThrow(
      ArgumentError,
    );
  });
});
