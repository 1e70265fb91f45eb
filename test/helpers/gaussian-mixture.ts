/**
 * A 2-D Gaussian mixture with its exact denoiser, for sampling experiments whose "model" is
 * perfect, so that everything measured is the sampler's own error.
 *
 * This is deliberately a second, plain implementation of what `gaussianMixtureDenoiser`
 * (src/exact/models.ts) computes: models.test.ts checks the library's denoiser against it, and
 * gaussian-mixture.test.ts uses it so that its question (which previous-timestep rule samples
 * better) measures the scheduler alone; a regression in the library's denoiser then fails the
 * denoiser's test, not the scheduler's.
 *
 * For x0 ~ sum_k w_k N(mu_k, s_k^2 I) and x_t = sqrt(a) x0 + sqrt(1 - a) eps:
 *   x_t | k ~ N(sqrt(a) mu_k, v_k I),  v_k = a s_k^2 + 1 - a
 *   E[x0 | x_t] = sum_k r_k (mu_k + sqrt(a) s_k^2 / v_k (x_t - sqrt(a) mu_k)),  r_k ∝ w_k N(x_t; sqrt(a) mu_k, v_k I)
 *   eps_hat = (x_t - sqrt(a) E[x0 | x_t]) / sqrt(1 - a)
 */

export interface Mixture {
  means: readonly (readonly [number, number])[];
  weights: readonly number[];
  stds: readonly number[];
}

/** Exact epsilon prediction at noise level alpha_bar `a` for points `x` (flat [x, y, x, y, ...]). */
export function exactEpsilon(mixture: Mixture, x: ArrayLike<number>, a: number): Float64Array {
  const { means, weights, stds } = mixture;
  const K = means.length;
  const sa = Math.sqrt(a);
  const out = new Float64Array(x.length);
  const logR = new Float64Array(K);
  for (let i = 0; i < x.length; i += 2) {
    const x0 = x[i];
    const x1 = x[i + 1];
    let max = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < K; k++) {
      const v = a * stds[k] ** 2 + 1 - a;
      const d0 = x0 - sa * means[k][0];
      const d1 = x1 - sa * means[k][1];
      // log of w_k N(x; sqrt(a) mu_k, v I) in 2-D, up to a constant.
      logR[k] = Math.log(weights[k]) - Math.log(v) - (d0 * d0 + d1 * d1) / (2 * v);
      if (logR[k] > max) max = logR[k];
    }
    let z = 0;
    for (let k = 0; k < K; k++) {
      logR[k] = Math.exp(logR[k] - max);
      z += logR[k];
    }
    let e0 = 0;
    let e1 = 0;
    for (let k = 0; k < K; k++) {
      const v = a * stds[k] ** 2 + 1 - a;
      const gain = (sa * stds[k] ** 2) / v;
      const r = logR[k] / z;
      e0 += r * (means[k][0] + gain * (x0 - sa * means[k][0]));
      e1 += r * (means[k][1] + gain * (x1 - sa * means[k][1]));
    }
    out[i] = (x0 - sa * e0) / Math.sqrt(1 - a);
    out[i + 1] = (x1 - sa * e1) / Math.sqrt(1 - a);
  }
  return out;
}

const GOLDEN = (Math.sqrt(5) - 1) / 2;

/**
 * `count` 2-D standard normal points from a rank-1 (Fibonacci) lattice through Box-Muller:
 * u1 = (i + 1/2) / count, u2 = frac(i * golden + shift). Low-discrepancy points instead of random
 * ones, so averages over them converge like 1/count instead of 1/sqrt(count): the experiments
 * below compare numbers that differ by a few percent, which random draws of this size would blur.
 */
export function gaussianLattice(count: number, shift = 0): Float64Array {
  const out = new Float64Array(2 * count);
  for (let i = 0; i < count; i++) {
    const u1 = (i + 0.5) / count;
    const u2 = (((i * GOLDEN + shift) % 1) + 1) % 1;
    const radius = Math.sqrt(-2 * Math.log(u1));
    out[2 * i] = radius * Math.cos(2 * Math.PI * u2);
    out[2 * i + 1] = radius * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** About `count` points distributed as the mixture: round(w_k count) lattice points per component. */
export function mixtureLattice(mixture: Mixture, count: number): Float64Array {
  const points: number[] = [];
  mixture.weights.forEach((weight, k) => {
    const n = Math.round(weight * count);
    const z = gaussianLattice(n, 0.1 + 0.5 * k);
    for (let i = 0; i < n; i++) {
      points.push(
        mixture.means[k][0] + mixture.stds[k] * z[2 * i],
        mixture.means[k][1] + mixture.stds[k] * z[2 * i + 1],
      );
    }
  });
  return Float64Array.from(points);
}

function meanDistance(a: Float64Array, b: Float64Array): number {
  let total = 0;
  for (let i = 0; i < a.length; i += 2) {
    for (let j = 0; j < b.length; j += 2) {
      const d0 = a[i] - b[j];
      const d1 = a[i + 1] - b[j + 1];
      total += Math.sqrt(d0 * d0 + d1 * d1);
    }
  }
  return total / ((a.length / 2) * (b.length / 2));
}

/**
 * Energy distance (Székely & Rizzo) to a fixed reference point set:
 * sqrt(2 E|X - Y| - E|X - X'| - E|Y - Y'|). A metric between distributions with no bandwidth to
 * tune: 0 only when they are equal.
 */
export function energyDistanceTo(reference: Float64Array): (points: Float64Array) => number {
  const yy = meanDistance(reference, reference);
  return (points) =>
    Math.sqrt(Math.max(0, 2 * meanDistance(points, reference) - meanDistance(points, points) - yy));
}
