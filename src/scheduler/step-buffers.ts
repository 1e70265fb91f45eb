/**
 * The buffers of a scheduler's step, reused so that a step with `out` buffers allocates (next to)
 * nothing: the result tensors handed back for `out` buffers, thresholding's |x0| scratch and the
 * drawn eta > 0 noise; and the checks on them (shapes, dtypes, overlaps, non-finite results).
 */
import { ArgumentError, NumericError } from '../errors.js';
import { allocate, type DType, holds, readElement } from '../tensor/dtype.js';
import { BYTES_PER_ELEMENT, viewAt } from '../tensor/kernel-memory.js';
import { firstNonFinite, nonFiniteInputError } from '../tensor/non-finite.js';
import type { Tensor, TensorData, TensorLike } from '../tensor/tensor.js';
import { checkOut, emptyLike, memoryOverlap, tensorOf } from '../tensor/tensor.js';
import type { KernelInstance } from '../wasm/instance.js';
import type { FloatData } from './quantile.js';
import type { StepOutBuffers, StepOutput } from './step-options.js';

/** A step's temporaries in one kernel instance's workspace (views made again only when it moved). */
interface WorkspaceViews {
  noise: TensorData | null;
  scratch: FloatData | null;
}

export class StepBuffers {
  private scratch: FloatData | null = null;
  /** The drawn eta > 0 noise, in the model output's dtype (float16 as bits). */
  private noise: TensorData | null = null;
  /**
   * The same in the workspace of each kernel instance steps ran on (weakly: an arena's views go
   * with it), and the one this step uses (null: the ordinary ones above).
   */
  private readonly inKernels = new WeakMap<KernelInstance, WorkspaceViews>();
  private current: WorkspaceViews | null = null;

  /**
   * Put this step's temporaries -- `length` noise values of `noiseType` (null: no draw) and
   * `scratchLength` values of thresholding's |x0| in `precision` (null: none) -- in the workspace
   * of `k`, the kernel instance the step runs on, when it has room: the noise is then drawn and
   * read in place, not copied in and out. Call before noiseFor / thresholdScratch on every step;
   * with `k` null (the JS path) they are ordinary arrays.
   */
  placeTemporaries(
    k: KernelInstance | null,
    noiseType: DType | null,
    length: number,
    precision: 'float32' | 'float64' | null,
    scratchLength: number,
  ): void {
    this.current = null;
    if (k === null || (noiseType === null && precision === null)) return;
    // One request for both: a growth of the workspace (which detaches views) happens before any view is made.
    const noiseBytes = noiseType === null ? 0 : Math.ceil((length * BYTES_PER_ELEMENT[noiseType]) / 64) * 64;
    const scratchBytes = precision === null ? 0 : scratchLength * BYTES_PER_ELEMENT[precision];
    const at = k.workspace(noiseBytes + scratchBytes);
    if (at < 0) return;
    let views = this.inKernels.get(k);
    if (views === undefined) {
      views = { noise: null, scratch: null };
      this.inKernels.set(k, views);
    }
    const buffer = k.buffer();
    if (noiseType !== null) {
      const v = views.noise;
      if (
        v === null ||
        v.buffer !== buffer ||
        v.byteOffset !== at ||
        v.length !== length ||
        !holds(v, noiseType)
      ) {
        views.noise = viewAt(k, noiseType, at, length);
      }
    }
    if (precision !== null) {
      const v = views.scratch;
      const from = at + noiseBytes;
      if (
        v === null ||
        v.buffer !== buffer ||
        v.byteOffset !== from ||
        v.length !== scratchLength ||
        v instanceof Float64Array !== (precision === 'float64')
      ) {
        views.scratch = viewAt(k, precision, from, scratchLength);
      }
    }
    this.current = views;
  }
  /**
   * The results handed back for the last two pairs of `out` buffers (see StepOptions.out): two,
   * so that a loop alternating ping-pong buffers allocates nothing either.
   */
  private readonly results: (OutResult | null)[] = [null, null];

  /**
   * Forget this step's placement (the views stay in `inKernels`, weakly keyed by their instance),
   * so that a scheduler does not keep a finished loop's arena alive.
   */
  releaseTemporaries(): void {
    this.current = null;
  }

  /** A buffer for `length` noise values drawn in `dtype` (the last one when it fits). */
  noiseFor(dtype: DType, length: number): TensorData {
    const placed = this.current?.noise;
    if (placed != null && placed.length === length && holds(placed, dtype)) return placed;
    const current = this.noise;
    if (current !== null && current.length === length && holds(current, dtype)) return current;
    this.noise = allocate(dtype, length);
    return this.noise;
  }

  /** thresholding's |x0| scratch: `length` values in torch's quantile precision. */
  thresholdScratch(length: number, precision: 'float32' | 'float64'): FloatData {
    const placed = this.current?.scratch;
    if (
      placed != null &&
      placed.length === length &&
      placed instanceof Float64Array === (precision === 'float64')
    ) {
      return placed;
    }
    const s = this.scratch;
    if (s !== null && s.length >= length && s instanceof Float64Array === (precision === 'float64')) return s;
    const fresh = precision === 'float64' ? new Float64Array(length) : new Float32Array(length);
    this.scratch = fresh;
    return fresh;
  }

  /** The result tensors: the validated `out` buffers (last steps' results when they are the same), or new ones. */
  outputs(out: StepOutBuffers, sample: TensorLike, sampleType: DType): StepOutput {
    const givenPrev = out.prevSample;
    const givenX0 = out.predOriginalSample;
    if (givenPrev !== undefined) checkOut(givenPrev, 'out.prevSample', sample, 'sample', sampleType);
    if (givenX0 !== undefined) checkOut(givenX0, 'out.predOriginalSample', sample, 'sample', sampleType);
    const cache = this.results;
    for (let i = 0; i < cache.length; i++) {
      const hit = cache[i];
      if (
        hit !== null &&
        hit.prev === givenPrev &&
        hit.x0 === givenX0 &&
        sameView(hit.result.prevSample, givenPrev) &&
        sameView(hit.result.predOriginalSample, givenX0)
      ) {
        return hit.result;
      }
    }
    const result: StepOutput = {
      prevSample: givenPrev === undefined ? emptyLike(sample, sampleType) : viewOf(givenPrev, sampleType),
      predOriginalSample: givenX0 === undefined ? emptyLike(sample, sampleType) : viewOf(givenX0, sampleType),
    };
    if (givenPrev !== undefined && givenX0 !== undefined) {
      cache[1] = cache[0];
      cache[0] = { prev: givenPrev, x0: givenX0, result };
    }
    return result;
  }
}

interface OutResult {
  prev: TensorLike;
  x0: TensorLike;
  result: StepOutput;
}

function viewOf(given: TensorLike, type: DType): Tensor {
  return tensorOf(given.data, [...given.dims], type);
}

/** Whether a result tensor we handed out still shows exactly the buffer `given` (same data, dims). */
function sameView(t: Tensor, given: TensorLike | undefined): boolean {
  if (given === undefined || t.data !== given.data || t.dims.length !== given.dims.length) return false;
  for (let i = 0; i < t.dims.length; i++) if (t.dims[i] !== given.dims[i]) return false;
  return true;
}

/**
 * The fused pass reads element i of every input, then writes element i of both outputs. So an
 * output may be exactly an input's memory (in place), but the two outputs must not share memory
 * (the second write would overwrite the first), and no output may overlap an input at an offset
 * or with another element size (it would overwrite elements not read yet). Either is silent
 * garbage, so it is refused before the pass.
 */
export function checkOutOverlap(
  prevSample: Tensor,
  predOriginalSample: Tensor,
  sample: TensorLike,
  modelOutput: TensorLike,
  varianceNoise: TensorLike | null,
): void {
  if (memoryOverlap(prevSample.data, predOriginalSample.data) !== 'none') {
    throw new ArgumentError({
      field: 'out.predOriginalSample',
      problem: 'shares memory with out.prevSample; the step writes both, so one would overwrite the other',
      fix: 'pass two separate buffers (or leave one out to have it allocated).',
    });
  }
  checkOutAgainstInputs(prevSample.data, 'out.prevSample', sample, modelOutput, varianceNoise);
  checkOutAgainstInputs(
    predOriginalSample.data,
    'out.predOriginalSample',
    sample,
    modelOutput,
    varianceNoise,
  );
}

function checkOutAgainstInputs(
  out: TensorData,
  outName: string,
  sample: TensorLike,
  modelOutput: TensorLike,
  varianceNoise: TensorLike | null,
): void {
  const input =
    memoryOverlap(out, sample.data) === 'partial'
      ? 'sample'
      : memoryOverlap(out, modelOutput.data) === 'partial'
        ? 'modelOutput'
        : varianceNoise !== null && memoryOverlap(out, varianceNoise.data) === 'partial'
          ? 'varianceNoise'
          : null;
  if (input !== null) {
    throw new ArgumentError({
      field: outName,
      problem: `overlaps ${input} without being exactly its memory (another offset or element size), so writing it would overwrite ${input} elements not read yet`,
      fix: `write in place into ${input} itself (same array), or into a separate buffer.`,
    });
  }
}

/**
 * The NumericError for a non-finite step result, naming the culprit: the first NaN / Inf input
 * element (model output first: that is the usual cause), else the output element that overflowed
 * its dtype; null when all are finite (the kernel's cautious test, RESULT_LIMIT in step.ts, was a
 * false alarm on huge finite values).
 */
export function stepNonFiniteError(
  timestep: number,
  modelOutput: TensorLike,
  modelType: DType,
  sample: TensorLike,
  sampleType: DType,
  varianceNoise: TensorLike | null,
  noiseType: DType,
  result: StepOutput,
): NumericError | null {
  const anyway = 'pass allowNonFinite: true to step anyway.';
  const inputs = [
    {
      name: 'modelOutput',
      tensor: modelOutput,
      dtype: modelType,
      fix: `check the model (float16 overflow, bad weights, bad inputs); ${anyway}`,
    },
    {
      name: 'sample',
      tensor: sample,
      dtype: sampleType,
      fix: `check the previous step and the initial latents; ${anyway}`,
    },
  ];
  if (varianceNoise !== null) {
    inputs.push({
      name: 'varianceNoise',
      tensor: varianceNoise,
      dtype: noiseType,
      fix: `pass finite noise; ${anyway}`,
    });
  }
  const inputError = nonFiniteInputError(inputs, `at timestep ${timestep}`);
  if (inputError !== null) return inputError;
  for (const [name, out] of [
    ['prevSample', result.prevSample],
    ['predOriginalSample', result.predOriginalSample],
  ] as const) {
    const i = firstNonFinite(out.data, out.type);
    if (i >= 0) {
      return new NumericError({
        field: `${name}[${i}]`,
        value: readElement(out.data, out.type, i),
        problem:
          out.type === 'float16'
            ? `overflows float16 (which holds at most 65504) at timestep ${timestep} although the inputs are finite`
            : `is not finite at timestep ${timestep} although the inputs are finite: the result is past the ${out.type} range, or the schedule divides by zero here`,
        fix:
          out.type === 'float16'
            ? 'run the scheduler in float32 (pass a float32 sample and out buffers), or check the model output scale; pass allowNonFinite: true to step anyway.'
            : 'check the model output scale (and zero terminal SNR needs prediction_type "v_prediction"), or pass allowNonFinite: true.',
      });
    }
  }
  return null;
}
