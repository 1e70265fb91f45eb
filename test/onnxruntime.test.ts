/**
 * `ddim/onnxruntime` on real sessions: UNet-shaped ONNX models built in the test (a toy UNet, and
 * the Gaussian-mixture exact denoiser as a graph), run on onnxruntime-node and onnxruntime-web.
 */
import * as ort from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { type GaussianMixture, gaussianMixtureDenoiser } from '../src/exact/models.js';
import {
  ArgumentError,
  DDIMScheduler,
  Generator,
  numberToFloat16,
  type PredictionType,
  randnTensor,
  SCHEDULER_PRESETS,
  ShapeError,
  StateError,
  sample,
  sampleGuided,
  type Tensor,
  type TensorLike,
  toFloat64,
} from '../src/index.js';
import {
  createGuidedUnetDenoiser,
  createUnetDenoiser,
  type OrtSessionLike,
  type OrtTensorLike,
} from '../src/runtime/onnxruntime.js';
import { float16Table } from '../src/tensor/dtype.js';
import { emptyLike } from '../src/tensor/tensor.js';
import { expectClose, fixtureError } from './helpers/fixtures.js';
import { GraphBuilder } from './helpers/onnx-graph.js';
import { gaussianMixtureUnetModel, toyUnetModel, type UnetLayout } from './helpers/onnx-models.js';
import { uniformSource } from './helpers/random.js';

// ---------------------------------------------------------------------------------------------
// Helpers

/** Standard normal numbers: torch.randn(n) with torch.manual_seed(seed). */
function normals(n: number, seed: number): Float32Array {
  return randnTensor([n], { generator: new Generator().manualSeed(seed) }).data;
}

/** Values k/16 in [-1, 1]: exact in float16, so a float16 model sees exactly what float64 code sees. */
function sixteenths(n: number, seed: number): Float32Array {
  const uniform = uniformSource(seed);
  return Float32Array.from({ length: n }, () => Math.round(uniform() * 32 - 16) / 16);
}

function f32Tensor(data: Float32Array, dims: number[]): Tensor {
  return { data, dims, type: 'float32' };
}

function f16Tensor(values: ArrayLike<number>, dims: number[]): Tensor {
  return { data: Uint16Array.from(values, (v) => numberToFloat16(v)), dims, type: 'float16' };
}

async function session(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes);
}

const sdConfig = SCHEDULER_PRESETS.sd.config;

/** A session wrapper recording the feeds' dims and types and the feed objects of each run. */
function recording(inner: OrtSessionLike) {
  const runs: Record<string, OrtTensorLike>[] = [];
  const wrapped: OrtSessionLike = {
    inputNames: inner.inputNames,
    outputNames: inner.outputNames,
    inputMetadata: inner.inputMetadata,
    run: async (feeds, options) => {
      runs.push({ ...feeds });
      return inner.run(feeds, options);
    },
  };
  return { session: wrapped, runs };
}

// ---------------------------------------------------------------------------------------------
// The toy UNet: out = sample * t / 1000 + mean(encoder_hidden_states[b]).

/** What the toy UNet must return for each batch element, in float64. */
function toyExpected(
  x: ArrayLike<number>,
  dims: number[],
  t: number,
  ehs: ArrayLike<number>,
  ehsBatch: number,
) {
  const B = dims[0];
  const n = x.length / B;
  const per = ehs.length / ehsBatch;
  const out = new Float64Array(x.length);
  for (let b = 0; b < B; b++) {
    const e = ehsBatch === 1 ? 0 : b;
    let m = 0;
    for (let j = 0; j < per; j++) m += ehs[e * per + j];
    m /= per;
    for (let i = 0; i < n; i++) out[b * n + i] = (x[b * n + i] * t) / 1000 + m;
  }
  return out;
}

describe('toy UNet layout, float32 model', () => {
  it('runs sample, timestep and encoder_hidden_states and returns out_sample', async () => {
    const unet = await session(toyUnetModel());
    const dims = [2, 4, 3, 3];
    const x = sixteenths(72, 1);
    const ehs = sixteenths(2 * 5 * 6, 2);
    const denoise = createUnetDenoiser(unet, { ort, encoderHiddenStates: f32Tensor(ehs, [2, 5, 6]) });
    const out = await denoise(f32Tensor(x, dims), 981);
    expect(out.dims).toEqual(dims);
    expect(out.type).toBe('float32');
    expect(out.data).toBeInstanceOf(Float32Array);
    expectClose(out.data, toyExpected(x, dims, 981, ehs, 2), 1e-6);
  });

  it('repeats embeddings of batch 1 over the sample batch', async () => {
    const unet = await session(toyUnetModel());
    const dims = [3, 4, 2, 2];
    const x = sixteenths(48, 3);
    const ehs = sixteenths(5 * 6, 4);
    const denoise = createUnetDenoiser(unet, { ort, encoderHiddenStates: f32Tensor(ehs, [1, 5, 6]) });
    const out = await denoise(f32Tensor(x, dims), 1);
    expectClose(out.data, toyExpected(x, dims, 1, ehs, 1), 1e-6);
  });

  it('doubles the batch for guidance: [negative, positive] embeddings, output split uncond then cond', async () => {
    const { session: unet, runs } = recording(await session(toyUnetModel()));
    const dims = [2, 4, 2, 2];
    const x = sixteenths(32, 5);
    const pos = sixteenths(2 * 3 * 8, 6);
    const neg = sixteenths(2 * 3 * 8, 7);
    const denoise = createGuidedUnetDenoiser(unet, {
      ort,
      encoderHiddenStates: f32Tensor(pos, [2, 3, 8]),
      negativeEncoderHiddenStates: f32Tensor(neg, [2, 3, 8]),
    });
    const { cond, uncond } = await denoise(f32Tensor(x, dims), 500);
    expect(cond.dims).toEqual(dims);
    expect(uncond.dims).toEqual(dims);
    expectClose(uncond.data, toyExpected(x, dims, 500, neg, 2), 1e-6, 'uncond');
    expectClose(cond.data, toyExpected(x, dims, 500, pos, 2), 1e-6, 'cond');
    // What the model saw, as diffusers feeds it: cat([x, x]), cat([negative, positive]), t as [1].
    const feeds = runs[0];
    expect(feeds.sample.dims).toEqual([4, 4, 2, 2]);
    expect(Array.from(feeds.sample.data as Float32Array)).toEqual([...x, ...x]);
    expect(feeds.encoder_hidden_states.dims).toEqual([4, 3, 8]);
    expect(Array.from(feeds.encoder_hidden_states.data as Float32Array)).toEqual([...neg, ...pos]);
    expect(feeds.timestep.type).toBe('int64');
    expect(feeds.timestep.dims).toEqual([1]);
    expect(Array.from(feeds.timestep.data as BigInt64Array)).toEqual([500n]);
  });

  it('reuses its input buffers from step to step', async () => {
    const { session: unet, runs } = recording(await session(toyUnetModel()));
    const ehs = sixteenths(2 * 3 * 4, 8);
    const denoise = createGuidedUnetDenoiser(unet, {
      ort,
      encoderHiddenStates: f32Tensor(ehs.slice(0, 12), [1, 3, 4]),
      negativeEncoderHiddenStates: f32Tensor(ehs.slice(12), [1, 3, 4]),
    });
    const x1 = sixteenths(16, 9);
    const x2 = sixteenths(16, 10);
    await denoise(f32Tensor(x1, [1, 4, 2, 2]), 900);
    const second = await denoise(f32Tensor(x2, [1, 4, 2, 2]), 800);
    for (const name of ['sample', 'timestep', 'encoder_hidden_states']) {
      expect(runs[1][name], name).toBe(runs[0][name]);
    }
    expectClose(second.uncond.data, toyExpected(x2, [1, 4, 2, 2], 800, ehs.slice(12), 1), 1e-6);
    // A new batch size needs new buffers, and gets them.
    const x3 = sixteenths(32, 11);
    const third = await denoise(f32Tensor(x3, [2, 4, 2, 2]), 700);
    expect(runs[2].sample).not.toBe(runs[1].sample);
    expect(runs[2].sample.dims).toEqual([4, 4, 2, 2]);
    expectClose(third.cond.data, toyExpected(x3, [2, 4, 2, 2], 700, ehs.slice(0, 12), 1), 1e-6);
  });

  it('survives a runtime that detaches its input buffers (onnxruntime-web proxy worker)', async () => {
    const inner = await session(toyUnetModel());
    // Like onnxruntime-web's proxy: input buffers are transferred to the worker, leaving them detached.
    const detaching: OrtSessionLike = {
      inputNames: inner.inputNames,
      outputNames: inner.outputNames,
      inputMetadata: inner.inputMetadata,
      run: async (feeds) => {
        const result = await inner.run(feeds as ort.InferenceSession.FeedsType);
        const buffers = Object.values(feeds).map((t) => (t.data as Float32Array).buffer);
        structuredClone(buffers, { transfer: buffers as ArrayBuffer[] });
        return result;
      },
    };
    const ehs = sixteenths(12, 12);
    const denoise = createUnetDenoiser(detaching, { ort, encoderHiddenStates: f32Tensor(ehs, [1, 3, 4]) });
    for (const [seed, t] of [
      [13, 999],
      [14, 500],
      [15, 1],
    ]) {
      const x = sixteenths(16, seed);
      const out = await denoise(f32Tensor(x, [1, 4, 2, 2]), t);
      expectClose(out.data, toyExpected(x, [1, 4, 2, 2], t, ehs, 1), 1e-6, `t=${t}`);
    }
  });

  it('feeds extra inputs unchanged (SDXL-style added conditions)', async () => {
    const unet = await session(toyUnetModel({ extraInput: 'text_embeds' }));
    const x = sixteenths(16, 16);
    const ehs = sixteenths(12, 17);
    const denoise = createUnetDenoiser(unet, {
      ort,
      encoderHiddenStates: f32Tensor(ehs, [1, 3, 4]),
      extraInputs: { text_embeds: new ort.Tensor('float32', Float32Array.of(0.25), [1]) },
    });
    const out = await denoise(f32Tensor(x, [1, 4, 2, 2]), 10);
    expectClose(
      out.data,
      toyExpected(x, [1, 4, 2, 2], 10, ehs, 1).map((v) => v + 0.25),
      1e-6,
    );
  });

  it('accepts float64 and float16 samples for a float32 model', async () => {
    const unet = await session(toyUnetModel());
    const x = sixteenths(16, 18);
    const ehs = sixteenths(12, 19);
    const denoise = createUnetDenoiser(unet, { ort, encoderHiddenStates: f16Tensor(ehs, [1, 3, 4]) });
    const want = toyExpected(x, [1, 4, 2, 2], 321, ehs, 1);
    const a = await denoise({ data: Float64Array.from(x), dims: [1, 4, 2, 2], type: 'float64' }, 321);
    const b = await denoise(f16Tensor(x, [1, 4, 2, 2]), 321);
    expect(a.type).toBe('float32');
    expectClose(a.data, want, 1e-6, 'float64 sample');
    expectClose(b.data, want, 1e-6, 'float16 sample');
  });
});

describe('toy UNet: element types and timestep layouts', () => {
  const timestepTypes = ['int64', 'int32', 'float32', 'float16', 'float64'] as const;
  for (const io of ['float32', 'float16'] as const) {
    for (const timestepType of timestepTypes) {
      it(`${io} model, ${timestepType} timestep, guided`, async () => {
        const { session: unet, runs } = recording(await session(toyUnetModel({ io, timestepType })));
        const dims = [2, 4, 2, 2];
        const x = sixteenths(32, 20);
        const pos = sixteenths(2 * 3 * 4, 21);
        const neg = sixteenths(2 * 3 * 4, 22);
        const denoise = createGuidedUnetDenoiser(unet, {
          ort,
          encoderHiddenStates: f32Tensor(pos, [2, 3, 4]),
          negativeEncoderHiddenStates: f32Tensor(neg, [2, 3, 4]),
        });
        const t = 761;
        const { cond, uncond } = await denoise(f32Tensor(x, dims), t);
        const feeds = runs[0];
        expect(feeds.sample.type).toBe(io);
        expect(feeds.encoder_hidden_states.type).toBe(io);
        expect(feeds.timestep.type).toBe(timestepType);
        expect(cond.type).toBe(io);
        expect(uncond.type).toBe(io);
        // Inputs are exact in float16 (multiples of 1/16, t < 2048), so the only float16 rounding is
        // the output's: at most half an ulp, 2^-11 relative. float32 arithmetic adds ~1e-7.
        const tol = io === 'float16' ? 2 ** -11 : 0;
        for (const [got, ehs] of [
          [uncond, neg],
          [cond, pos],
        ] as const) {
          const want = toyExpected(x, dims, t, ehs, 2);
          const values = toFloat64(got);
          for (let i = 0; i < want.length; i++) {
            expect(Math.abs(values[i] - want[i])).toBeLessThanOrEqual(tol * Math.abs(want[i]) + 1e-6);
          }
        }
      });
    }
  }

  it('feeds a scalar timestep to a model that declares one', async () => {
    const { session: unet, runs } = recording(await session(toyUnetModel({ timestepShape: [] })));
    const x = sixteenths(16, 23);
    const ehs = sixteenths(12, 24);
    const denoise = createUnetDenoiser(unet, { ort, encoderHiddenStates: f32Tensor(ehs, [1, 3, 4]) });
    const out = await denoise(f32Tensor(x, [1, 4, 2, 2]), 42);
    expect(runs[0].timestep.dims).toEqual([]);
    expectClose(out.data, toyExpected(x, [1, 4, 2, 2], 42, ehs, 1), 1e-6);
  });

  it('feeds one timestep per model batch element to a model with a static batch-sized timestep', async () => {
    const { session: unet, runs } = recording(await session(toyUnetModel({ timestepShape: [2] })));
    const x = sixteenths(16, 25);
    const ehs = sixteenths(24, 26);
    const denoise = createGuidedUnetDenoiser(unet, {
      ort,
      encoderHiddenStates: f32Tensor(ehs.slice(0, 12), [1, 3, 4]),
      negativeEncoderHiddenStates: f32Tensor(ehs.slice(12), [1, 3, 4]),
    });
    const { cond } = await denoise(f32Tensor(x, [1, 4, 2, 2]), 42);
    expect(runs[0].timestep.dims).toEqual([2]);
    expect(Array.from(runs[0].timestep.data as BigInt64Array)).toEqual([42n, 42n]);
    expectClose(cond.data, toyExpected(x, [1, 4, 2, 2], 42, ehs.slice(0, 12), 1), 1e-6);
    // A batch of 2 would make 4 timesteps: refused by name before onnxruntime sees it.
    await expect(denoise(f32Tensor(sixteenths(32, 27), [2, 4, 2, 2]), 42)).rejects.toThrow(ShapeError);
  });

  it("timestepShape: 'batch' feeds [2 * batch] to a dynamic timestep", async () => {
    const { session: unet, runs } = recording(await session(toyUnetModel()));
    const ehs = sixteenths(24, 28);
    const denoise = createGuidedUnetDenoiser(unet, {
      ort,
      encoderHiddenStates: f32Tensor(ehs.slice(0, 12), [1, 3, 4]),
      negativeEncoderHiddenStates: f32Tensor(ehs.slice(12), [1, 3, 4]),
      timestepShape: 'batch',
    });
    const x = sixteenths(48, 29);
    const { uncond } = await denoise(f32Tensor(x, [3, 4, 2, 2]), 7);
    expect(runs[0].timestep.dims).toEqual([6]);
    expectClose(uncond.data, toyExpected(x, [3, 4, 2, 2], 7, ehs.slice(12), 1), 1e-6);
  });

  it('takes the element types from the options when the session has no inputMetadata', async () => {
    const inner = await session(toyUnetModel({ io: 'float16', timestepType: 'int32' }));
    // onnxruntime before 1.21 had no inputMetadata.
    const old: OrtSessionLike = {
      inputNames: inner.inputNames,
      outputNames: inner.outputNames,
      run: (feeds) => inner.run(feeds as ort.InferenceSession.FeedsType),
    };
    const x = sixteenths(16, 30);
    const ehs = sixteenths(12, 31);
    const denoise = createUnetDenoiser(old, {
      ort,
      encoderHiddenStates: f32Tensor(ehs, [1, 3, 4]),
      sampleType: 'float16',
      timestepType: 'int32',
    });
    const out = await denoise(f32Tensor(x, [1, 4, 2, 2]), 77);
    expect(out.type).toBe('float16');
    expectClose(toFloat64(out), toyExpected(x, [1, 4, 2, 2], 77, ehs, 1), 2 ** -10);
    // Without them the defaults (float32 sample, float32 timestep) do not fit, and onnxruntime says so.
    const wrong = createUnetDenoiser(old, { ort, encoderHiddenStates: f32Tensor(ehs, [1, 3, 4]) });
    await expect(wrong(f32Tensor(x, [1, 4, 2, 2]), 77)).rejects.toThrow(/type|tensor\(float/i);
  });

  it('runs on onnxruntime-web (WebAssembly) too', async () => {
    const unet = await ortWeb.InferenceSession.create(toyUnetModel({ io: 'float16' }));
    const x = sixteenths(32, 32);
    const pos = sixteenths(24, 33);
    const neg = sixteenths(24, 34);
    const denoise = createGuidedUnetDenoiser(unet, {
      ort: ortWeb,
      encoderHiddenStates: f32Tensor(pos, [2, 3, 4]),
      negativeEncoderHiddenStates: f32Tensor(neg, [2, 3, 4]),
    });
    const { cond, uncond } = await denoise(f32Tensor(x, [2, 4, 2, 2]), 999);
    expect(cond.type).toBe('float16');
    expectClose(toFloat64(uncond), toyExpected(x, [2, 4, 2, 2], 999, neg, 2), 2 ** -10, 'uncond');
    expectClose(toFloat64(cond), toyExpected(x, [2, 4, 2, 2], 999, pos, 2), 2 ** -10, 'cond');
    await unet.release();
  });
});

// ---------------------------------------------------------------------------------------------
// Errors

describe('typed errors', () => {
  const ehs = f32Tensor(sixteenths(12, 40), [1, 3, 4]);
  const x = f32Tensor(sixteenths(16, 41), [1, 4, 2, 2]);

  it('names a missing input and the option that fixes it', async () => {
    const unet = await session(toyUnetModel({ names: { sample: 'latents' } }));
    let error: unknown;
    try {
      createUnetDenoiser(unet, { ort, encoderHiddenStates: ehs });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ArgumentError);
    expect((error as Error).message).toMatch(/no input 'sample'/);
    expect((error as Error).message).toMatch(/'latents'/);
    expect((error as Error).message).toMatch(/inputNames\.sample/);
    const fixed = createUnetDenoiser(unet, {
      ort,
      encoderHiddenStates: ehs,
      inputNames: { sample: 'latents' },
    });
    expectClose((await fixed(x, 5)).data, toyExpected(x.data, x.dims, 5, ehs.data, 1), 1e-6);
  });

  it('refuses unknown option and input-name keys, so a misspelt one is never ignored', async () => {
    const unet = await session(toyUnetModel());
    const withOptions = (extra: object) => () =>
      createUnetDenoiser(unet, { ort, encoderHiddenStates: ehs, ...extra } as never);
    expect(withOptions({ timestepShap: 'batch' })).toThrow(/^options\.timestepShap is not a known option/);
    // Negative embeddings belong to the guided denoiser.
    expect(withOptions({ negativeEncoderHiddenStates: ehs })).toThrow(
      /^options\.negativeEncoderHiddenStates is not a known option/,
    );
    expect(withOptions({ inputNames: { encoder_hidden_states: 'context' } })).toThrow(
      /^options\.inputNames\.encoder_hidden_states is not a known option/,
    );
    expect(withOptions({ timestepShap: 'batch' })).toThrow(ArgumentError);
  });

  it('names a missing timestep, embeddings input or output', async () => {
    const noTimestep = await session(toyUnetModel({ names: { timestep: 't' } }));
    expect(() => createUnetDenoiser(noTimestep, { ort, encoderHiddenStates: ehs })).toThrow(
      /no input 'timestep'.*inputNames\.timestep/,
    );
    const otherEhs = await session(toyUnetModel({ names: { ehs: 'context' } }));
    expect(() => createUnetDenoiser(otherEhs, { ort, encoderHiddenStates: ehs })).toThrow(ArgumentError);
    expect(() => createUnetDenoiser(otherEhs, { ort, encoderHiddenStates: ehs })).toThrow(/'context'/);
    const fixed = createUnetDenoiser(otherEhs, {
      ort,
      encoderHiddenStates: ehs,
      inputNames: { encoderHiddenStates: 'context' },
    });
    expect((await fixed(x, 5)).dims).toEqual(x.dims);
    const otherOut = await session(toyUnetModel({ names: { output: 'noise_pred' } }));
    expect(() => createUnetDenoiser(otherOut, { ort, encoderHiddenStates: ehs })).toThrow(
      /no output 'out_sample'.*outputName: 'noise_pred'/,
    );
  });

  it('requires the embeddings the model takes, and both of them under guidance', async () => {
    const unet = await session(toyUnetModel());
    expect(() => createUnetDenoiser(unet, { ort })).toThrow(/encoderHiddenStates is required/);
    expect(() =>
      createGuidedUnetDenoiser(unet, {
        ort,
        encoderHiddenStates: ehs,
      } as unknown as Parameters<typeof createGuidedUnetDenoiser>[1]),
    ).toThrow(/negativeEncoderHiddenStates is required/);
    expect(() =>
      createGuidedUnetDenoiser(unet, {
        ort,
        encoderHiddenStates: ehs,
        negativeEncoderHiddenStates: f32Tensor(sixteenths(15, 1), [1, 3, 5]),
      }),
    ).toThrow(ShapeError);
  });

  it('refuses a model input it cannot feed, and unknown extra inputs', async () => {
    const unet = await session(toyUnetModel({ extraInput: 'time_ids' }));
    expect(() => createUnetDenoiser(unet, { ort, encoderHiddenStates: ehs })).toThrow(
      /extraInputs does not provide the model's input 'time_ids'/,
    );
    const plain = await session(toyUnetModel());
    expect(() =>
      createUnetDenoiser(plain, {
        ort,
        encoderHiddenStates: ehs,
        extraInputs: { time_ids: new ort.Tensor('float32', new Float32Array(1), [1]) },
      }),
    ).toThrow(/not an input of the model/);
  });

  it('refuses element types that disagree with the model or cannot be fed', async () => {
    const unet = await session(toyUnetModel({ io: 'float16' }));
    expect(() => createUnetDenoiser(unet, { ort, encoderHiddenStates: ehs, sampleType: 'float32' })).toThrow(
      ShapeError,
    );
    expect(() =>
      createUnetDenoiser(unet, { ort, encoderHiddenStates: ehs, timestepType: 'float32' }),
    ).toThrow(/disagrees with the model, whose 'timestep' input is int64/);
    const g = new GraphBuilder();
    g.input('sample', 'float32', ['batch', 4, 2, 2]);
    g.input('timestep', 'int32', [1]);
    g.output('out_sample', 'float32', ['batch', 4, 2, 2]);
    g.op('Identity', ['sample'], [], 'out_sample');
    const bytes = g.encode();
    // An unconditional UNet (no encoder_hidden_states): fine without embeddings, refused with them
    // and under guidance.
    const unconditional = await session(bytes);
    const ok = createUnetDenoiser(unconditional, { ort });
    expect((await ok(x, 3)).data).toEqual(x.data);
    expect(() => createUnetDenoiser(unconditional, { ort, encoderHiddenStates: ehs })).toThrow(
      /was given but the model has no 'encoder_hidden_states' input/,
    );
    expect(() =>
      createGuidedUnetDenoiser(unconditional, {
        ort,
        encoderHiddenStates: ehs,
        negativeEncoderHiddenStates: ehs,
      }),
    ).toThrow(ArgumentError);
    const intOut = new GraphBuilder();
    intOut.input('sample', 'float32', ['batch', 4, 2, 2]);
    intOut.input('timestep', 'int32', [1]);
    intOut.output('out_sample', 'int64', ['batch', 4, 2, 2]);
    intOut.cast('sample', 'int64', 'out_sample');
    const badOut = createUnetDenoiser(await session(intOut.encode()), { ort });
    await expect(badOut(x, 3)).rejects.toThrow(/out_sample\.type must be float32, float16 or float64/);
  });

  it('checks dims against the model and the embeddings', async () => {
    const unet = await session(toyUnetModel({ sampleShape: ['batch', 4, 'height', 'width'] }));
    const denoise = createUnetDenoiser(unet, {
      ort,
      encoderHiddenStates: f32Tensor(sixteenths(24, 42), [2, 3, 4]),
    });
    await expect(denoise(f32Tensor(sixteenths(24, 43), [2, 3, 2, 2]), 1)).rejects.toThrow(
      /sample\.dims\[1\].*must be 4/,
    );
    await expect(denoise(f32Tensor(sixteenths(16, 43), [1, 4, 4]), 1)).rejects.toThrow(ShapeError);
    await expect(denoise(f32Tensor(sixteenths(48, 43), [3, 4, 2, 2]), 1)).rejects.toThrow(
      /does not match the encoder hidden states' batch of 2/,
    );
  });

  it('refuses a prediction shaped unlike the sample', async () => {
    const g = new GraphBuilder();
    g.input('sample', 'float32', ['batch', 4, 2, 2]);
    g.input('timestep', 'int64', ['batch']);
    g.output('out_sample', 'float32', null);
    g.op('ReduceMean', ['sample'], [], 'out_sample');
    const denoise = createUnetDenoiser(await session(g.encode()), { ort });
    await expect(denoise(x, 1)).rejects.toThrow(/out_sample\.dims must be \[1, 4, 2, 2\]/);
  });

  it('refuses bad timesteps, overlapping calls and missing ort', async () => {
    const unet = await session(toyUnetModel());
    const denoise = createUnetDenoiser(unet, { ort, encoderHiddenStates: ehs });
    await expect(denoise(x, 1.5)).rejects.toThrow(ArgumentError);
    await expect(denoise(x, Number.NaN)).rejects.toThrow(ArgumentError);
    const first = denoise(x, 10);
    await expect(denoise(x, 20)).rejects.toThrow(StateError);
    expect((await first).dims).toEqual(x.dims);
    expect(() => createUnetDenoiser(unet, { encoderHiddenStates: ehs } as never)).toThrow(/options\.ort/);
    expect(() => createUnetDenoiser({} as never, { ort })).toThrow(/InferenceSession/);
  });
});

// ---------------------------------------------------------------------------------------------
// The Gaussian-mixture exact denoiser as an ONNX graph, sampled through the adapter.

const K = 3;
const SAMPLE_DIMS = [2, 2, 3, 3];
const D = 18;
const HIDDEN = 4;
const SEQ = 3;
const mixture: GaussianMixture = {
  weights: [0.2, 0.5, 0.3],
  means: Array.from({ length: K }, (_, k) => Array.from(normals(D, 100 + k), (v) => 0.8 * v)),
  variances: [0.04, 0.15, 0.5],
};
const projection = sixteenths(HIDDEN * D, 200).map((v) => v / 2);
const positive = sixteenths(2 * SEQ * HIDDEN, 300);
const negative = sixteenths(2 * SEQ * HIDDEN, 301);

/** The mixture seen by batch element b: means shifted by mean_seq(embeddings[b]) @ projection. */
function conditioned(embeddings: Float32Array): GaussianMixture[] {
  const out: GaussianMixture[] = [];
  for (let b = 0; b < SAMPLE_DIMS[0]; b++) {
    const shift = new Float64Array(D);
    for (let h = 0; h < HIDDEN; h++) {
      let m = 0;
      for (let s = 0; s < SEQ; s++) m += embeddings[(b * SEQ + s) * HIDDEN + h];
      m /= SEQ;
      for (let d = 0; d < D; d++) shift[d] += m * projection[h * D + d];
    }
    out.push({ ...mixture, means: mixture.means.map((mu) => mu.map((v, d) => v + shift[d])) });
  }
  return out;
}

/**
 * The TypeScript reference: `gaussianMixtureDenoiser` with batch element b's conditioned mixture
 * (one denoiser per element, each called on its [1, ...] slice). Returns the sample's dtype.
 */
function reference(s: DDIMScheduler, embeddings: Float32Array): (x: TensorLike, t: number) => Tensor {
  const denoisers = conditioned(embeddings).map((m) => gaussianMixtureDenoiser(s, m));
  return (x, t) => {
    const per = x.data.length / x.dims[0];
    const out = emptyLike(
      x,
      x.type === 'float16' ? 'float16' : x.data instanceof Float64Array ? 'float64' : 'float32',
    );
    const itemDims = [1, ...x.dims.slice(1)];
    for (let b = 0; b < x.dims[0]; b++) {
      const item = { data: x.data.subarray(b * per, (b + 1) * per), dims: itemDims, type: x.type };
      out.data.set(denoisers[b](item, t).data as never, b * per);
    }
    return out;
  };
}

function gmmModel(s: DDIMScheduler, prediction: PredictionType, layout: UnetLayout = {}): Uint8Array {
  return gaussianMixtureUnetModel({
    ...layout,
    alphasCumprod: s.alphasCumprod,
    mixture,
    predictionType: prediction,
    projection,
    hidden: HIDDEN,
  });
}

/** The reference seen through float16: input and output rounded to float16, as the model's I/O is. */
function halfPrecision(model: (x: TensorLike, t: number) => TensorLike) {
  const table = float16Table();
  return (x: TensorLike, t: number): TensorLike => {
    const x16 = Float32Array.from(toFloat64(x), (v) => table[numberToFloat16(v)]);
    const out = toFloat64(model({ data: x16, dims: x.dims, type: 'float32' }, t));
    return { data: Uint16Array.from(out, numberToFloat16), dims: [...x.dims], type: 'float16' };
  };
}

function initialNoise(): Tensor {
  return randnTensor(SAMPLE_DIMS, { generator: new Generator().manualSeed(400) });
}

const STEPS = 25;
const GUIDANCE = 5;

describe('Gaussian-mixture exact denoiser as ONNX', () => {
  for (const prediction of ['epsilon', 'v_prediction', 'sample'] as const) {
    it(`one call agrees with gaussianMixtureDenoiser (${prediction})`, async () => {
      const s = new DDIMScheduler({ ...sdConfig, prediction_type: prediction });
      const unet = await session(gmmModel(s, prediction));
      const denoise = createUnetDenoiser(unet, {
        ort,
        encoderHiddenStates: f32Tensor(positive, [2, SEQ, HIDDEN]),
      });
      const want = reference(s, positive);
      for (const t of [999, 501, 20, 1]) {
        const x = f32Tensor(
          Float32Array.from(normals(2 * D, t), (v) => 1.5 * v),
          SAMPLE_DIMS,
        );
        expectClose((await denoise(x, t)).data, want(x, t).data, 1e-5, `t=${t}`);
      }
    });
  }

  for (const prediction of ['epsilon', 'v_prediction', 'sample'] as const) {
    it(`sample() through the adapter equals sample() with gaussianMixtureDenoiser (float32, ${prediction})`, async () => {
      const s = new DDIMScheduler({ ...sdConfig, prediction_type: prediction });
      const unet = await session(gmmModel(s, prediction));
      const denoise = createUnetDenoiser(unet, {
        ort,
        encoderHiddenStates: f32Tensor(positive, [2, SEQ, HIDDEN]),
      });
      const options = { numInferenceSteps: STEPS, latents: initialNoise() };
      const got = (await sample(s, denoise, options)).latents;
      const want = (await sample(s, reference(s, positive), options)).latents;
      expect(got.type).toBe('float32');
      const err = fixtureError(got.data, want.data);
      console.log(`float32 ${prediction} sampling: max scaled error ${err.toExponential(2)}`);
      expect(err).toBeLessThanOrEqual(1e-4);
    });
  }

  it(`sampleGuided() through the adapter equals sampleGuided() with gaussianMixtureDenoiser (float32, guidance ${GUIDANCE}, rescale 0.7)`, async () => {
    const s = new DDIMScheduler(sdConfig);
    const unet = await session(gmmModel(s, 'epsilon'));
    const denoise = createGuidedUnetDenoiser(unet, {
      ort,
      encoderHiddenStates: f32Tensor(positive, [2, SEQ, HIDDEN]),
      negativeEncoderHiddenStates: f32Tensor(negative, [2, SEQ, HIDDEN]),
    });
    const cond = reference(s, positive);
    const uncond = reference(s, negative);
    const options = {
      numInferenceSteps: STEPS,
      latents: initialNoise(),
      guidanceScale: GUIDANCE,
      guidanceRescale: 0.7,
    };
    const got = (await sampleGuided(s, denoise, options)).latents;
    const want = (await sampleGuided(s, (x, t) => ({ cond: cond(x, t), uncond: uncond(x, t) }), options))
      .latents;
    const err = fixtureError(got.data, want.data);
    console.log(`float32 guided sampling: max scaled error ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-4);
    // Guidance matters here: the unguided result is far away (so swapped halves could not pass).
    const plain = (await sample(s, cond, { numInferenceSteps: STEPS, latents: initialNoise() })).latents;
    expect(fixtureError(plain.data, want.data)).toBeGreaterThan(1e-2);
  });

  it('sampleGuided() with eta = 1 and a seeded generator: the same noise reaches both', async () => {
    const s = new DDIMScheduler(sdConfig);
    const unet = await session(gmmModel(s, 'epsilon', { timestepType: 'float32' }));
    const denoise = createGuidedUnetDenoiser(unet, {
      ort,
      encoderHiddenStates: f32Tensor(positive.subarray(0, SEQ * HIDDEN), [1, SEQ, HIDDEN]),
      negativeEncoderHiddenStates: f32Tensor(negative.subarray(0, SEQ * HIDDEN), [1, SEQ, HIDDEN]),
    });
    // Embeddings of batch 1 are repeated: both batch elements see element 0's mixture.
    const one = (e: Float32Array) => {
      const firstTwice = new Float32Array(2 * SEQ * HIDDEN);
      firstTwice.set(e.subarray(0, SEQ * HIDDEN));
      firstTwice.set(e.subarray(0, SEQ * HIDDEN), SEQ * HIDDEN);
      return reference(s, firstTwice);
    };
    const cond = one(positive);
    const uncond = one(negative);
    const options = () => ({
      numInferenceSteps: STEPS,
      eta: 1,
      generator: new Generator().manualSeed(7),
      shape: SAMPLE_DIMS,
      guidanceScale: GUIDANCE,
    });
    const got = (await sampleGuided(s, denoise, options())).latents;
    const want = (await sampleGuided(s, (x, t) => ({ cond: cond(x, t), uncond: uncond(x, t) }), options()))
      .latents;
    const err = fixtureError(got.data, want.data);
    console.log(`float32 guided eta=1 sampling: max scaled error ${err.toExponential(2)}`);
    expect(err).toBeLessThanOrEqual(1e-4);
  });

  // float16 tolerance. The model's I/O rounds the sample and both predictions to 11 significant bits
  // (relative error <= 2^-11 ~ 4.9e-4) at every step; guidance 5 turns prediction errors into up to
  // 5 dc - 4 du (9 half-ulps); over 25 steps 1e-2 (~20 * 2^-11) bounds what that can add up to
  // (measured: ~6e-4). Against the same reference seen through float16 (its input and output
  // rounded as the model's are) the float32 bar applies: the adapter itself must add nothing.
  const FLOAT16_TOL = 1e-2;

  it('sampleGuided() on a float16 model with float32 latents', async () => {
    const s = new DDIMScheduler(sdConfig);
    const unet = await session(gmmModel(s, 'epsilon', { io: 'float16', timestepType: 'float16' }));
    const denoise = createGuidedUnetDenoiser(unet, {
      ort,
      encoderHiddenStates: f32Tensor(positive, [2, SEQ, HIDDEN]),
      negativeEncoderHiddenStates: f32Tensor(negative, [2, SEQ, HIDDEN]),
    });
    const cond = reference(s, positive);
    const uncond = reference(s, negative);
    const options = { numInferenceSteps: STEPS, latents: initialNoise(), guidanceScale: GUIDANCE };
    const got = (await sampleGuided(s, denoise, options)).latents;
    expect(got.type).toBe('float32');
    const want = (await sampleGuided(s, (x, t) => ({ cond: cond(x, t), uncond: uncond(x, t) }), options))
      .latents;
    const err = fixtureError(got.data, want.data);
    const c16 = halfPrecision(cond);
    const u16 = halfPrecision(uncond);
    const want16 = (await sampleGuided(s, (x, t) => ({ cond: c16(x, t), uncond: u16(x, t) }), options))
      .latents;
    const err16 = fixtureError(got.data, want16.data);
    console.log(
      `float16 guided sampling: max scaled error ${err.toExponential(2)}; vs float16-rounded reference ${err16.toExponential(2)}`,
    );
    expect(err).toBeLessThanOrEqual(FLOAT16_TOL);
    expect(err16).toBeLessThanOrEqual(1e-4);
  });

  it('sample() on a float16 model with float16 latents (diffusers fp16 pipeline)', async () => {
    const s = new DDIMScheduler(sdConfig);
    const unet = await session(gmmModel(s, 'epsilon', { io: 'float16' }));
    const denoise = createUnetDenoiser(unet, {
      ort,
      encoderHiddenStates: f32Tensor(positive, [2, SEQ, HIDDEN]),
    });
    const ref = reference(s, positive);
    const init16 = f16Tensor(initialNoise().data, SAMPLE_DIMS);
    const got = (await sample(s, denoise, { numInferenceSteps: STEPS, latents: init16 })).latents;
    expect(got.type).toBe('float16');
    const want = (await sample(s, ref, { numInferenceSteps: STEPS, latents: initialNoise() })).latents;
    const err = fixtureError(toFloat64(got), want.data);
    const want16 = (await sample(s, halfPrecision(ref), { numInferenceSteps: STEPS, latents: init16 }))
      .latents;
    const err16 = fixtureError(toFloat64(got), toFloat64(want16));
    console.log(
      `float16 latents sampling: max scaled error ${err.toExponential(2)}; vs float16-rounded reference ${err16.toExponential(2)}`,
    );
    expect(err).toBeLessThanOrEqual(FLOAT16_TOL);
    expect(err16).toBeLessThanOrEqual(1e-4);
  });

  it('one float16 call is the float16 rounding of gaussianMixtureDenoiser', async () => {
    const s = new DDIMScheduler({ ...sdConfig, prediction_type: 'v_prediction' });
    const unet = await session(gmmModel(s, 'v_prediction', { io: 'float16', timestepType: 'float32' }));
    const denoise = createUnetDenoiser(unet, {
      ort,
      encoderHiddenStates: f16Tensor(positive, [2, SEQ, HIDDEN]),
    });
    const want = reference(s, positive);
    for (const t of [999, 400, 1]) {
      const x = f16Tensor(normals(2 * D, 500 + t), SAMPLE_DIMS);
      const got = toFloat64(await denoise(x, t));
      const exact = toFloat64(
        want({ data: Float32Array.from(toFloat64(x)), dims: SAMPLE_DIMS, type: 'float32' }, t),
      );
      const scale = Math.max(1, ...exact.map(Math.abs));
      // Half an ulp of float16 for the output rounding, plus float32 arithmetic inside the model.
      for (let i = 0; i < exact.length; i++) {
        expect(Math.abs(got[i] - exact[i]), `t=${t} i=${i}`).toBeLessThanOrEqual(
          2 ** -11 * Math.abs(exact[i]) + 1e-5 * scale,
        );
      }
    }
  });

  it('runs on onnxruntime-web too: sampleGuided() agrees with onnxruntime-node', async () => {
    const s = new DDIMScheduler(sdConfig);
    const bytes = gmmModel(s, 'epsilon', { io: 'float16' });
    const options = () => ({ numInferenceSteps: 10, latents: initialNoise(), guidanceScale: GUIDANCE });
    const results: Tensor[] = [];
    for (const [runtime, unet] of [
      [ort, await ort.InferenceSession.create(bytes)],
      [ortWeb, await ortWeb.InferenceSession.create(bytes)],
    ] as const) {
      const denoise = createGuidedUnetDenoiser(unet, {
        ort: runtime,
        encoderHiddenStates: f32Tensor(positive, [2, SEQ, HIDDEN]),
        negativeEncoderHiddenStates: f32Tensor(negative, [2, SEQ, HIDDEN]),
      });
      results.push((await sampleGuided(s, denoise, options())).latents);
      await unet.release();
    }
    const err = fixtureError(results[1].data, results[0].data);
    console.log(
      `onnxruntime-web vs onnxruntime-node guided sampling: max scaled error ${err.toExponential(2)}`,
    );
    expect(err).toBeLessThanOrEqual(1e-4);
  });
});
