/**
 * The step on the WebAssembly kernels (src/scheduler/step-kernel-wasm.ts) against the JS path
 * (`jsStepKernel`, the reference), both driven by `ddimStepKernel` (src/scheduler/step.ts: the
 * folding and thresholding's quantile are shared), on random inputs, for every prediction type x
 * bound (none, clip, thresholding) x eta (0, > 0) x use_clipped_model_output x dtype of sample,
 * model output, noise and outputs:
 *
 * - in f64x2 lanes (forced with lanes 'float64', and whenever a tensor is float64): the JS path's
 *   arithmetic, so identical bits and the same finiteness flag;
 * - in f32x4 lanes (float32 and float16 tensors, the default): every result within the bound
 *   derived below of the JS path's.
 *
 * The float32-lane bound. With u = 2^-24 (half a float32 ulp at 1), a scalar rounded to float32,
 * a float32 product and a float32 sum each add a relative error of at most u. A result
 * v = sum of t_i terms (t = P x, Q m, ...) computed in float32 is within (2 u per term + u per sum)
 * of the exact value: at most (k + 1) u S for k terms, S = sum |t_i|; the JS path's value, computed
 * in float64 and rounded once, is within u |v| <= u S. So:
 *
 *   x0, and prev without noise (2 terms):  |wasm - js| <= 4 u S
 *   prev with noise (3 terms):             |wasm - js| <= 5 u S
 *   prev of the bounded loop (4 terms):    |wasm - js| <= 6 u S + 4 u |E| (|A x| + |B m|)
 *
 * the last term carrying x0's own error (clamping does not increase it) through prev's weight E.
 * Since u S <= ulp(S): at most 4 to 6 float32 ulps of the terms' magnitude S (of the result itself
 * where the terms do not cancel). A float16 output adds the two roundings to float16: one float16
 * ulp of the result. The test also reports the largest error seen, in units of u S.
 */
import { describe, expect, it } from 'vitest';
import type { PredictionType } from '../src/scheduler/prediction.js';
import { ddimVariance } from '../src/scheduler/schedule.js';
import {
  ddimStepKernel,
  type StepKernel,
  type StepKernelArgs,
  setStepKernel,
  stepCoefficients,
  thresholdPrecision,
  type X0Bound,
} from '../src/scheduler/step.js';
import { jsStepKernel } from '../src/scheduler/step-kernel-js.js';
import {
  absX0OnKernels,
  runOnKernels,
  usesWideLanes,
  wasmStepKernel,
} from '../src/scheduler/step-kernel-wasm.js';
import { type DType, float16Table, numberToFloat16, type TensorData } from '../src/tensor/dtype.js';
import { allocateIn } from '../src/tensor/kernel-memory.js';
import { activeKernels, newArena, type StepLanes } from '../src/wasm/backend.js';
import type { KernelInstance } from '../src/wasm/instance.js';
import { onWasm } from './helpers/backend.js';
import { seededRandom } from './helpers/rng.js';

const k = onWasm(() => activeKernels()) as KernelInstance;

/** The kernels of `instance` in `lanes`, called directly (nothing can route around them). */
function kernelsOn(instance: KernelInstance, lanes: StepLanes): StepKernel {
  return {
    name: `wasm ${lanes}`,
    run: (step, t, from, to) => runOnKernels(instance, lanes, step, t, from, to),
    absX0: (a, b, t, from, to, scratch) => absX0OnKernels(instance, a, b, t, from, to, scratch),
  };
}

/** ddimStepKernel (the shared driver) on the kernel path `kernel`. */
function stepOn(kernel: StepKernel, args: StepKernelArgs): boolean {
  const previous = setStepKernel(kernel);
  try {
    return ddimStepKernel(args);
  } finally {
    setStepKernel(previous);
  }
}

/** The wasm path, as the scheduler calls it: ddimStepKernel with the WebAssembly backend in effect. */
function ddimStepKernelWasm(args: StepKernelArgs, lanes: StepLanes = 'auto'): boolean {
  return onWasm(() => stepOn(wasmStepKernel, args), lanes);
}

const U = 2 ** -24;
const f32 = Math.fround;

const PREDICTIONS: readonly PredictionType[] = ['epsilon', 'sample', 'v_prediction'];
const DTYPES: readonly DType[] = ['float32', 'float64', 'float16'];
const BOUNDS = ['none', 'clip', 'threshold'] as const;

type Alloc = (t: DType, n: number) => TensorData;

function makeArray(type: DType, values: ArrayLike<number>, alloc?: Alloc): TensorData {
  const n = values.length;
  const out = alloc
    ? alloc(type, n)
    : type === 'float64'
      ? new Float64Array(n)
      : type === 'float32'
        ? new Float32Array(n)
        : new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = type === 'float16' ? numberToFloat16(values[i]) : values[i];
  return out;
}

function read(data: TensorData, type: DType, i: number): number {
  return type === 'float16' ? float16Table()[data[i]] : data[i];
}

interface Case {
  prediction: PredictionType;
  bound: (typeof BOUNDS)[number];
  eta: number;
  clipped: boolean;
  sampleType: DType;
  modelType: DType;
  noiseType: DType;
  outType: DType;
  batch: number;
  per: number;
}

interface Built {
  js: StepKernelArgs;
  wasm: StepKernelArgs;
}

/** One case's arguments, with the same inputs and separate outputs for the two paths. */
function build(c: Case, seed: number, alloc?: Alloc): Built {
  const rng = seededRandom(seed);
  const n = c.batch * c.per;
  const alphaT = f32(0.02 + 0.96 * rng.uniform());
  const alphaPrev = f32(Math.min(0.999, alphaT + (1 - alphaT) * rng.uniform()));
  const variance = c.eta > 0 ? ddimVariance(alphaT, alphaPrev) : 0;
  const coefficients = stepCoefficients(c.prediction, alphaT, alphaPrev, c.eta, variance);
  // A sample and a model output as a sampler sees them, with a pixel-range x0 for thresholding.
  const x = new Float64Array(n);
  const m = new Float64Array(n);
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x0 = c.bound === 'none' ? 1.5 * rng.normal() : Math.tanh(1.5 * rng.normal()) * 1.3;
    const eps = rng.normal();
    x[i] = Math.sqrt(alphaT) * x0 + Math.sqrt(1 - alphaT) * eps;
    m[i] =
      c.prediction === 'epsilon' ? eps + 0.1 * rng.normal() : c.prediction === 'sample' ? x0 : rng.normal();
    z[i] = rng.normal();
  }
  const bound: X0Bound =
    c.bound === 'none'
      ? { kind: 'none' }
      : c.bound === 'clip'
        ? { kind: 'clip', range: 0.5 + rng.uniform() }
        : { kind: 'threshold', ratio: 0.9 + 0.099 * rng.uniform(), maxValue: 1 + 2 * rng.uniform() };
  const args = (): StepKernelArgs => ({
    coefficients,
    bound,
    useClippedModelOutput: c.clipped,
    batch: c.batch,
    sample: makeArray(c.sampleType, x, alloc),
    sampleType: c.sampleType,
    modelOutput: makeArray(c.modelType, m, alloc),
    modelOutputType: c.modelType,
    noise: c.eta > 0 ? makeArray(c.noiseType, z, alloc) : null,
    noiseType: c.noiseType,
    prevSample: makeArray(c.outType, new Float64Array(n), alloc),
    predOriginalSample: makeArray(c.outType, new Float64Array(n), alloc),
    outType: c.outType,
    scratch:
      c.bound === 'threshold'
        ? (makeArray(thresholdPrecision(c.sampleType, c.modelType), new Float64Array(c.per), alloc) as
            | Float32Array
            | Float64Array)
        : undefined,
  });
  return { js: args(), wasm: args() };
}

function firstBitDifference(a: TensorData, b: TensorData): number {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return Math.floor(i / a.BYTES_PER_ELEMENT);
  return -1;
}

/** The folded scalars of src/scheduler/step.ts's foldStep for one batch element (thresholding's 1/s in A, B). */
function folded(args: StepKernelArgs, scale: number) {
  const c = args.coefficients;
  const a = c.x0FromSample * scale;
  const b = c.x0FromModel * scale;
  const clipped = args.useClippedModelOutput;
  const e = clipped
    ? c.sqrtAlphaProdPrev - c.direction * c.sqrtAlphaProd * c.invSqrtBetaProd
    : c.sqrtAlphaProdPrev;
  const f = c.direction * (clipped ? c.invSqrtBetaProd : c.epsFromSample);
  const g = clipped ? 0 : c.direction * c.epsFromModel;
  return { a, b, p: e * a + f, q: e * b + g, e, f, g, w: c.noiseScale };
}

function halfUlp(y: number): number {
  const e = Math.max(Math.floor(Math.log2(Math.abs(y) || 2 ** -24)), -14);
  return 2 ** (e - 10);
}

/**
 * Check each element of both outputs against the bound of the header (plus a float16 ulp for
 * float16 outputs). Returns the largest fraction of the bound used (float32 outputs) and the
 * first element past its bound, if any.
 */
function checkBound(js: StepKernelArgs, wasm: StepKernelArgs): { worst: number; failure: string | null } {
  const per = js.sample.length / js.batch;
  const half = js.outType === 'float16';
  let worst = 0;
  for (let bi = 0; bi < js.batch; bi++) {
    // Thresholding's s from the outputs: x0 = clamp(raw / s, -1, 1) with raw = A x + B m. Both
    // paths take the same s (|x0| in float64); recover it from an unclamped element of the JS path.
    let scale = 1;
    if (js.bound.kind === 'threshold') scale = thresholdScaleOf(js, bi * per, (bi + 1) * per);
    const K = folded(js, scale);
    const lo =
      js.bound.kind === 'clip'
        ? -js.bound.range
        : js.bound.kind === 'threshold'
          ? -1
          : Number.NEGATIVE_INFINITY;
    for (let i = bi * per; i < (bi + 1) * per; i++) {
      const x = read(js.sample, js.sampleType, i);
      const m = read(js.modelOutput, js.modelOutputType, i);
      const z = js.noise === null ? 0 : read(js.noise, js.noiseType, i);
      const uu = js.useClippedModelOutput ? x : m;
      const sx0 = Math.abs(K.a * x) + Math.abs(K.b * m);
      const x0 = Math.min(Math.max(K.a * x + K.b * m, lo), -lo);
      let sPrev: number;
      let prevBound: number;
      if (js.bound.kind !== 'none') {
        sPrev = Math.abs(K.e * x0) + Math.abs(K.f * x) + Math.abs(K.g * uu) + Math.abs(K.w * z);
        prevBound = 6 * U * sPrev + 4 * U * Math.abs(K.e) * sx0;
      } else if (js.noise !== null) {
        sPrev = Math.abs(K.p * x) + Math.abs(K.q * m) + Math.abs(K.w * z);
        prevBound = 5 * U * sPrev;
      } else {
        sPrev = Math.abs(K.p * x) + Math.abs(K.q * m);
        prevBound = 4 * U * sPrev;
      }
      const pairs: [string, TensorData, TensorData, number][] = [
        ['prevSample', js.prevSample, wasm.prevSample, prevBound],
        ['predOriginalSample', js.predOriginalSample, wasm.predOriginalSample, 4 * U * sx0],
      ];
      for (const [name, a, b, bound] of pairs) {
        const want = read(a, js.outType, i);
        const got = read(b, js.outType, i);
        const limit = bound + (half ? halfUlp(Math.max(Math.abs(want), Math.abs(got))) : 0);
        const err = Math.abs(got - want);
        if (!(err <= limit)) {
          return { worst, failure: `${name}[${i}]: wasm ${got}, js ${want}, |diff| ${err} > bound ${limit}` };
        }
        if (!half && bound > 0) worst = Math.max(worst, err / bound);
      }
    }
  }
  return { worst, failure: null };
}

/** s of one batch element, as the JS path computes it (the quantile of |A x + B m|, clamped). */
function thresholdScaleOf(js: StepKernelArgs, from: number, to: number): number {
  if (js.bound.kind !== 'threshold') return 1;
  const wide = thresholdPrecision(js.sampleType, js.modelOutputType) === 'float64';
  const c = js.coefficients;
  const values = wide ? new Float64Array(to - from) : new Float32Array(to - from);
  for (let i = from; i < to; i++) {
    values[i - from] = Math.abs(
      c.x0FromSample * read(js.sample, js.sampleType, i) +
        c.x0FromModel * read(js.modelOutput, js.modelOutputType, i),
    );
  }
  const sorted = Array.from(values).sort((p, q) => p - q);
  const n = sorted.length;
  const rank = wide ? js.bound.ratio * (n - 1) : f32(f32(js.bound.ratio) * (n - 1));
  const lo = Math.floor(rank);
  const w = rank - lo;
  const below = sorted[lo];
  const above = sorted[Math.min(lo + 1, n - 1)];
  // torch.lerp, in the array's precision.
  const q = wide
    ? Math.abs(w) < 0.5
      ? below + w * (above - below)
      : above - (above - below) * (1 - w)
    : Math.abs(w) < 0.5
      ? f32(below + f32(w * f32(above - below)))
      : f32(above - f32(f32(above - below) * f32(1 - w)));
  const floored = q < 1 ? 1 : q;
  return 1 / (floored > js.bound.maxValue ? js.bound.maxValue : floored);
}

function runBoth(b: Built, lanes: StepLanes): { jsOk: boolean; wasmOk: boolean } {
  const jsOk = stepOn(jsStepKernel, b.js);
  const wasmOk = stepOn(kernelsOn(k, lanes), b.wasm);
  return { jsOk, wasmOk };
}

/** Every case, with outputs in the sample's dtype (the scheduler's args.outType). */
function allCases(): Case[] {
  const cases: Case[] = [];
  for (const prediction of PREDICTIONS) {
    for (const bound of BOUNDS) {
      for (const eta of [0, 0.7]) {
        for (const clipped of [false, true]) {
          for (const sampleType of DTYPES) {
            for (const modelType of DTYPES) {
              for (const noiseType of eta > 0 ? DTYPES : (['float32'] as const)) {
                const outType = sampleType;
                cases.push({
                  prediction,
                  bound,
                  eta,
                  clipped,
                  sampleType,
                  modelType,
                  noiseType,
                  outType,
                  batch: 2,
                  per: 203,
                });
              }
            }
          }
        }
      }
    }
  }
  return cases;
}

function label(c: Case): string {
  return `${c.prediction} ${c.bound} eta ${c.eta}${c.clipped ? ' clipped' : ''} x:${c.sampleType} m:${c.modelType}${c.eta > 0 ? ` z:${c.noiseType}` : ''} out:${c.outType}`;
}

describe('the wasm kernels against the JS kernels, every case', () => {
  const cases = allCases();

  it(`in float64 lanes: identical bits and flag (${cases.length} cases)`, () => {
    cases.forEach((c, ci) => {
      const b = build(c, 1000 + ci);
      const { jsOk, wasmOk } = runBoth(b, 'float64');
      expect(firstBitDifference(b.wasm.prevSample, b.js.prevSample), `${label(c)}: prevSample`).toBe(-1);
      expect(firstBitDifference(b.wasm.predOriginalSample, b.js.predOriginalSample), `${label(c)}: x0`).toBe(
        -1,
      );
      expect(wasmOk, label(c)).toBe(jsOk);
      expect(jsOk, label(c)).toBe(true);
    });
  });

  it(`by default: identical bits when a tensor is float64, else within the float32-lane bound (${cases.length} cases)`, () => {
    let worst = 0;
    let narrowCases = 0;
    cases.forEach((c, ci) => {
      const b = build(c, 5000 + ci);
      const { jsOk, wasmOk } = runBoth(b, 'auto');
      expect(wasmOk, label(c)).toBe(jsOk);
      if (usesWideLanes(b.wasm, 'auto')) {
        expect(firstBitDifference(b.wasm.prevSample, b.js.prevSample), `${label(c)}: prevSample`).toBe(-1);
        expect(
          firstBitDifference(b.wasm.predOriginalSample, b.js.predOriginalSample),
          `${label(c)}: x0`,
        ).toBe(-1);
      } else {
        narrowCases++;
        const { worst: w, failure } = checkBound(b.js, b.wasm);
        expect(failure, label(c)).toBeNull();
        worst = Math.max(worst, w);
      }
    });
    // Float32 lanes differ from the JS path at all (else the bound would test nothing), and stay
    // inside it (measured: at most 72% of it, 2.9 u S, on these cases).
    expect(narrowCases).toBeGreaterThan(100);
    expect(worst).toBeGreaterThan(0);
    expect(worst).toBeLessThan(1);
  });
});

describe('sizes, batches, aliasing and where the tensors live', () => {
  const shapes: [number, number][] = [
    [1, 0],
    [1, 1],
    [1, 3],
    [3, 5],
    [1, 16384],
    [2, 16385],
    [1, 40001],
  ];
  const configs: Case[] = [];
  for (const [batch, per] of shapes) {
    for (const types of [
      ['float32', 'float32', 'float32', 'float32'],
      ['float16', 'float16', 'float16', 'float16'],
      ['float16', 'float32', 'float16', 'float16'],
      ['float64', 'float32', 'float32', 'float64'],
    ] as const) {
      for (const bound of BOUNDS) {
        configs.push({
          prediction: 'epsilon',
          bound,
          eta: bound === 'clip' ? 1 : 0,
          clipped: bound === 'clip',
          sampleType: types[0],
          modelType: types[1],
          noiseType: types[2],
          outType: types[3],
          batch,
          per,
        });
      }
    }
  }

  it('any length, across the staging chunks: the same results as the JS path', () => {
    configs.forEach((c, ci) => {
      const b = build(c, 9000 + ci);
      const { jsOk, wasmOk } = runBoth(b, 'float64');
      expect(firstBitDifference(b.wasm.prevSample, b.js.prevSample), `${label(c)} ${c.batch}x${c.per}`).toBe(
        -1,
      );
      expect(firstBitDifference(b.wasm.predOriginalSample, b.js.predOriginalSample)).toBe(-1);
      expect(wasmOk).toBe(jsOk);
      const a = build(c, 9000 + ci);
      runBoth(a, 'auto');
      if (!usesWideLanes(a.wasm, 'auto'))
        expect(checkBound(a.js, a.wasm).failure, `${label(c)} ${c.batch}x${c.per}`).toBeNull();
    });
  });

  it('in place (prevSample is the sample array): the same results', () => {
    for (const c of configs) {
      for (const lanes of ['float64', 'auto'] as const) {
        const b = build(c, 77);
        if (c.outType !== c.sampleType) continue;
        b.js.prevSample = b.js.sample;
        b.wasm.prevSample = b.wasm.sample;
        const reference = build(c, 77);
        runBoth(reference, lanes);
        runBoth(b, lanes);
        expect(firstBitDifference(b.js.prevSample, reference.js.prevSample)).toBe(-1);
        expect(firstBitDifference(b.wasm.prevSample, reference.wasm.prevSample), `${label(c)} ${lanes}`).toBe(
          -1,
        );
        expect(firstBitDifference(b.wasm.predOriginalSample, reference.wasm.predOriginalSample)).toBe(-1);
      }
    }
  });

  it('tensors allocated in an arena are stepped in place on the arena, with the same results', () => {
    for (const c of configs) {
      if (c.per > 20000) continue;
      const copied = build(c, 31);
      runBoth(copied, 'auto');
      // An arena (its own instance and memory) sized once and sealed: its arrays never detach.
      const n = c.batch * c.per;
      const arena = newArena(2 * 5 * (n * 8 + 64) + c.per * 8 + 64, 0) as KernelInstance;
      const resident = build(c, 31, (t, len) => allocateIn(arena, t, len) as TensorData);
      expect(resident.wasm.sample.buffer).toBe(arena.buffer());
      // The routed path (wasmStepKernel picks the instance the sample lives in).
      const ok = ddimStepKernelWasm(resident.wasm);
      expect(resident.wasm.sample.buffer).toBe(arena.buffer());
      expect(ok).toBe(true);
      expect(firstBitDifference(resident.wasm.prevSample, copied.wasm.prevSample), label(c)).toBe(-1);
      expect(firstBitDifference(resident.wasm.predOriginalSample, copied.wasm.predOriginalSample)).toBe(-1);
      // In place: nothing went through the arena's staging slots (still all zero).
      const staging = new Uint8Array(arena.buffer(), arena.slot(0), arena.slot(5) - arena.slot(0));
      expect(
        staging.every((byte) => byte === 0),
        label(c),
      ).toBe(true);
    }
  });
});

describe('non-finite values', () => {
  it('a NaN or Inf input makes both paths report a possibly non-finite result', () => {
    const rng = seededRandom(3);
    for (const bound of BOUNDS) {
      for (const types of [
        ['float32', 'float32', 'float32'],
        ['float16', 'float16', 'float16'],
        ['float64', 'float64', 'float64'],
      ] as const) {
        for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
          for (const where of ['sample', 'modelOutput', 'noise'] as const) {
            const c: Case = {
              prediction: 'epsilon',
              bound,
              eta: 1,
              clipped: bound === 'clip',
              sampleType: types[0],
              modelType: types[1],
              noiseType: types[2],
              outType: types[0],
              batch: 1,
              per: 97,
            };
            for (const lanes of ['auto', 'float64'] as const) {
              const b = build(c, 11);
              const at = Math.floor(rng.uniform() * 97);
              for (const args of [b.js, b.wasm]) {
                const data = args[where] as TensorData;
                const type =
                  where === 'sample' ? c.sampleType : where === 'modelOutput' ? c.modelType : c.noiseType;
                data[at] = type === 'float16' ? numberToFloat16(bad) : bad;
              }
              const { jsOk, wasmOk } = runBoth(b, lanes);
              expect(jsOk, `${bound} ${types[0]} ${bad} in ${where}`).toBe(false);
              expect(wasmOk, `${bound} ${types[0]} ${bad} in ${where} (${lanes})`).toBe(false);
            }
          }
        }
      }
    }
  });

  it('a non-finite input changes only its own element’s results (float16: the short conversions elsewhere)', () => {
    for (const type of ['float16', 'float32'] as const) {
      const c: Case = {
        prediction: 'epsilon',
        bound: 'none',
        eta: 0,
        clipped: false,
        sampleType: type,
        modelType: type,
        noiseType: type,
        outType: type,
        batch: 1,
        per: 203,
      };
      const clean = build(c, 21);
      stepOn(kernelsOn(k, 'auto'), clean.wasm);
      for (const [at, bad] of [
        [0, Number.NaN],
        [77, Number.POSITIVE_INFINITY],
        [200, Number.NEGATIVE_INFINITY],
      ] as const) {
        const b = build(c, 21);
        b.wasm.modelOutput[at] = type === 'float16' ? numberToFloat16(bad) : bad;
        expect(stepOn(kernelsOn(k, 'auto'), b.wasm)).toBe(false);
        for (let i = 0; i < 203; i++) {
          const got = read(b.wasm.prevSample, type, i);
          if (i === at) expect(Number.isFinite(got), `${type} element ${i}`).toBe(false);
          else
            expect(Object.is(got, read(clean.wasm.prevSample, type, i)), `${type} element ${i}`).toBe(true);
        }
      }
    }
  });

  it('a result that overflows only in the output dtype is reported', () => {
    for (const type of ['float32', 'float16'] as const) {
      const c: Case = {
        prediction: 'epsilon',
        bound: 'none',
        eta: 0,
        clipped: false,
        sampleType: type === 'float16' ? 'float32' : 'float64',
        modelType: 'float32',
        noiseType: 'float32',
        outType: type,
        batch: 1,
        per: 9,
      };
      const b = build(c, 5);
      const huge = type === 'float16' ? 1e6 : 1e39;
      b.js.sample[4] = huge;
      b.wasm.sample[4] = huge;
      const { jsOk, wasmOk } = runBoth(b, 'auto');
      expect(jsOk).toBe(false);
      expect(wasmOk).toBe(false);
    }
  });
});

describe('errors', () => {
  it('thresholding without a fitting scratch throws the JS path’s error', () => {
    const c: Case = {
      prediction: 'epsilon',
      bound: 'threshold',
      eta: 0,
      clipped: false,
      sampleType: 'float32',
      modelType: 'float32',
      noiseType: 'float32',
      outType: 'float32',
      batch: 1,
      per: 10,
    };
    const b = build(c, 1);
    b.js.scratch = new Float64Array(10);
    b.wasm.scratch = new Float64Array(10);
    let jsError: unknown;
    try {
      stepOn(jsStepKernel, b.js);
    } catch (error) {
      jsError = error;
    }
    expect(jsError).toBeInstanceOf(Error);
    expect(() => ddimStepKernelWasm(b.wasm)).toThrow((jsError as Error).message);
  });
});
