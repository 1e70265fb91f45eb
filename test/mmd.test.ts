import { describe, expect, it } from 'vitest';
import { circleMixture, kernelMeanAt, mmdNullStd, mmdToMixture } from '../src/exact/mmd.js';
import type { GaussianMixture } from '../src/exact/models.js';
import { ArgumentError } from '../src/index.js';
import { seededRandom } from './helpers/rng.js';

function drawMixture(mixture: GaussianMixture, n: number, rng: ReturnType<typeof seededRandom>) {
  const d = mixture.means[0].length;
  const out = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let u = rng.uniform();
    let k = 0;
    while (k < mixture.weights.length - 1 && u >= mixture.weights[k]) u -= mixture.weights[k++];
    const s = Math.sqrt(mixture.variances[k]);
    for (let j = 0; j < d; j++) out[i * d + j] = mixture.means[k][j] + s * rng.normal();
  }
  return out;
}

const uneven: GaussianMixture = {
  weights: [0.5, 0.3, 0.2],
  means: [
    [0, 0, 0],
    [1, -0.5, 0.25],
    [-0.7, 0.4, 1],
  ],
  variances: [0.04, 0.09, 0.01],
};

describe('closed-form kernel expectations', () => {
  it('E_y k(x, y) matches a Monte Carlo average over draws of the mixture', () => {
    const rng = seededRandom(11);
    const ys = drawMixture(uneven, 200_000, rng);
    for (const x of [
      [0.1, 0.2, -0.1],
      [1, -0.4, 0.3],
      [2, 2, 2],
    ]) {
      let mc = 0;
      for (let i = 0; i < 200_000; i++) {
        const d2 = (x[0] - ys[3 * i]) ** 2 + (x[1] - ys[3 * i + 1]) ** 2 + (x[2] - ys[3 * i + 2]) ** 2;
        mc += Math.exp(-d2 / (2 * 0.3 * 0.3));
      }
      mc /= 200_000;
      // Monte Carlo error of a mean of values in [0, 1] over 2e5 draws is below 2e-3.
      expect(Math.abs(kernelMeanAt(x, 0, uneven, 0.3) - mc)).toBeLessThan(3e-3);
    }
  });

  it('the unbiased MMD^2 of exact draws averages 0 with the closed-form spread (the noise floor)', () => {
    const rng = seededRandom(5);
    const mixture = circleMixture(8, 1, 0.2);
    const n = 100;
    const reps = 600;
    const values: number[] = [];
    for (let r = 0; r < reps; r++) values.push(mmdToMixture(drawMixture(mixture, n, rng), mixture, 0.3));
    const mean = values.reduce((a, b) => a + b) / reps;
    const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (reps - 1));
    const floor = mmdNullStd(n, mixture, 0.3);
    expect(Math.abs(mean)).toBeLessThan((4 * floor) / Math.sqrt(reps));
    // The sample standard deviation of 600 draws is within ~6% of the true one (2 sigma).
    expect(sd / floor).toBeGreaterThan(0.88);
    expect(sd / floor).toBeLessThan(1.12);
  });

  it('the floor shrinks like 1/N', () => {
    const mixture = circleMixture(8, 1, 0.2);
    const a = mmdNullStd(100, mixture, 0.3);
    const b = mmdNullStd(1000, mixture, 0.3);
    expect(a / b).toBeCloseTo(Math.sqrt((1000 * 999) / (100 * 99)), 10);
  });

  it('equals the true MMD^2 between two distributions on average (a shifted mixture)', () => {
    const rng = seededRandom(9);
    const p = circleMixture(4, 1, 0.2);
    const q: GaussianMixture = { ...p, means: p.means.map(([x, y]) => [x + 0.15, y]) };
    // MMD^2(Q, P) in closed form: E_QQ k - 2 E_QP k + E_PP k, each a sum over component pairs of
    // (l^2 / (l^2 + s_i + s_j)) exp(-|m_i - m_j|^2 / (2 (l^2 + s_i + s_j))) in 2-D.
    const l2 = 0.09;
    const pair = (a: GaussianMixture, b: GaussianMixture) => {
      let s = 0;
      for (let i = 0; i < a.weights.length; i++) {
        for (let j = 0; j < b.weights.length; j++) {
          const v = l2 + a.variances[i] + b.variances[j];
          const d2 = (a.means[i][0] - b.means[j][0]) ** 2 + (a.means[i][1] - b.means[j][1]) ** 2;
          s += a.weights[i] * b.weights[j] * (l2 / v) * Math.exp(-d2 / (2 * v));
        }
      }
      return s;
    };
    const truth = pair(q, q) - 2 * pair(q, p) + pair(p, p);
    let mean = 0;
    const reps = 40;
    for (let r = 0; r < reps; r++) mean += mmdToMixture(drawMixture(q, 500, rng), p, 0.3) / reps;
    expect(truth).toBeGreaterThan(10 * mmdNullStd(500, p, 0.3));
    expect(Math.abs(mean - truth)).toBeLessThan(0.1 * truth);
  });

  it('places circle modes evenly at the radius', () => {
    const m = circleMixture(8, 2, 0.1);
    expect(m.means[2][0]).toBeCloseTo(0, 12);
    expect(m.means[2][1]).toBeCloseTo(2, 12);
    expect(m.weights.reduce((a, b) => a + b)).toBeCloseTo(1, 12);
    expect(m.variances[0]).toBeCloseTo(0.01, 15);
  });

  it('refuses bad input with ArgumentErrors', () => {
    const m = circleMixture(3, 1, 0.1);
    expect(() => mmdToMixture([1, 2, 3], m, 0.3)).toThrow(ArgumentError);
    expect(() => mmdToMixture([1, 2, 3, 4], m, 0)).toThrow(/bandwidth/);
    expect(() => mmdToMixture([1, 2, 3, 4], { ...m, weights: [0.5, 0.5, 0.5] }, 0.3)).toThrow(/sum to 1/);
    expect(() => mmdNullStd(1, m, 0.3)).toThrow(ArgumentError);
    expect(() => circleMixture(0, 1, 0.1)).toThrow(ArgumentError);
    // Non-finite input would make the MMD NaN: refused, naming the entry.
    expect(() => mmdToMixture([1, Number.NaN, 3, 4], m, 0.3)).toThrow(/samples\[1\]/);
    const nanMean = {
      ...m,
      means: [
        [0, 0],
        [1, Number.NaN],
        [2, 2],
      ],
    };
    expect(() => mmdToMixture([1, 2, 3, 4], nanMean, 0.3)).toThrow(/mixture\.means\[1\]/);
    expect(() => mmdNullStd(10, { ...m, variances: [0.1, Number.POSITIVE_INFINITY, 0.1] }, 0.3)).toThrow(
      /mixture\.variances\[1\]/,
    );
  });
});
