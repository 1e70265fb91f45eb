/**
 * The conventions docs/architecture.md promises: one output convention (`out`, last or in the
 * options), options read once by one reader, a config resolved once on every path.
 */
import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  DDIMInverseScheduler,
  DDIMScheduler,
  Generator,
  invert,
  randnTensor,
  SCHEDULER_PRESETS,
  type Tensor,
} from '../src/index.js';
import { refModel, refSample } from './helpers/models.js';

describe('one output convention: `out`, the last argument or an options field', () => {
  it('randnTensor(shape, { out }) draws into out exactly what a fresh tensor gets, in out dtype', () => {
    const fresh = randnTensor([2, 3, 5], { generator: new Generator().manualSeed(7) });
    const buffer = new Float32Array(30);
    const viaOut = randnTensor([2, 3, 5], {
      generator: new Generator().manualSeed(7),
      out: { data: buffer, dims: [2, 3, 5] },
    });
    expect(viaOut.data).toBe(buffer);
    expect(Array.from(buffer)).toEqual(Array.from(fresh.data));
    const half = new Uint16Array(30);
    const h = randnTensor([2, 3, 5], {
      generator: new Generator().manualSeed(7),
      out: { data: half, dims: [2, 3, 5], type: 'float16' },
    });
    expect(h.type).toBe('float16');
    expect(Array.from(half)).toEqual(
      Array.from(randnTensor([2, 3, 5], { generator: new Generator().manualSeed(7), dtype: 'float16' }).data),
    );
    expect(() =>
      randnTensor([30], { dtype: 'float64', out: { data: new Float32Array(30), dims: [30] } }),
    ).toThrow(ArgumentError);
    expect(() => randnTensor([31], { out: { data: new Float32Array(30), dims: [30] } })).toThrow(/out/);
  });

  it('addNoise / getVelocity write into options.out, which may be an input itself', () => {
    const s = new DDIMScheduler(SCHEDULER_PRESETS.sd.config);
    const fresh = s.addNoise(refSample, refModel, 500);
    const out: Tensor = {
      data: new Float32Array(refSample.data.length),
      dims: [...refSample.dims],
      type: 'float32',
    };
    const r = s.addNoise(refSample, refModel, 500, { out });
    expect(r.data).toBe(out.data);
    expect(Array.from(out.data)).toEqual(Array.from(fresh.data));
    const inPlace = { data: refSample.data.slice(), dims: [...refSample.dims] };
    s.addNoise(inPlace, refModel, 500, { out: inPlace });
    expect(Array.from(inPlace.data)).toEqual(Array.from(fresh.data));
    const v = s.getVelocity(refSample, refModel, 500, { out });
    expect(Array.from(v.data)).toEqual(Array.from(s.getVelocity(refSample, refModel, 500).data));
    expect(() =>
      s.addNoise(refSample, refModel, 500, {
        out: { data: new Float64Array(refSample.data.length), dims: [...refSample.dims] },
      }),
    ).toThrow(/options.out has dtype float64/);
  });
});

describe('options and configs are read once', () => {
  it('fromConfig reads each config key once and warns about unused keys once', () => {
    const reads = new Map<string, number>();
    const config: Record<string, unknown> = {};
    for (const [key, value] of Object.entries({ ...SCHEDULER_PRESETS.sd.config, skip_prk_steps: true })) {
      Object.defineProperty(config, key, {
        enumerable: true,
        get() {
          reads.set(key, (reads.get(key) ?? 0) + 1);
          return value;
        },
      });
    }
    const warnings: string[] = [];
    const s = DDIMScheduler.fromConfig(
      config,
      { timestep_spacing: 'trailing' },
      { onWarning: (m) => warnings.push(m) },
    );
    expect(s.config.timestep_spacing).toBe('trailing');
    expect(s.config.beta_end).toBe(0.012);
    expect([...reads.values()].every((n) => n === 1)).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/skip_prk_steps/);
    // A resolved config passed back in is taken as is: no second warning.
    new DDIMScheduler(s.config, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(1);
  });

  it('a step options object is read once per step, and an inverse step after a failed step sees none of it', () => {
    const s = new DDIMScheduler(SCHEDULER_PRESETS.sd.config).setTimesteps(10);
    let reads = 0;
    const options = {
      get eta() {
        reads++;
        return 0.5;
      },
      generator: new Generator().manualSeed(1),
    };
    s.step(refModel, s.timesteps[0], refSample, options);
    expect(reads).toBe(1);
    // A step that fails after its options were copied (a wrong varianceNoise) leaves nothing behind.
    expect(() =>
      s.step(refModel, s.timesteps[0], refSample, {
        eta: 1,
        varianceNoise: { data: new Float32Array(1), dims: [1] },
      }),
    ).toThrow();
    const inverse = DDIMInverseScheduler.fromConfig(SCHEDULER_PRESETS.sd.config, undefined, {
      onWarning: () => {},
    }).setTimesteps(10);
    const a = inverse.step(refModel, inverse.timesteps[1], refSample);
    const b = inverse.step(refModel, inverse.timesteps[1], refSample, {});
    expect(Array.from(a.prevSample.data)).toEqual(Array.from(b.prevSample.data));
    expect(() => inverse.step(refModel, inverse.timesteps[1], refSample, { eta: 1 } as object)).toThrow(
      /options.eta/,
    );
  });
});

describe('issue 16 friction: inversion with guidance, the inverse scheduler from a DDIM config', () => {
  const config = { ...SCHEDULER_PRESETS.sd.config, thresholding: false, sample_max_value: 1 };

  it("invert takes guidanceScale as diffusers' DiffEdit inversion does (default 1)", async () => {
    const cond = (x: Tensor) => ({ data: Float32Array.from(x.data, (v) => 0.3 * v + 0.1), dims: x.dims });
    const uncond = (x: Tensor) => ({ data: Float32Array.from(x.data, (v) => -0.2 * v), dims: x.dims });
    const x0 = { data: Float32Array.from({ length: 8 }, (_, i) => (i - 4) / 4), dims: [1, 8] };
    const inverse = () => DDIMInverseScheduler.fromConfig(config, undefined, { onWarning: () => {} });
    const guided = await invert(inverse(), (x) => ({ cond: cond(x), uncond: uncond(x) }), x0, {
      numInferenceSteps: 5,
      guidanceScale: 3,
    });
    const byHand = await invert(
      inverse(),
      (x) => {
        const c = cond(x).data;
        const u = uncond(x).data;
        return { data: u.map((v, i) => v + 3 * (c[i] - v)), dims: x.dims };
      },
      x0,
      { numInferenceSteps: 5 },
    );
    expect(Array.from(guided.latents.data)).toEqual(Array.from(byHand.latents.data));
    // Scale 1 (the default): a guided denoiser's conditional prediction, a plain denoiser as is.
    const one = await invert(inverse(), (x) => ({ cond: cond(x), uncond: uncond(x) }), x0, {
      numInferenceSteps: 5,
    });
    const plain = await invert(inverse(), cond, x0, { numInferenceSteps: 5 });
    expect(Array.from(one.latents.data)).toEqual(Array.from(plain.latents.data));
    await expect(invert(inverse(), cond, x0, { numInferenceSteps: 5, guidanceScale: 3 })).rejects.toThrow(
      /must be \{ cond, uncond \}.*guidanceScale 3 > 1/,
    );
  });

  it("DDIMInverseScheduler.fromConfig of a DDIMScheduler config is silent about DDIM's keys, not about others", () => {
    const warnings: string[] = [];
    const onWarning = (m: string) => warnings.push(m);
    DDIMInverseScheduler.fromConfig({ ...config, _class_name: 'DDIMScheduler' }, undefined, { onWarning });
    expect(warnings).toEqual([]);
    DDIMInverseScheduler.fromConfig({ ...config, skip_prk_steps: true }, undefined, { onWarning });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/"skip_prk_steps"/);
    expect(warnings[0]).not.toMatch(/thresholding|sample_max_value/);
    // Asked for explicitly in overrides, a key the inverse scheduler does not take is reported.
    DDIMInverseScheduler.fromConfig(config, { thresholding: true } as object, { onWarning });
    expect(warnings[1]).toMatch(/"thresholding"/);
  });
});
