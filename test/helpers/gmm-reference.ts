/**
 * TEMPORARY: the Gaussian-mixture exact denoiser in float64 TypeScript, until `src/models.ts`
 * (`gaussianMixtureDenoiser`) lands on main; then the ONNX comparison switches to it.
 */
import type { PredictionType, TensorLike } from '../../src/index.js';
import { toFloat64 } from '../../src/index.js';
import type { MixtureSpec } from './onnx-models.js';

export function gmmPredict(
  alphaBar: number,
  mixture: MixtureSpec,
  prediction: PredictionType,
  x: Float64Array,
): Float64Array {
  const { weights, means, variances } = mixture;
  const K = weights.length;
  const D = x.length;
  const sa = Math.sqrt(alphaBar);
  const logits = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    const v = alphaBar * variances[k] + 1 - alphaBar;
    let sq = 0;
    for (let i = 0; i < D; i++) sq += (x[i] - sa * means[k][i]) ** 2;
    logits[k] = Math.log(weights[k]) - sq / (2 * v) - (D / 2) * Math.log(v);
  }
  const max = Math.max(...logits);
  let z = 0;
  for (let k = 0; k < K; k++) z += Math.exp(logits[k] - max);
  const x0 = new Float64Array(D);
  for (let k = 0; k < K; k++) {
    const r = Math.exp(logits[k] - max) / z;
    const v = alphaBar * variances[k] + 1 - alphaBar;
    const gain = (sa * variances[k]) / v;
    for (let i = 0; i < D; i++) x0[i] += r * (means[k][i] + gain * (x[i] - sa * means[k][i]));
  }
  if (prediction === 'sample') return x0;
  const s1 = Math.sqrt(1 - alphaBar);
  const out = new Float64Array(D);
  for (let i = 0; i < D; i++) {
    const eps = (x[i] - sa * x0[i]) / s1;
    out[i] = prediction === 'epsilon' ? eps : sa * eps - s1 * x0[i];
  }
  return out;
}

/** A denoiser over a batch whose element b uses mixtures[b]; returns float32. */
export function referenceDenoiser(
  alphasCumprod: Float64Array,
  mixtures: readonly MixtureSpec[],
  prediction: PredictionType,
): (sample: TensorLike, t: number) => TensorLike {
  return (sample, t) => {
    const x = toFloat64(sample);
    const B = sample.dims[0];
    const D = x.length / B;
    const out = new Float32Array(x.length);
    for (let b = 0; b < B; b++) {
      out.set(gmmPredict(alphasCumprod[t], mixtures[b], prediction, x.subarray(b * D, (b + 1) * D)), b * D);
    }
    return { data: out, dims: [...sample.dims], type: 'float32' };
  };
}
