/**
 * Every specialised path of the fused step (prediction type x bound x eta x
 * use_clipped_model_output x dtype of sample / model output / noise, with and without out
 * buffers) against diffusers' DDIMScheduler.step written out literally, one operation at a time,
 * in float64 (scheduling_ddim.py steps 1-7 and _threshold_sample).
 */
import { describe, expect, it } from 'vitest';
import {
  type DDIMConfig,
  DDIMScheduler,
  type DType,
  NumericError,
  numberToFloat16,
  type PredictionType,
  type Tensor,
  type TensorLike,
  toFloat64,
} from '../src/index.js';
import { useFloat64Lanes } from './helpers/backend.js';
import { gaussians } from './helpers/random.js';
import { sortedQuantile } from './helpers/torch-quantile.js';
import { sqrt32, sqrtOneMinus32, sub32 } from './helpers/torch-scalars.js';

// Batch 2, 3600 values per batch element: more than one 2048-value float16 chunk per element.
const dims = [2, 4, 30, 30];
const N = 7200;
const PER = N / 2;
const STEPS = 20;

type Bound = 'none' | 'clip' | 'threshold';

function configFor(prediction: PredictionType, bound: Bound): Partial<DDIMConfig> {
  return {
    prediction_type: prediction,
    clip_sample: bound === 'clip',
    clip_sample_range: 1.5,
    thresholding: bound === 'threshold',
    dynamic_thresholding_ratio: 0.9,
    sample_max_value: 3,
  };
}

interface Reference {
  prev: number[];
  x0: number[];
  /** Thresholding's s per batch element (for checking the data exercises it). */
  s: number[];
}

/** diffusers' step, literally: its scalars as float32 0-dim tensor ops, the elementwise math in float64. */
function diffusersStep(
  cfg: Required<ReturnType<typeof configFor>>,
  aT: number,
  aPrev: number,
  varianceValue: number,
  eta: number,
  useClipped: boolean,
  modelOutput: Float64Array,
  sample: Float64Array,
  noise: Float64Array | null,
  quantileInFloat32: boolean,
): Reference {
  const sqrtB = sqrtOneMinus32(aT);
  const sqrtA = sqrt32(aT);
  const x0: number[] = [];
  const eps: number[] = [];
  for (let i = 0; i < N; i++) {
    const m = modelOutput[i];
    const x = sample[i];
    if (cfg.prediction_type === 'epsilon') {
      x0.push((x - sqrtB * m) / sqrtA);
      eps.push(m);
    } else if (cfg.prediction_type === 'sample') {
      x0.push(m);
      eps.push((x - sqrtA * m) / sqrtB);
    } else {
      x0.push(sqrtA * x - sqrtB * m);
      eps.push(sqrtA * m + sqrtB * x);
    }
  }
  const s: number[] = [];
  if (cfg.thresholding) {
    for (let b = 0; b < 2; b++) {
      const row = x0
        .slice(b * PER, (b + 1) * PER)
        .map((v) => Math.abs(quantileInFloat32 ? Math.fround(v) : v));
      const q = sortedQuantile(
        [...row].sort((a, b) => a - b),
        cfg.dynamic_thresholding_ratio,
        quantileInFloat32 ? 'float32' : 'float64',
      );
      const sb = Math.min(Math.max(q, 1), cfg.sample_max_value);
      s.push(sb);
      for (let i = b * PER; i < (b + 1) * PER; i++) x0[i] = Math.min(Math.max(x0[i], -sb), sb) / sb;
    }
  } else if (cfg.clip_sample) {
    for (let i = 0; i < N; i++)
      x0[i] = Math.min(Math.max(x0[i], -cfg.clip_sample_range), cfg.clip_sample_range);
  }
  const stdDevT = Math.fround(Math.fround(eta) * sqrt32(varianceValue));
  if (useClipped) for (let i = 0; i < N; i++) eps[i] = (sample[i] - sqrtA * x0[i]) / sqrtB;
  const prev: number[] = [];
  for (let i = 0; i < N; i++) {
    const direction = sqrt32(Math.max(0, sub32(sub32(1, aPrev), Math.fround(stdDevT ** 2)))) * eps[i];
    let p = sqrt32(aPrev) * x0[i] + direction;
    if (eta > 0 && noise !== null) p += stdDevT * noise[i];
    prev.push(p);
  }
  return { prev, x0, s };
}

function tensorIn(values: number[], dtype: DType): Tensor {
  if (dtype === 'float16') return { data: Uint16Array.from(values, numberToFloat16), dims, type: 'float16' };
  if (dtype === 'float64') return { data: Float64Array.from(values), dims, type: 'float64' };
  return { data: Float32Array.from(values), dims, type: 'float32' };
}

function emptyTensor(dtype: DType): Tensor {
  const data =
    dtype === 'float16'
      ? new Uint16Array(N)
      : dtype === 'float64'
        ? new Float64Array(N)
        : new Float32Array(N);
  return { data, dims, type: dtype } as Tensor;
}

/** Largest |got - want| / max(1, |want|) over all elements (Infinity on NaN). */
function worstError(got: TensorLike, want: number[]): number {
  const values = toFloat64(got);
  let worst = 0;
  for (let i = 0; i < N; i++) {
    const e = Math.abs(values[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    worst = Number.isNaN(e) ? Number.POSITIVE_INFINITY : Math.max(worst, e);
  }
  return worst;
}

/** Rounding of the result dtype (float64 results: only the order of float64 operations differs). */
const TOLERANCE: Record<DType, number> = { float64: 1e-12, float32: 2e-7, float16: 1e-3 };

const DTYPES: DType[] = ['float32', 'float64', 'float16'];
const PREDICTIONS: PredictionType[] = ['epsilon', 'sample', 'v_prediction'];
const BOUNDS: Bound[] = ['none', 'clip', 'threshold'];

// Inputs scaled so that clipping cuts some values and thresholding's s lands strictly between
// 1 and sample_max_value in one batch element and at 1 in the other.
const rawSample = gaussians(N, 11).map((v, i) => v * (i < PER ? 0.5 : 1.2));
const rawModel = gaussians(N, 12).map((v, i) => v * (i < PER ? 0.5 : 1));
const rawNoise = gaussians(N, 13);

describe('fused step paths against diffusers in float64', () => {
  // A float64 reference at float32 rounding tolerance (2e-7) is the JS path's arithmetic (float64,
  // rounded once): the WebAssembly step runs it in float64 lanes here. Its default float32 lanes
  // differ from that by up to a few float32 ulps of the terms (2.0e-7 .. 2.9e-7 on these cases),
  // within the bound test/wasm-step.test.ts derives and tests against the JS path.
  useFloat64Lanes();
  for (const prediction of PREDICTIONS)
    for (const bound of BOUNDS)
      for (const eta of [0, 0.7])
        for (const useClipped of [false, true]) {
          it(`${prediction}, ${bound}, eta ${eta}, use_clipped_model_output ${useClipped}: every dtype mix`, () => {
            const config = configFor(prediction, bound);
            const s = new DDIMScheduler(config).setTimesteps(STEPS);
            const t = s.timesteps[16];
            const prevT = s.previousTimestep(t);
            let sawInteriorThreshold = false;
            let sawClip = false;
            for (const sampleType of DTYPES)
              for (const modelType of DTYPES)
                for (const noiseType of eta > 0 ? DTYPES : (['float32'] as DType[]))
                  for (const withOut of [false, true]) {
                    const sample = tensorIn(rawSample, sampleType);
                    const model = tensorIn(rawModel, modelType);
                    const noise = tensorIn(rawNoise, noiseType);
                    const out = withOut
                      ? { prevSample: emptyTensor(sampleType), predOriginalSample: emptyTensor(sampleType) }
                      : undefined;
                    const got = s.step(model, t, sample, {
                      eta,
                      useClippedModelOutput: useClipped,
                      varianceNoise: eta > 0 ? noise : null,
                      out,
                    });
                    // The reference sees exactly the values the inputs hold (float16 decoded).
                    const want = diffusersStep(
                      s.config as Required<ReturnType<typeof configFor>>,
                      s.alphaBarAt(t),
                      s.alphaBarAt(prevT),
                      s.getVariance(t, prevT),
                      eta,
                      useClipped,
                      toFloat64(model),
                      toFloat64(sample),
                      toFloat64(noise),
                      sampleType !== 'float64' && modelType !== 'float64',
                    );
                    if (want.s.some((v) => v > 1.05 && v < 2.95)) sawInteriorThreshold = true;
                    if (want.x0.some((v) => Math.abs(v) === 1.5)) sawClip = true;
                    const label = `sample ${sampleType}, model ${modelType}, noise ${noiseType}, out ${withOut}`;
                    expect(got.prevSample.type, label).toBe(sampleType);
                    expect(got.predOriginalSample.type, label).toBe(sampleType);
                    if (out !== undefined) {
                      expect(got.prevSample.data, label).toBe(out.prevSample.data);
                      expect(got.predOriginalSample.data, label).toBe(out.predOriginalSample.data);
                    }
                    const tol = TOLERANCE[sampleType];
                    expect(worstError(got.predOriginalSample, want.x0), `x0, ${label}`).toBeLessThanOrEqual(
                      tol,
                    );
                    expect(worstError(got.prevSample, want.prev), `prev, ${label}`).toBeLessThanOrEqual(tol);
                  }
            // The data must exercise the bound: thresholding with s strictly inside (1, max), clipping that cuts.
            if (bound === 'threshold') expect(sawInteriorThreshold).toBe(true);
            if (bound === 'clip') expect(sawClip).toBe(true);
          });
        }
});

describe('out buffers', () => {
  const s = new DDIMScheduler(configFor('epsilon', 'threshold')).setTimesteps(STEPS);
  const t = s.timesteps[5];

  it('may alias the inputs on every path (in-place stepping)', () => {
    for (const dtype of DTYPES) {
      for (const eta of [0, 1]) {
        const noise = tensorIn(rawNoise, dtype);
        const expected = s.step(tensorIn(rawModel, dtype), t, tensorIn(rawSample, dtype), {
          eta,
          varianceNoise: noise,
        });
        const sample = tensorIn(rawSample, dtype);
        const model = tensorIn(rawModel, dtype);
        s.step(model, t, sample, {
          eta,
          varianceNoise: noise,
          out: { prevSample: sample, predOriginalSample: model },
        });
        expect(Array.from(sample.data)).toEqual(Array.from(expected.prevSample.data));
        expect(Array.from(model.data)).toEqual(Array.from(expected.predOriginalSample.data));
      }
    }
  });

  it('return the same result object while the same buffers are passed, a new one when they change', () => {
    const sample = tensorIn(rawSample, 'float32');
    const model = tensorIn(rawModel, 'float32');
    const out = { prevSample: emptyTensor('float32'), predOriginalSample: emptyTensor('float32') };
    const first = s.step(model, t, sample, { out });
    const second = s.step(model, s.timesteps[6], sample, { out });
    expect(second).toBe(first);
    expect(second.prevSample.data).toBe(out.prevSample.data);
    // The result reflects the latest step, not a stale copy.
    const fresh = s.step(model, s.timesteps[6], sample);
    expect(Array.from(second.prevSample.data)).toEqual(Array.from(fresh.prevSample.data));
    // New buffer objects (or new data in the same object) give a new result showing them.
    const other = { prevSample: emptyTensor('float32'), predOriginalSample: out.predOriginalSample };
    const third = s.step(model, t, sample, { out: other });
    expect(third).not.toBe(first);
    expect(third.prevSample.data).toBe(other.prevSample.data);
    other.prevSample.data = new Float32Array(N);
    const fourth = s.step(model, t, sample, { out: other });
    expect(fourth).not.toBe(third);
    expect(fourth.prevSample.data).toBe(other.prevSample.data);
    expect(Array.from(fourth.prevSample.data)).toEqual(Array.from(third.prevSample.data));
  });

  it('keep two results, so that ping-pong buffers (A -> B, B -> A) allocate nothing either', () => {
    const a = tensorIn(rawSample, 'float32');
    const b = emptyTensor('float32');
    const model = tensorIn(rawModel, 'float32');
    const x0 = emptyTensor('float32');
    const intoB = { out: { prevSample: b, predOriginalSample: x0 } };
    const intoA = { out: { prevSample: a, predOriginalSample: x0 } };
    const first = s.step(model, s.timesteps[3], a, intoB);
    const second = s.step(model, s.timesteps[4], b, intoA);
    expect(second).not.toBe(first);
    expect(s.step(model, s.timesteps[5], a, intoB)).toBe(first);
    expect(s.step(model, s.timesteps[6], b, intoA)).toBe(second);
    expect(second.prevSample.data).toBe(a.data);
  });

  it('still validates buffers that were accepted on an earlier step', () => {
    const sample = tensorIn(rawSample, 'float32');
    const model = tensorIn(rawModel, 'float32');
    const out = { prevSample: emptyTensor('float32'), predOriginalSample: emptyTensor('float32') };
    s.step(model, t, sample, { out });
    out.prevSample.dims = [2, 4, 900];
    expect(() => s.step(model, t, sample, { out })).toThrow(/dims/);
  });
});

describe('non-finite results', () => {
  it('a float16 result that overflows (finite in float64, Inf in float16) is a NumericError', () => {
    const s = new DDIMScheduler({ clip_sample: false }).setTimesteps(10);
    const d = [1, 6];
    const sample = { data: new Uint16Array(6).fill(numberToFloat16(60000)), dims: d, type: 'float16' };
    const model = { data: new Uint16Array(6), dims: d, type: 'float16' };
    // eps = 0: prev = sqrt(a_prev / a_t) x with a_prev > a_t, so prev > 60000 * 1.1, past 65504.
    expect(s.alphaBarAt(s.previousTimestep(901)) / s.alphaBarAt(901)).toBeGreaterThan(1.21);
    expect(() => s.step(model, 901, sample)).toThrow(NumericError);
    const res = s.step(model, 901, sample, { allowNonFinite: true });
    expect(res.prevSample.data[0]).toBe(0x7c00);
  });

  it("an infinite model output clipped away with use_clipped_model_output is still a NumericError (issue 10); allowNonFinite gives diffusers' finite results", () => {
    const s = new DDIMScheduler({ clip_sample: true }).setTimesteps(10);
    const d = [1, 4];
    const model = {
      data: Float32Array.of(Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.5, 0),
      dims: d,
    };
    const sample = { data: Float32Array.of(0.1, -0.2, 0.3, 0.4), dims: d };
    // diffusers clamps the Inf away and returns numbers computed from it; a broken model output
    // must not pass silently, so by default it is refused, naming the element and the timestep.
    expect(() => s.step(model, 501, sample, { useClippedModelOutput: true })).toThrow(
      /modelOutput\[0\] is not finite at timestep 501/,
    );
    const res = s.step(model, 501, sample, { useClippedModelOutput: true, allowNonFinite: true });
    // x0 = clamp((x - sqrt(1 - a) m) / sqrt(a), -1, 1): -1 for m = +Inf, 1 for m = -Inf.
    expect(Array.from(res.predOriginalSample.data.slice(0, 2))).toEqual([-1, 1]);
    expect(Array.from(res.prevSample.data).every(Number.isFinite)).toBe(true);
  });
});

describe('lengths that are not a multiple of the unrolled loop width', () => {
  // The literal step in float64 at float32 rounding tolerance: float64 lanes (see above).
  useFloat64Lanes();
  it('every length 1 .. 13 (and 4097) matches the literal eta = 0 epsilon step', () => {
    const s = new DDIMScheduler({ clip_sample: false }).setTimesteps(10);
    const t = 501;
    const aT = s.alphaBarAt(t);
    const aPrev = s.alphaBarAt(s.previousTimestep(t));
    for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 4097]) {
      const x = gaussians(n, n);
      const m = gaussians(n, n + 100);
      for (const dtype of ['float32', 'float64'] as const) {
        const make = (v: number[]) => (dtype === 'float32' ? Float32Array.from(v) : Float64Array.from(v));
        const sample = { data: make(x), dims: [1, n] };
        const model = { data: make(m), dims: [1, n] };
        const got = s.step(model, t, sample);
        for (let i = 0; i < n; i++) {
          const x0 = (sample.data[i] - sqrtOneMinus32(aT) * model.data[i]) / sqrt32(aT);
          const prev = sqrt32(aPrev) * x0 + sqrtOneMinus32(aPrev) * model.data[i];
          const tol = dtype === 'float32' ? 2e-7 : 1e-13;
          expect(Math.abs(got.prevSample.data[i] - prev)).toBeLessThanOrEqual(
            tol * Math.max(1, Math.abs(prev)),
          );
          expect(Math.abs(got.predOriginalSample.data[i] - x0)).toBeLessThanOrEqual(
            tol * Math.max(1, Math.abs(x0)),
          );
        }
      }
    }
  });

  it('a NaN in any position of the unrolled body or the tail is caught', () => {
    const s = new DDIMScheduler({ clip_sample: false }).setTimesteps(10);
    for (let pos = 0; pos < 11; pos++) {
      const data = new Float32Array(11).fill(0.5);
      data[pos] = Number.NaN;
      expect(() =>
        s.step({ data, dims: [1, 11] }, 501, { data: new Float32Array(11), dims: [1, 11] }),
      ).toThrow(NumericError);
    }
  });
});
