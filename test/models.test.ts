import { describe, expect, it } from 'vitest';
import { datasetDenoiser, gaussianMixtureDenoiser } from '../src/exact/models.js';
import {
  ArgumentError,
  DDIMScheduler,
  numberToFloat16,
  type PredictionType,
  ShapeError,
  type Tensor,
  tensor,
} from '../src/index.js';
import { float16Table } from '../src/tensor/dtype.js';
import { exactEpsilon } from './helpers/gaussian-mixture.js';

const f64 = (values: readonly number[], dims: number[]) => tensor(Float64Array.from(values), dims);

/** A schedule with chosen alpha_bar values at timesteps 0, 1, 2, ... */
function schedule(alphas: number[], prediction_type: PredictionType = 'sample') {
  return { alphasCumprod: Float64Array.from(alphas), config: { prediction_type } };
}

/**
 * E[x0 | x_t] for a 1-D density p(x0), by brute-force quadrature on a fine grid (trapezoid rule):
 * integral of x0 p(x0) N(x_t; sqrt(a) x0, 1 - a) over integral of p(x0) N(...).
 */
function quadraturePosteriorMean1d(p: (x0: number) => number, xt: number, a: number): number {
  const lo = -12;
  const hi = 12;
  const n = 40_000;
  const h = (hi - lo) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i <= n; i++) {
    const x0 = lo + i * h;
    const w =
      (i === 0 || i === n ? 0.5 : 1) * p(x0) * Math.exp(-((xt - Math.sqrt(a) * x0) ** 2) / (2 * (1 - a)));
    num += w * x0;
    den += w;
  }
  return num / den;
}

const normalPdf = (x: number, mean: number, variance: number) =>
  Math.exp(-((x - mean) ** 2) / (2 * variance)) / Math.sqrt(2 * Math.PI * variance);

describe('gaussianMixtureDenoiser: posterior mean', () => {
  it('matches quadrature for a 1-D two-component mixture', () => {
    const mixture = { weights: [0.3, 0.7], means: [[-2], [1.5]], variances: [0.25, 1.2] };
    const p = (x: number) => 0.3 * normalPdf(x, -2, 0.25) + 0.7 * normalPdf(x, 1.5, 1.2);
    const alphas = [0.999, 0.9, 0.5, 0.1, 0.01];
    const d = gaussianMixtureDenoiser(schedule(alphas), mixture);
    const xs = [-3, -1.2, -0.3, 0, 0.4, 1, 2.5];
    for (let t = 0; t < alphas.length; t++) {
      const got = d.posteriorMean(f64(xs, [xs.length, 1]), t);
      for (let i = 0; i < xs.length; i++) {
        expect(got.data[i]).toBeCloseTo(quadraturePosteriorMean1d(p, xs[i], alphas[t]), 7);
      }
    }
  });

  it('matches 2-D grid quadrature with unequal variances (the -D/2 log v_k term)', () => {
    const mixture = {
      weights: [0.5, 0.2, 0.3],
      means: [
        [-1, 0.5],
        [1, 1],
        [0.5, -1.5],
      ],
      variances: [0.1, 0.8, 0.3],
    };
    const comp = (x: number, y: number, k: number) =>
      normalPdf(x, mixture.means[k][0], mixture.variances[k]) *
      normalPdf(y, mixture.means[k][1], mixture.variances[k]);
    const p = (x: number, y: number) => 0.5 * comp(x, y, 0) + 0.2 * comp(x, y, 1) + 0.3 * comp(x, y, 2);
    const a = 0.6;
    const d = gaussianMixtureDenoiser(schedule([a]), mixture);
    const points = [
      [0.2, 0.1],
      [-0.8, 0.9],
      [1.1, -0.7],
    ];
    const got = d.posteriorMean(f64(points.flat(), [3, 2]), 0);
    const n = 400;
    const lo = -6;
    const h = 12 / n;
    points.forEach(([px, py], b) => {
      let den = 0;
      let mx = 0;
      let my = 0;
      for (let i = 0; i <= n; i++) {
        const x = lo + i * h;
        for (let j = 0; j <= n; j++) {
          const y = lo + j * h;
          const lik = Math.exp(
            -((px - Math.sqrt(a) * x) ** 2 + (py - Math.sqrt(a) * y) ** 2) / (2 * (1 - a)),
          );
          const w = p(x, y) * lik;
          den += w;
          mx += w * x;
          my += w * y;
        }
      }
      expect(got.data[2 * b]).toBeCloseTo(mx / den, 6);
      expect(got.data[2 * b + 1]).toBeCloseTo(my / den, 6);
    });
  });

  it('is the Gaussian conditional mean for one component, and the prior mean at zero SNR', () => {
    const mu = [0.5, -1, 2];
    const s2 = 0.4;
    const d = gaussianMixtureDenoiser(schedule([0.7, 0], 'epsilon'), {
      weights: [1],
      means: [mu],
      variances: [s2],
    });
    const x = [0.3, 0.1, -0.2];
    const got = d.posteriorMean(f64(x, [1, 3]), 0);
    const a = 0.7;
    const v = a * s2 + 1 - a;
    for (let i = 0; i < 3; i++) {
      expect(got.data[i]).toBeCloseTo(mu[i] + ((Math.sqrt(a) * s2) / v) * (x[i] - Math.sqrt(a) * mu[i]), 14);
    }
    // a = 0: x_t carries no signal: prior mean, eps = x_t, both exact.
    const mixture = {
      weights: [1, 3],
      means: [
        [2, 0],
        [-2, 4],
      ],
      variances: [0.5, 0],
    };
    const z = gaussianMixtureDenoiser(schedule([0.7, 0], 'epsilon'), mixture);
    const xt = f64([0.25, -3, 100, 7], [2, 2]);
    const prior = z.posteriorMean(xt, 1);
    for (const [i, want] of [-1, 3, -1, 3].entries()) expect(prior.data[i]).toBeCloseTo(want, 14);
    expect(Array.from(z(xt, 1).data)).toEqual([0.25, -3, 100, 7]);
    const r = z.responsibilities(xt, 1);
    for (const [i, want] of [0.25, 0.75, 0.25, 0.75].entries()) expect(r[i]).toBeCloseTo(want, 15);
  });

  it('responsibilities are the posterior component probabilities (Bayes by hand)', () => {
    const mixture = { weights: [0.25, 0.75], means: [[0], [3]], variances: [1, 0.5] };
    const a = 0.8;
    const d = gaussianMixtureDenoiser(schedule([a]), mixture);
    const x = 1.1;
    const l0 = 0.25 * normalPdf(x, 0, a * 1 + 1 - a);
    const l1 = 0.75 * normalPdf(x, Math.sqrt(a) * 3, a * 0.5 + 1 - a);
    const r = d.responsibilities(f64([x], [1, 1]), 0);
    expect(r[0]).toBeCloseTo(l0 / (l0 + l1), 14);
    expect(r[1]).toBeCloseTo(l1 / (l0 + l1), 14);
  });

  it('does not underflow far from every component', () => {
    const d = gaussianMixtureDenoiser(schedule([0.9999]), {
      weights: [0.5, 0.5],
      means: [[0], [1]],
      variances: [0, 0],
    });
    // |x - sqrt(a) mu|^2 / (2 * 1e-4) ~ 5e6: every exp underflows without log-sum-exp.
    const got = d.posteriorMean(f64([40, -40], [2, 1]), 0);
    expect(got.data[0]).toBeCloseTo(1, 12);
    expect(got.data[1]).toBeCloseTo(0, 12);
  });
});

describe('exact denoisers: prediction types', () => {
  const config = {
    beta_schedule: 'scaled_linear',
    beta_start: 0.00085,
    beta_end: 0.012,
    clip_sample: false,
  } as const;
  const mixture = {
    weights: [0.4, 0.6],
    means: [
      [1, -1, 0.5],
      [-0.5, 0.5, 2],
    ],
    variances: [0.3, 0.05],
  };
  const x = f64([0.3, -0.7, 1.2, 2.1, 0.4, -1.3], [2, 3]);

  it('epsilon and v outputs are (x - sqrt(a) x0)/sqrt(1-a) and sqrt(a) eps - sqrt(1-a) x0', () => {
    const t = 400;
    const s = new DDIMScheduler({ ...config, prediction_type: 'epsilon' });
    const a = s.alphasCumprod[t];
    const x0 = gaussianMixtureDenoiser(s, mixture).posteriorMean(x, t);
    const eps = gaussianMixtureDenoiser(s, mixture)(x, t);
    const v = gaussianMixtureDenoiser(
      new DDIMScheduler({ ...config, prediction_type: 'v_prediction' }),
      mixture,
    )(x, t);
    const sample = gaussianMixtureDenoiser(
      new DDIMScheduler({ ...config, prediction_type: 'sample' }),
      mixture,
    )(x, t);
    for (let i = 0; i < 6; i++) {
      const e = (x.data[i] - Math.sqrt(a) * x0.data[i]) / Math.sqrt(1 - a);
      expect(eps.data[i]).toBeCloseTo(e, 12);
      expect(v.data[i]).toBeCloseTo(Math.sqrt(a) * e - Math.sqrt(1 - a) * x0.data[i], 12);
      expect(sample.data[i]).toBe(x0.data[i]);
    }
  });

  it('a DDIM step gives the same x0 and x_prev whatever the prediction type', () => {
    const results: Record<string, { prev: number[]; x0: number[] }> = {};
    for (const type of ['epsilon', 'sample', 'v_prediction'] as const) {
      const s = new DDIMScheduler({ ...config, prediction_type: type }).setTimesteps(20);
      const d = gaussianMixtureDenoiser(s, mixture);
      for (const t of [s.timesteps[0], s.timesteps[10], s.timesteps[19]]) {
        const out = s.step(d(x, t), t, x);
        results[`${type}@${t}`] = {
          prev: Array.from(out.prevSample.data),
          x0: Array.from(out.predOriginalSample.data),
        };
      }
    }
    for (const key of Object.keys(results).filter((k) => k.startsWith('epsilon@'))) {
      const t = key.slice('epsilon@'.length);
      for (const other of ['sample', 'v_prediction']) {
        const a = results[key];
        const b = results[`${other}@${t}`];
        // Equal in exact arithmetic; each prediction type's step folds its own float32 scalars
        // (diffusers' 0-dim tensors), so they agree to float32 rounding.
        for (let i = 0; i < 6; i++) {
          expect(b.prev[i]).toBeCloseTo(a.prev[i], 6);
          expect(b.x0[i]).toBeCloseTo(a.x0[i], 6);
        }
      }
    }
  });

  it('returns the sample dtype (float32, float16) and writes into out', () => {
    const s = new DDIMScheduler({ ...config, prediction_type: 'epsilon' });
    const d = gaussianMixtureDenoiser(s, mixture);
    const ref = d(x, 300);
    const x32: Tensor = { data: Float32Array.from(x.data), dims: [2, 3], type: 'float32' };
    const got32 = d(x32, 300);
    expect(got32.type).toBe('float32');
    for (let i = 0; i < 6; i++) expect(got32.data[i]).toBeCloseTo(ref.data[i], 5);
    const x16: Tensor = { data: Uint16Array.from(x.data, numberToFloat16), dims: [2, 3], type: 'float16' };
    const got16 = d(x16, 300);
    expect(got16.type).toBe('float16');
    for (let i = 0; i < 6; i++) expect(float16Table()[got16.data[i]]).toBeCloseTo(ref.data[i], 1);
    const out: Tensor = { data: new Float64Array(6), dims: [2, 3], type: 'float64' };
    const written = d.predict(x, 300, out);
    expect(written.data).toBe(out.data);
    expect(Array.from(out.data)).toEqual(Array.from(ref.data));
  });
});

describe('datasetDenoiser', () => {
  // Three 2x2 "images".
  const data = f64([0, 1, 1, 0, 1, 1, -1, -1, 0.5, -0.5, 0.25, 0], [3, 2, 2]);

  it('is the softmax-weighted average of the items (direct formula)', () => {
    const alphas = [0.95, 0.6, 0.2];
    const d = datasetDenoiser(schedule(alphas), data);
    const x = f64([0.2, 0.8, 0.5, -0.1, -0.3, 0.3, 0.9, 0.1], [2, 2, 2]);
    for (let t = 0; t < 3; t++) {
      const a = alphas[t];
      const got = d.posteriorMean(x, t);
      for (let b = 0; b < 2; b++) {
        const w = [0, 1, 2].map((k) => {
          let dist = 0;
          for (let i = 0; i < 4; i++) dist += (x.data[b * 4 + i] - Math.sqrt(a) * data.data[k * 4 + i]) ** 2;
          return Math.exp(-dist / (2 * (1 - a)));
        });
        const z = w[0] + w[1] + w[2];
        for (let i = 0; i < 4; i++) {
          const want = (w[0] * data.data[i] + w[1] * data.data[4 + i] + w[2] * data.data[8 + i]) / z;
          expect(got.data[b * 4 + i]).toBeCloseTo(want, 13);
        }
      }
    }
  });

  it('equals the mixture of points with equal weights', () => {
    const d = datasetDenoiser(schedule([0.7], 'v_prediction'), data);
    const m = gaussianMixtureDenoiser(schedule([0.7], 'v_prediction'), {
      weights: [1, 1, 1],
      means: [
        [0, 1, 1, 0],
        [1, 1, -1, -1],
        [0.5, -0.5, 0.25, 0],
      ],
      variances: [0, 0, 0],
    });
    const x = f64([0.2, 0.8, 0.5, -0.1], [1, 2, 2]);
    const mx = f64([0.2, 0.8, 0.5, -0.1], [1, 4]);
    const got = d(x, 0);
    const want = m(mx, 0);
    for (let i = 0; i < 4; i++) expect(got.data[i]).toBeCloseTo(want.data[i], 14);
  });

  it('snaps to the nearest item at low noise and gives the data mean at zero SNR', () => {
    const d = datasetDenoiser(schedule([1 - 1e-6, 0]), data);
    const near = f64([0.9, 1.1, -0.9, -1.05], [1, 2, 2]);
    expect(Array.from(d.posteriorMean(near, 0).data)).toEqual([1, 1, -1, -1]);
    const mean = d.posteriorMean(near, 1);
    // Item means: (0 + 1 + 0.5) / 3, (1 + 1 - 0.5) / 3, (1 - 1 + 0.25) / 3, (0 - 1 + 0) / 3.
    for (const [i, want] of [0.5, 0.5, 0.25 / 3, -1 / 3].entries())
      expect(mean.data[i]).toBeCloseTo(want, 15);
  });

  it('rejects mismatched items, bad data and bad timesteps with typed errors', () => {
    const d = datasetDenoiser(schedule([0.5]), data);
    expect(() => d(f64([1, 2, 3, 4], [1, 4]), 0)).toThrow(ShapeError);
    expect(() => d(f64([1, 2, 3, 4], [1, 2, 2]), 1)).toThrow(ArgumentError);
    expect(() => d(f64([1, 2, 3, 4], [1, 2, 2]), 0.5)).toThrow(ArgumentError);
    expect(() => datasetDenoiser(schedule([0.5]), f64([], [0, 2]))).toThrow(ShapeError);
    expect(() => datasetDenoiser(schedule([0.5]), f64([1, Number.NaN], [1, 2]))).toThrow(ArgumentError);
    expect(() => datasetDenoiser(schedule([1]), data)(f64([1, 2, 3, 4], [1, 2, 2]), 0)).toThrow(
      ArgumentError,
    );
    expect(() =>
      datasetDenoiser(
        { alphasCumprod: Float64Array.of(0.5), config: { prediction_type: 'x' as never } },
        data,
      ),
    ).toThrow(ArgumentError);
  });
});

describe('gaussianMixtureDenoiser agrees with the independent test helper (helpers/gaussian-mixture.ts)', () => {
  it('epsilon for a 2-D mixture at several noise levels', () => {
    const helperMixture = {
      means: [
        [-1.5, 0.5],
        [1, 1],
        [0.5, -2],
      ] as [number, number][],
      weights: [0.2, 0.5, 0.3],
      stds: [0.3, 0.6, 0.2],
    };
    const points = [0.3, -0.4, -1.2, 0.9, 2.5, 1.5, 0, -2.2];
    for (const a of [0.995, 0.7, 0.2, 0.01]) {
      const d = gaussianMixtureDenoiser(schedule([a], 'epsilon'), {
        weights: helperMixture.weights,
        means: helperMixture.means,
        variances: helperMixture.stds.map((s) => s * s),
      });
      const got = d(f64(points, [4, 2]), 0);
      const want = exactEpsilon(helperMixture, points, a);
      for (let i = 0; i < points.length; i++) expect(got.data[i]).toBeCloseTo(want[i], 11);
    }
  });
});

describe('exact denoisers: batches', () => {
  it('a batch gives each element what it gets alone, whatever the order of batch sizes', () => {
    const items = f64(
      Array.from({ length: 5 * 6 }, (_, i) => Math.sin(i * 1.7)),
      [5, 6],
    );
    const s = schedule([0.9, 0.3], 'v_prediction');
    const batched = datasetDenoiser(s, items);
    const single = datasetDenoiser(s, items);
    const xs = Array.from({ length: 3 * 6 }, (_, i) => Math.cos(i * 0.9));
    for (const batch of [1, 3, 2]) {
      for (const t of [0, 1]) {
        const got = batched(f64(xs.slice(0, batch * 6), [batch, 6]), t);
        for (let b = 0; b < batch; b++) {
          const alone = single(f64(xs.slice(b * 6, b * 6 + 6), [1, 6]), t);
          for (let i = 0; i < 6; i++) expect(got.data[b * 6 + i]).toBe(alone.data[i]);
        }
      }
    }
    expect(batched(f64([], [0, 6]), 0).dims).toEqual([0, 6]);
  });
});

describe('gaussianMixtureDenoiser: validation', () => {
  const s = schedule([0.5]);
  it('rejects malformed mixtures', () => {
    const ok = {
      weights: [1, 1],
      means: [
        [0, 0],
        [1, 1],
      ],
      variances: [1, 1],
    };
    expect(() => gaussianMixtureDenoiser(s, { ...ok, weights: [] })).toThrow(ArgumentError);
    expect(() => gaussianMixtureDenoiser(s, { ...ok, weights: [0, 0] })).toThrow(ArgumentError);
    expect(() => gaussianMixtureDenoiser(s, { ...ok, weights: [-1, 2] })).toThrow(ArgumentError);
    expect(() => gaussianMixtureDenoiser(s, { ...ok, variances: [1] })).toThrow(ArgumentError);
    expect(() => gaussianMixtureDenoiser(s, { ...ok, variances: [1, -0.1] })).toThrow(ArgumentError);
    expect(() => gaussianMixtureDenoiser(s, { ...ok, means: [[0, 0], [1]] })).toThrow(ArgumentError);
    expect(() =>
      gaussianMixtureDenoiser(s, {
        ...ok,
        means: [
          [0, 0],
          [1, Number.NaN],
        ],
      }),
    ).toThrow(ArgumentError);
    const d = gaussianMixtureDenoiser(s, ok);
    expect(d.components).toBe(2);
    expect(d.dimension).toBe(2);
    expect(() => d(f64([1, 2, 3], [1, 3]), 0)).toThrow(ShapeError);
    // [B, 1, 2] is fine: trailing dims multiply to D.
    expect(d(f64([1, 2, 3, 4], [2, 1, 2]), 0).dims).toEqual([2, 1, 2]);
  });

  it('a zero-weight component never contributes', () => {
    const d = gaussianMixtureDenoiser(s, { weights: [0, 1], means: [[5], [-1]], variances: [0, 0] });
    expect(Array.from(d.posteriorMean(f64([4, 3], [2, 1]), 0).data)).toEqual([-1, -1]);
  });
});
