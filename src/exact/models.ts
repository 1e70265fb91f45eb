/**
 * Exact denoisers: the closed-form optimal predictor E[x0 | x_t] for data whose distribution is
 * known, turned into the model output a diffusion scheduler expects. They let a pipeline be tested
 * with no weights (the sampler's output can be checked against the true distribution), and they
 * are the image model of the CLI and the playground.
 *
 * Forward process (DDPM eq. 4): x_t = sqrt(a) x0 + sqrt(1 - a) eps, a = alpha_bar_t.
 *
 * Gaussian mixture, x0 ~ sum_k w_k N(mu_k, s_k^2 I) in D dimensions. Then x_t | k ~ N(sqrt(a) mu_k, v_k I)
 * with v_k = a s_k^2 + 1 - a, and
 *
 *   r_k(x_t)     = w_k N(x_t; sqrt(a) mu_k, v_k I) / sum_j (...)          (posterior component weights)
 *   E[x0 | x_t]  = sum_k r_k (mu_k + sqrt(a) s_k^2 / v_k (x_t - sqrt(a) mu_k))
 *                = sum_k r_k (1 - a) / v_k mu_k  +  (sum_k r_k sqrt(a) s_k^2 / v_k) x_t
 *
 * (the second line uses 1 - a s^2 / v = (1 - a) / v; each term is the Gaussian conditional mean).
 * The log densities are log w_k - |x_t - sqrt(a) mu_k|^2 / (2 v_k) - D/2 log v_k, normalised by
 * log-sum-exp, so no weight underflows to a 0/0.
 *
 * A finite data set {y_1 .. y_N} is the mixture with equal weights and s_k = 0: v_k = 1 - a, and
 * E[x0 | x_t] = softmax_k(-|x_t - sqrt(a) y_k|^2 / (2 (1 - a))) . y -- the "memorising" optimum of a
 * denoiser trained to convergence on those N items.
 *
 * The output for each prediction type follows from x0_hat:
 *
 *   sample:        x0_hat
 *   epsilon:       eps_hat = (x_t - sqrt(a) x0_hat) / sqrt(1 - a)
 *   v_prediction:  sqrt(a) eps_hat - sqrt(1 - a) x0_hat        (Salimans & Ho 2022, sec. 4)
 *
 * At zero SNR (a = 0, the last timestep of a `rescale_betas_zero_snr` schedule) these are exact:
 * every r_k = w_k, x0_hat is the prior mean, eps_hat = x_t, v = -x0_hat. a = 1 (no noise at all)
 * cannot come from a valid schedule (betas > 0) and is rejected.
 */

import { ArgumentError, ShapeError } from '../errors.js';
import { checkNumber, guarded, unreadable } from '../guard.js';
import { checkTrainTimestep } from '../scheduler/forward.js';
import { PREDICTION_TYPES, PREDICTIONS, type PredictionType } from '../scheduler/prediction.js';
import { convertInto, writeElement } from '../tensor/dtype.js';
import {
  checkTensor,
  type DType,
  outputLike,
  sizeOf,
  type Tensor,
  type TensorLike,
  toFloat64,
} from '../tensor/tensor.js';

/** What an exact denoiser needs from a scheduler: alpha_bar per training timestep and the prediction type. */
export interface ScheduleLike {
  /** alpha_bar_t for every training timestep (a scheduler's `alphasCumprod`). */
  readonly alphasCumprod: ArrayLike<number>;
  /** The config's prediction type: what the denoiser returns. */
  readonly config: {
    /** `epsilon`, `sample` or `v_prediction`, as the scheduler expects of its model. */
    readonly prediction_type: PredictionType;
  };
}

/** A Gaussian mixture with isotropic components: x0 ~ sum_k weights[k] N(means[k], variances[k] I). */
export interface GaussianMixture {
  /** Component weights (>= 0, not all 0); normalised internally. */
  weights: readonly number[];
  /** Component means, each of the same length D (the data dimension). */
  means: readonly (readonly number[])[];
  /** Per-component variance s_k^2 (>= 0; 0 makes the component a point). */
  variances: readonly number[];
}

/**
 * An exact denoiser: callable as a (synchronous) `Denoiser` (sampling.ts), plus the quantities
 * behind it. Every method takes `sample` shaped [B, ...itemDims] and returns tensors of the
 * sample's dtype.
 */
export interface ExactDenoiser {
  (sample: TensorLike, timestep: number): Tensor;
  /** The prediction type of the output (the scheduler's `prediction_type`). */
  readonly predictionType: PredictionType;
  /** Number of components (mixture) or items (data set). */
  readonly components: number;
  /** Dimension D of one item. */
  readonly dimension: number;
  /** The model output for the scheduler's prediction type (the same as calling the denoiser). */
  predict(sample: TensorLike, timestep: number, out?: TensorLike): Tensor;
  /** E[x0 | x_t = sample] at `timestep`. */
  posteriorMean(sample: TensorLike, timestep: number, out?: TensorLike): Tensor;
  /** Posterior component weights r_k(x_t), row-major [B, components]; each row sums to 1. */
  responsibilities(sample: TensorLike, timestep: number): Float64Array;
}

/** Components in flat typed arrays: the form the kernel reads. */
interface MixtureCore {
  K: number;
  D: number;
  /** K x D row-major means (float32 when the data set is float32: half the memory traffic, exact). */
  means: Float64Array | Float32Array;
  /** |mu_k|^2. */
  meanSq: Float64Array;
  /** log of the normalised weights (-Infinity for weight 0). */
  logWeights: Float64Array;
  variances: Float64Array;
}

function checkSchedule(scheduler: ScheduleLike): void {
  const ac = scheduler?.alphasCumprod;
  if (ac === undefined || ac === null || typeof ac.length !== 'number' || ac.length < 1) {
    throw new ArgumentError({
      field: 'scheduler.alphasCumprod',
      value: ac,
      problem: 'must be an array of alpha_bar values, one per training timestep',
      fix: 'pass a DDIMScheduler (or DDIMInverseScheduler), or { alphasCumprod, config: { prediction_type } }.',
    });
  }
  const type = scheduler.config?.prediction_type;
  if (!PREDICTION_TYPES.includes(type)) {
    throw new ArgumentError({
      field: 'scheduler.config.prediction_type',
      value: type,
      problem: `must be one of ${PREDICTION_TYPES.join(', ')}`,
      fix: 'pass a scheduler, or a config with a valid prediction_type.',
    });
  }
}

function mixtureCore(mixture: GaussianMixture): MixtureCore {
  const { weights, means, variances } = mixture ?? ({} as GaussianMixture);
  const fixShape =
    'pass { weights: [w1, ...], means: [[...D numbers], ...], variances: [s1^2, ...] }, one entry per component.';
  if (!Array.isArray(weights) || weights.length < 1) {
    throw new ArgumentError({
      field: 'mixture.weights',
      value: weights,
      problem: 'must be a non-empty array',
      fix: fixShape,
    });
  }
  const K = weights.length;
  for (const [name, list] of [
    ['means', means],
    ['variances', variances],
  ] as const) {
    if (!Array.isArray(list) || list.length !== K) {
      throw new ArgumentError({
        field: `mixture.${name}`,
        value: list,
        problem: `must be an array with one entry per component (${K}, the length of weights)`,
        fix: fixShape,
      });
    }
  }
  const D = Array.isArray(means[0]) ? means[0].length : 0;
  if (D < 1) {
    throw new ArgumentError({
      field: 'mixture.means[0]',
      value: means[0],
      problem: 'must be a non-empty array of numbers',
      fix: fixShape,
    });
  }
  const flat = new Float64Array(K * D);
  const meanSq = new Float64Array(K);
  const vars = new Float64Array(K);
  let total = 0;
  for (let k = 0; k < K; k++) {
    total += checkNumber(weights[k], `mixture.weights[${k}]`, { min: 0 }, 'weights must be non-negative.');
    vars[k] = checkNumber(
      variances[k],
      `mixture.variances[${k}]`,
      { min: 0 },
      'variances must be non-negative.',
    );
    const m = means[k];
    if (!Array.isArray(m) || m.length !== D) {
      throw new ArgumentError({
        field: `mixture.means[${k}]`,
        value: m,
        problem: `must be an array of ${D} numbers (the length of means[0])`,
        fix: 'give every component mean the same dimension.',
      });
    }
    let sq = 0;
    for (let i = 0; i < D; i++) {
      const v = checkNumber(m[i], `mixture.means[${k}][${i}]`, {}, 'means must be finite.');
      flat[k * D + i] = v;
      sq += v * v;
    }
    meanSq[k] = sq;
  }
  if (!(total > 0)) {
    throw new ArgumentError({
      field: 'mixture.weights',
      value: weights,
      problem: 'must not all be 0',
      fix: 'give at least one component a positive weight.',
    });
  }
  const logWeights = new Float64Array(K);
  for (let k = 0; k < K; k++) logWeights[k] = Math.log(weights[k] / total);
  return { K, D, means: flat, meanSq, logWeights, variances: vars };
}

function datasetCore(data: TensorLike): { core: MixtureCore; itemDims: number[] } {
  checkTensor(data, 'data');
  if (data.dims.length < 1 || data.dims[0] < 1) {
    throw new ShapeError({
      field: 'data.dims',
      value: [...data.dims],
      problem: 'must be [N, ...itemDims] with N >= 1 items',
      fix: 'stack the items along a first axis, e.g. dims [N, 3, 32, 32].',
    });
  }
  const K = data.dims[0];
  const D = data.data.length / K;
  if (D < 1) {
    throw new ShapeError({
      field: 'data.dims',
      value: [...data.dims],
      problem: 'describes empty items',
      fix: 'give every item at least one value.',
    });
  }
  // float32 data stay float32 (every product is still formed in float64); others become float64.
  const means = data.data instanceof Float32Array ? data.data.slice() : toFloat64(data);
  const meanSq = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    let sq = 0;
    for (let i = k * D; i < (k + 1) * D; i++) {
      const v = means[i];
      if (!Number.isFinite(v)) {
        throw new ArgumentError({
          field: `data[${i}]`,
          value: v,
          problem: 'is not finite',
          fix: 'the data set must hold finite values only.',
        });
      }
      sq += v * v;
    }
    meanSq[k] = sq;
  }
  const logWeights = new Float64Array(K).fill(-Math.log(K));
  return {
    core: { K, D, means, meanSq, logWeights, variances: new Float64Array(K) },
    itemDims: data.dims.slice(1),
  };
}

type Output = 'posterior' | PredictionType;

/**
 * Responsibilities below this are skipped when averaging the means: they change x0_hat by less than
 * K * 1e-18 * max|mu| (the largest responsibility is at least 1 / K), far below float64 resolution
 * of any realistic x0_hat, and at moderate noise most of a large data set is in that tail.
 */
const NEGLIGIBLE = 1e-18;

/**
 * Build the denoiser around a core. `checkItem` validates the sample's dims and returns the batch size.
 *
 * The kernel walks the components in the outer loop and the batch in the inner one, so each mean is
 * read from memory twice per call (dot products, then the weighted average) whatever the batch size,
 * while the batch's samples and accumulators stay in cache.
 */
function makeDenoiser(
  scheduler: ScheduleLike,
  core: MixtureCore,
  checkItem: (sample: TensorLike) => number,
): ExactDenoiser {
  const { K, D } = core;
  // Scratch reused across calls and grown with the batch (the computation is synchronous, so calls
  // never interleave).
  let capacity = 0;
  let xs = new Float64Array(0); // B x D samples in float64
  let acc = new Float64Array(0); // B x D weighted sums of means
  let logits = new Float64Array(0); // B x K logits, then responsibilities
  let xx = new Float64Array(0); // |x_b|^2
  let xCoef = new Float64Array(0); // sum_k r_k sqrt(a) s_k^2 / v_k per batch element

  function ensure(batch: number): void {
    if (batch <= capacity) return;
    capacity = batch;
    xs = new Float64Array(batch * D);
    acc = new Float64Array(batch * D);
    logits = new Float64Array(batch * K);
    xx = new Float64Array(batch);
    xCoef = new Float64Array(batch);
  }

  function alphaBar(timestep: number): number {
    const t = checkTrainTimestep(timestep, scheduler.alphasCumprod.length);
    const a = scheduler.alphasCumprod[t];
    if (!(a >= 0 && a < 1)) {
      throw new ArgumentError({
        field: `alphasCumprod[${t}]`,
        value: a,
        problem: 'must be in [0, 1) for an exact denoiser (1 would mean x_t carries no noise)',
        fix: 'use a schedule with positive betas.',
      });
    }
    return a;
  }

  // v_k of the first component with positive weight: the |x|^2 / (2 v) term is common to every
  // component with that variance and is left out of their logits (softmax is shift-invariant), so
  // equal variances (data sets, zero SNR where every v_k = 1) lose no precision to it.
  let refIndex = 0;
  while (core.logWeights[refIndex] === Number.NEGATIVE_INFINITY) refIndex++;

  /** Read the batch into xs (float64) and |x_b|^2 into xx. */
  function load(sample: TensorLike, type: DType, batch: number): void {
    const src = sample.data;
    const X = xs;
    const XX = xx;
    convertInto(src, type, X, 'float64', 0, batch * D);
    for (let b = 0; b < batch; b++) {
      let sum = 0;
      for (let i = b * D; i < (b + 1) * D; i++) sum += X[i] * X[i];
      XX[b] = sum;
    }
  }

  /** Responsibilities r_k(x_b) into logits[b * K + k]. */
  function weigh(a: number, batch: number): void {
    const sqrtA = Math.sqrt(a);
    const { means, meanSq, logWeights, variances } = core;
    // Locals, not the closure's reassignable scratch variables: the JIT keeps them in registers.
    const X = xs;
    const L = logits;
    const XX = xx;
    const halfInvRef = 0.5 / (a * variances[refIndex] + (1 - a));
    for (let k = 0; k < K; k++) {
      const lw = logWeights[k];
      if (lw === Number.NEGATIVE_INFINITY) {
        for (let b = 0; b < batch; b++) L[b * K + k] = lw;
        continue;
      }
      const v = a * variances[k] + (1 - a);
      const halfInv = 0.5 / v;
      const constant = lw - a * meanSq[k] * halfInv - 0.5 * D * Math.log(v);
      const base = k * D;
      for (let b = 0; b < batch; b++) {
        // Four partial sums: independent chains the CPU can overlap.
        const xb = b * D;
        let d0 = 0;
        let d1 = 0;
        let d2 = 0;
        let d3 = 0;
        let i = 0;
        for (; i + 3 < D; i += 4) {
          d0 += X[xb + i] * means[base + i];
          d1 += X[xb + i + 1] * means[base + i + 1];
          d2 += X[xb + i + 2] * means[base + i + 2];
          d3 += X[xb + i + 3] * means[base + i + 3];
        }
        for (; i < D; i++) d0 += X[xb + i] * means[base + i];
        const dot = d0 + d1 + (d2 + d3);
        // log w_k - |x - sqrt(a) mu_k|^2 / (2 v_k) - D/2 log v_k, with |x - sqrt(a) mu|^2 expanded as
        // |x|^2 - 2 sqrt(a) x.mu + a |mu|^2 and |x|^2 / (2 v_ref) dropped from every logit.
        L[b * K + k] = constant - XX[b] * (halfInv - halfInvRef) + 2 * sqrtA * dot * halfInv;
      }
    }
    for (let b = 0; b < batch; b++) {
      const row = b * K;
      let max = Number.NEGATIVE_INFINITY;
      for (let k = 0; k < K; k++) if (L[row + k] > max) max = L[row + k];
      let sum = 0;
      for (let k = 0; k < K; k++) {
        const e = Math.exp(L[row + k] - max);
        L[row + k] = e;
        sum += e;
      }
      for (let k = 0; k < K; k++) L[row + k] /= sum;
    }
  }

  /** x0_hat = sum_k r_k (1 - a) / v_k mu_k + (sum_k r_k sqrt(a) s_k^2 / v_k) x, as acc + xCoef x. */
  function average(a: number, batch: number): void {
    const sqrtA = Math.sqrt(a);
    const { means, variances } = core;
    const A = acc;
    const L = logits;
    const C = xCoef;
    A.fill(0, 0, batch * D);
    C.fill(0, 0, batch);
    for (let k = 0; k < K; k++) {
      const v = a * variances[k] + (1 - a);
      const base = k * D;
      for (let b = 0; b < batch; b++) {
        const r = L[b * K + k];
        if (r < NEGLIGIBLE) continue;
        const w = (r * (1 - a)) / v;
        C[b] += (r * sqrtA * variances[k]) / v;
        const ab = b * D;
        for (let i = 0; i < D; i++) A[ab + i] += w * means[base + i];
      }
    }
  }

  function run(sample: TensorLike, timestep: number, what: Output, out?: TensorLike): Tensor {
    const type = checkTensor(sample, 'sample');
    const batch = checkItem(sample);
    const a = alphaBar(timestep);
    const result = outputLike(out, 'out', sample, 'sample', type);
    ensure(batch);
    load(sample, type, batch);
    weigh(a, batch);
    average(a, batch);
    const sqrtA = Math.sqrt(a);
    const sqrtB = Math.sqrt(1 - a);
    const dst = result.data;
    // The posterior mean is x0 itself; a prediction type's output comes from its row of prediction.ts.
    const output = what === 'posterior' ? null : PREDICTIONS[what].output;
    for (let i = 0; i < batch * D; i++) {
      const x = xs[i];
      const x0 = acc[i] + xCoef[(i / D) | 0] * x;
      const value = output === null ? x0 : output(x, x0, sqrtA, sqrtB);
      writeElement(dst, type, i, value);
    }
    return result;
  }

  const denoiser = ((sample: TensorLike, timestep: number) =>
    run(sample, timestep, scheduler.config.prediction_type)) as ExactDenoiser;
  Object.defineProperties(denoiser, {
    predictionType: { get: () => scheduler.config.prediction_type, enumerable: true },
    components: { value: K, enumerable: true },
    dimension: { value: D, enumerable: true },
  });
  denoiser.predict = (sample, timestep, out) => run(sample, timestep, scheduler.config.prediction_type, out);
  denoiser.posteriorMean = (sample, timestep, out) => run(sample, timestep, 'posterior', out);
  denoiser.responsibilities = (sample, timestep) => {
    const type = checkTensor(sample, 'sample');
    const batch = checkItem(sample);
    const a = alphaBar(timestep);
    ensure(batch);
    load(sample, type, batch);
    weigh(a, batch);
    return logits.slice(0, batch * K);
  };
  return denoiser;
}

/**
 * The exact denoiser of a Gaussian mixture. Samples are [B, ...] with D values per batch element
 * (e.g. [B, 2] for 2-D points); the output is the scheduler's prediction type, in the sample's dtype.
 */
export function gaussianMixtureDenoiser(scheduler: ScheduleLike, mixture: GaussianMixture): ExactDenoiser {
  guarded(() => checkSchedule(scheduler), unreadable(ArgumentError, 'scheduler', 'pass a DDIMScheduler.'));
  const core = guarded(
    () => mixtureCore(mixture),
    unreadable(ArgumentError, 'mixture', 'pass plain { weights, means, variances } arrays.'),
  );
  return makeDenoiser(scheduler, core, (sample) => {
    const dims = sample.dims;
    const n = sizeOf(dims as number[], 'sample.dims');
    const batch = dims.length > 0 ? dims[0] : 0;
    if (dims.length < 1 || (batch > 0 && n / batch !== core.D)) {
      throw new ShapeError({
        field: 'sample.dims',
        value: [...dims],
        problem: `must be [batch, ...] with ${core.D} values per batch element (the mixture's dimension)`,
        fix: `pass samples shaped [B, ${core.D}] (or any [B, ...] whose trailing dims multiply to ${core.D}).`,
      });
    }
    return batch;
  });
}

/**
 * The exact denoiser of a finite data set `data` ([N, ...itemDims]): E[x0 | x_t] is the
 * softmax-weighted average of the items. Samples are [B, ...itemDims].
 */
export function datasetDenoiser(scheduler: ScheduleLike, data: TensorLike): ExactDenoiser {
  guarded(() => checkSchedule(scheduler), unreadable(ArgumentError, 'scheduler', 'pass a DDIMScheduler.'));
  const { core, itemDims } = datasetCore(data);
  return makeDenoiser(scheduler, core, (sample) => {
    const dims = sample.dims;
    let same = dims.length === itemDims.length + 1;
    for (let i = 0; same && i < itemDims.length; i++) same = dims[i + 1] === itemDims[i];
    if (!same) {
      throw new ShapeError({
        field: 'sample.dims',
        value: [...dims],
        problem: `must be [batch, ${itemDims.join(', ')}] to match the data set's items`,
        fix: `pass samples shaped [B, ${itemDims.join(', ')}].`,
      });
    }
    return dims[0];
  });
}
