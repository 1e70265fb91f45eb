/**
 * Kernel MMD between a set of samples and an isotropic Gaussian mixture known in closed form: the
 * distance the table1 experiment uses to ask how close a sampler gets to the true distribution.
 *
 * With the Gaussian (RBF) kernel k(x, y) = exp(-|x - y|^2 / (2 l^2)) every expectation against a
 * Gaussian is analytic, because the kernel is itself an unnormalised Gaussian in y:
 *
 *   E_{y ~ N(mu, s^2 I)} k(x, y)            = (l^2 / (l^2 + s^2))^{d/2}       exp(-|x - mu|^2 / (2 (l^2 + s^2)))
 *   E_{y ~ N(mu1, s1^2 I), y' ~ N(mu2, s2^2 I)} k(y, y')
 *                                           = (l^2 / (l^2 + s1^2 + s2^2))^{d/2} exp(-|mu1 - mu2|^2 / (2 (l^2 + s1^2 + s2^2)))
 *
 * so MMD^2(Q, P) = E_QQ k - 2 E_QP k + E_PP k is estimated with only the sample-sample term
 * estimated (unbiased, i != j) and the other two exact: no reference sample, no second noise source.
 *
 * The estimator is unbiased, so for N exact draws from P it is 0 on average; its spread is the noise
 * floor. Under Q = P it is a degenerate U-statistic with kernel
 * h(x, x') = k(x, x') - g(x) - g(x') + c (g(x) = E_y k(x, y), c = E_PP k), whose variance is
 * exactly 2 E[h^2] / (N (N - 1)) with E[h^2] = E[k^2] - 2 E[g^2] + c^2 (all three analytic below).
 */
import { ArgumentError } from '../errors.js';
import type { GaussianMixture } from './models.js';

/** Check the mixture (finite, non-negative weights summing to 1; means of one dimension) and return that dimension. */
function dimOf(mixture: GaussianMixture): number {
  const { weights, means, variances } = mixture;
  const k = weights.length;
  if (k === 0 || means.length !== k || variances.length !== k) {
    throw new ArgumentError({
      field: 'mixture',
      value: { weights: weights.length, means: means.length, variances: variances.length },
      problem: 'must have as many means and variances as weights (at least one)',
      fix: 'pass one mean vector and one variance per component.',
    });
  }
  const d = means[0].length;
  let total = 0;
  for (let j = 0; j < k; j++) {
    if (means[j].length !== d || !means[j].every(Number.isFinite)) {
      throw new ArgumentError({
        field: `mixture.means[${j}]`,
        value: means[j],
        problem: `must be ${d} finite numbers (the dimension of means[0])`,
        fix: 'give every component mean the same dimension, with finite coordinates.',
      });
    }
    for (const [name, v] of [
      ['weights', weights[j]],
      ['variances', variances[j]],
    ] as const) {
      if (!(Number.isFinite(v) && v >= 0)) {
        throw new ArgumentError({
          field: `mixture.${name}[${j}]`,
          value: v,
          problem: 'must be a finite number >= 0',
          fix: `pass non-negative ${name}.`,
        });
      }
    }
    total += weights[j];
  }
  if (Math.abs(total - 1) > 1e-9) {
    throw new ArgumentError({
      field: 'mixture.weights',
      value: weights,
      problem: `must sum to 1 (they sum to ${total})`,
      fix: 'normalise the weights.',
    });
  }
  return d;
}

function sqDist(a: ArrayLike<number>, aOffset: number, b: ArrayLike<number>, d: number): number {
  let s = 0;
  for (let i = 0; i < d; i++) {
    const e = a[aOffset + i] - b[i];
    s += e * e;
  }
  return s;
}

/**
 * E over y, y' drawn independently from N(mu1, s1 I) and N(mu2, s2 I) of the RBF kernel with squared
 * bandwidth l2 (the `s` are variances). With s2 = 0 and mu2 = x it is E_y k(x, y).
 */
function gaussPair(sq: number, l2: number, s: number, d: number): number {
  const a = l2 + s;
  return (l2 / a) ** (d / 2) * Math.exp(-sq / (2 * a));
}

/** g(x) = E_{y ~ mixture} k(x, y) for the point at `offset` of `x`. */
export function kernelMeanAt(
  x: ArrayLike<number>,
  offset: number,
  mixture: GaussianMixture,
  bandwidth: number,
): number {
  const d = mixture.means[0].length;
  const l2 = bandwidth * bandwidth;
  let g = 0;
  for (let j = 0; j < mixture.weights.length; j++) {
    g += mixture.weights[j] * gaussPair(sqDist(x, offset, mixture.means[j], d), l2, mixture.variances[j], d);
  }
  return g;
}

/** c = E_{y, y' ~ mixture} k(y, y'), with squared bandwidth l2. */
function selfKernelMean(mixture: GaussianMixture, l2: number, d: number): number {
  const { weights, means, variances } = mixture;
  let c = 0;
  for (let i = 0; i < weights.length; i++) {
    for (let j = 0; j < weights.length; j++) {
      c +=
        weights[i] *
        weights[j] *
        gaussPair(sqDist(means[i], 0, means[j], d), l2, variances[i] + variances[j], d);
    }
  }
  return c;
}

function checkBandwidth(bandwidth: number): void {
  if (!(bandwidth > 0) || !Number.isFinite(bandwidth)) {
    throw new ArgumentError({
      field: 'bandwidth',
      value: bandwidth,
      problem: 'must be a finite number > 0',
      fix: 'use a kernel width about the size of the structure to resolve (e.g. a mode standard deviation).',
    });
  }
}

/**
 * Unbiased squared kernel MMD between `samples` (N points of `mixture`'s dimension, flattened
 * row-major) and the mixture itself: mean_{i != j} k(x_i, x_j) - 2 mean_i g(x_i) + c.
 */
export function mmdToMixture(
  samples: ArrayLike<number>,
  mixture: GaussianMixture,
  bandwidth: number,
): number {
  const d = dimOf(mixture);
  checkBandwidth(bandwidth);
  if (samples.length % d !== 0 || samples.length < 2 * d) {
    throw new ArgumentError({
      field: 'samples',
      value: samples.length,
      problem: `must hold at least two points of dimension ${d} (a multiple of ${d} numbers)`,
      fix: `pass N >= 2 points flattened row-major, N * ${d} numbers.`,
    });
  }
  for (let i = 0; i < samples.length; i++) {
    if (!Number.isFinite(samples[i])) {
      throw new ArgumentError({
        field: `samples[${i}]`,
        value: samples[i],
        problem: 'is not finite (the MMD would be NaN)',
        fix: 'score finite samples only.',
      });
    }
  }
  const n = samples.length / d;
  const l2 = bandwidth * bandwidth;
  const inv = -1 / (2 * l2);
  let kxx = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) {
        const e = samples[i * d + k] - samples[j * d + k];
        s += e * e;
      }
      kxx += Math.exp(s * inv);
    }
  }
  kxx = (2 * kxx) / (n * (n - 1));
  let kxy = 0;
  for (let i = 0; i < n; i++) kxy += kernelMeanAt(samples, i * d, mixture, bandwidth);
  kxy /= n;
  return kxx - 2 * kxy + selfKernelMean(mixture, l2, d);
}

/**
 * E over x ~ N(mu, s I) of exp(-|x - a|^2 / (2 p) - |x - b|^2 / (2 q)): the product of two Gaussian
 * bumps is one bump centred at (q a + p b) / (p + q) with width r = p q / (p + q), times
 * exp(-|a - b|^2 / (2 (p + q))).
 */
function productBumpMean(
  a: readonly number[],
  p: number,
  b: readonly number[],
  q: number,
  mu: readonly number[],
  s: number,
  d: number,
): number {
  const r = (p * q) / (p + q);
  let ab = 0;
  let mm = 0;
  for (let k = 0; k < d; k++) {
    const e = a[k] - b[k];
    ab += e * e;
    const m = (q * a[k] + p * b[k]) / (p + q);
    const f = mu[k] - m;
    mm += f * f;
  }
  return Math.exp(-ab / (2 * (p + q))) * (r / (r + s)) ** (d / 2) * Math.exp(-mm / (2 * (r + s)));
}

/**
 * The noise floor: the standard deviation of `mmdToMixture` for N independent exact draws from
 * `mixture` (whose mean is 0). sqrt(2 (E[k^2] - 2 E[g^2] + c^2) / (N (N - 1))), all terms closed form.
 */
export function mmdNullStd(n: number, mixture: GaussianMixture, bandwidth: number): number {
  const d = dimOf(mixture);
  checkBandwidth(bandwidth);
  if (!Number.isInteger(n) || n < 2) {
    throw new ArgumentError({
      field: 'n',
      value: n,
      problem: 'must be an integer >= 2',
      fix: 'pass the number of samples the MMD is taken over.',
    });
  }
  const { weights, means, variances } = mixture;
  const K = weights.length;
  const l2 = bandwidth * bandwidth;
  const c = selfKernelMean(mixture, l2, d);
  // k(x, x')^2 is the RBF kernel with squared bandwidth l2 / 2, up to nothing: exp(-|x - x'|^2 / l2).
  const kk = selfKernelMean(mixture, l2 / 2, d);
  // g(x)^2 = sum_ij w_i w_j A_i A_j exp(-|x - mu_i|^2 / (2 a_i) - |x - mu_j|^2 / (2 a_j)), a_i = l2 + s_i,
  // A_i = (l2 / a_i)^{d/2}; take its mean over x ~ mixture with productBumpMean.
  let gg = 0;
  for (let i = 0; i < K; i++) {
    const ai = l2 + variances[i];
    const Ai = (l2 / ai) ** (d / 2);
    for (let j = 0; j < K; j++) {
      const aj = l2 + variances[j];
      const Aj = (l2 / aj) ** (d / 2);
      let e = 0;
      for (let m = 0; m < K; m++) {
        e += weights[m] * productBumpMean(means[i], ai, means[j], aj, means[m], variances[m], d);
      }
      gg += weights[i] * weights[j] * Ai * Aj * e;
    }
  }
  const eh2 = kk - 2 * gg + c * c;
  return Math.sqrt((2 * Math.max(0, eh2)) / (n * (n - 1)));
}

/** K modes evenly spaced on a circle: the classic 2-D test distribution for samplers. */
export function circleMixture(modes: number, radius: number, std: number): GaussianMixture {
  if (!Number.isInteger(modes) || modes < 1) {
    throw new ArgumentError({
      field: 'modes',
      value: modes,
      problem: 'must be an integer >= 1',
      fix: 'pass the number of modes, e.g. 8.',
    });
  }
  const means: number[][] = [];
  for (let k = 0; k < modes; k++) {
    const a = (2 * Math.PI * k) / modes;
    means.push([radius * Math.cos(a), radius * Math.sin(a)]);
  }
  return {
    weights: new Array(modes).fill(1 / modes),
    means,
    variances: new Array(modes).fill(std * std),
  };
}
