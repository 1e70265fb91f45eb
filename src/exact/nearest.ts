/**
 * Nearest dataset image of each sample: the quality figure of the exact image model. An exact
 * denoiser of a finite set samples that set (up to the sampler's errors), so the RMS distance from
 * a sample to its nearest dataset image measures how far the sampler lands from where it should.
 */
import { ShapeError } from '../errors.js';
import { checkTensor, type TensorLike } from '../tensor/tensor.js';

/** What {@link nearestNeighbours} finds: per sample, its nearest dataset item and the distance. */
export interface NearestResult {
  /** Index into the dataset of each sample's nearest image. */
  index: Int32Array;
  /** RMS distance (root of the mean squared difference per element) to that image. */
  rms: Float64Array;
}

function checkFloat(t: TensorLike, field: string): void {
  const type = checkTensor(t, field);
  if (type === 'float16') {
    throw new ShapeError({
      field,
      value: type,
      problem: 'must be float32 or float64',
      fix: 'convert float16 data to float32 first (toFloat64 or a Float32Array copy).',
    });
  }
  if (t.dims.length < 1 || t.dims[0] < 1) {
    throw new ShapeError({
      field,
      value: [...t.dims],
      problem: 'must have a batch axis with at least one item',
      fix: 'pass items stacked along a first axis, [N, ...item dims], N >= 1.',
    });
  }
}

/** For each item of `samples` [M, ...], its nearest item of `dataset` [N, ...] in Euclidean distance. */
export function nearestNeighbours(samples: TensorLike, dataset: TensorLike): NearestResult {
  checkFloat(samples, 'samples');
  checkFloat(dataset, 'dataset');
  const m = samples.dims[0];
  const n = dataset.dims[0];
  const per = samples.data.length / m;
  if (dataset.data.length / n !== per || samples.dims.slice(1).join() !== dataset.dims.slice(1).join()) {
    throw new ShapeError({
      field: 'samples',
      value: [...samples.dims],
      problem: `has items shaped [${samples.dims.slice(1).join(', ')}] but the dataset's are [${dataset.dims.slice(1).join(', ')}]`,
      fix: 'compare samples with a dataset of the same item shape.',
    });
  }
  const index = new Int32Array(m);
  const rms = new Float64Array(m);
  const a = samples.data;
  const b = dataset.data;
  for (let i = 0; i < m; i++) {
    let best = Number.POSITIVE_INFINITY;
    let bestJ = 0;
    const ai = i * per;
    for (let j = 0; j < n; j++) {
      const bj = j * per;
      let s = 0;
      for (let k = 0; k < per && s < best; k++) {
        const e = a[ai + k] - b[bj + k];
        s += e * e;
      }
      if (s < best) {
        best = s;
        bestJ = j;
      }
    }
    index[i] = bestJ;
    rms[i] = Math.sqrt(best / per);
  }
  return { index, rms };
}
