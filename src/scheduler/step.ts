/**
 * The DDIM update, eq. 12, in one place: the per-step scalars, how they fold into the three loop
 * forms, and the per-batch-element driver (thresholding's quantile). The loops themselves are a
 * `StepKernel` (the seam for kernel paths): `step-kernel-js.ts` is the JavaScript one, the
 * reference every other path is tested against.
 *
 * DDIM eq. 12 (Song et al. 2020, "Denoising Diffusion Implicit Models"):
 *
 *   x_prev = sqrt(a_prev) * x0_hat  +  sqrt(1 - a_prev - sigma_t^2) * eps_hat  +  sigma_t * z
 *
 * with a = alpha_bar, sigma_t = eta * sqrt(variance) (eq. 16), and x0_hat / eps_hat recovered from
 * the model output according to the prediction type:
 *
 *   epsilon:       x0 = (x - sqrt(1-a) m) / sqrt(a)     eps = m
 *   sample:        x0 = m                                eps = (x - sqrt(a) x0) / sqrt(1-a)
 *   v_prediction:  x0 = sqrt(a) x - sqrt(1-a) m          eps = sqrt(a) m + sqrt(1-a) x
 *                  (Salimans & Ho 2022, "Progressive Distillation", sec. 4)
 *
 * Every one of them is linear in (x, m): x0 = A x + B m, eps = C x + D m. So a step is one pass
 * that reads x, m (and z) once and writes x_prev and x0 once; diffusers makes about eight passes
 * with a temporary tensor each. Clipping / thresholding of x0 and `use_clipped_model_output`
 * (re-deriving eps from the clipped x0, as Glide does) fit inside the same pass.
 *
 * Folding the scalars further, every case is one of three loops:
 *
 *   linear        (no bound, eta = 0):  x0 = A x + B m                prev = P x + Q m
 *   linear noise  (no bound, eta > 0):  x0 = A x + B m                prev = P x + Q m + W z
 *   bounded       (clip, thresholding): x0 = clamp(A x + B m, lo, hi)  prev = E x0 + F x + G u + W z
 *
 * `linear` is the common case (Stable Diffusion, eta = 0); it is unrolled and costs less than a
 * plain loop doing only its arithmetic. `bounded` covers clip and thresholding (A, B divided by
 * the quantile s, bounds +-1) with any eta and use_clipped_model_output (eps = (x - sqrt(a) x0) /
 * sqrt(1 - a) folded into E and F, u = x with G = 0); a missing noise term has weight 0 over an
 * array read anyway. All-float16 `linear` has its own loop; other float16 / mixed-dtype cases run
 * the same loops over small chunks. docs/performance.md has the measurements.
 *
 * The V8-specific shape of the JavaScript loops is explained in step-kernel-js.ts.
 */
import { ArgumentError } from '../errors.js';
import { assertNever, type DType, type TensorData } from '../tensor/dtype.js';
import { PREDICTIONS, type PredictionType, type Recovery } from './prediction.js';
import { type FloatData, quantileOfNumbers } from './quantile.js';
import { wasmStepKernel } from './step-kernel-wasm.js';

export type { FloatData };

/**
 * Per-step scalars, computed once per step from alpha_bar at t and at the previous step: x0 and
 * eps from (x, m) (`Recovery`: x0 = x0FromSample x + x0FromModel m before clipping, eps likewise
 * from the unclipped x0), then eq. 12's weights.
 */
export interface StepCoefficients extends Recovery {
  /** sqrt(alpha_bar_t): for eps re-derived from a clipped x0. */
  sqrtAlphaProd: number;
  /** 1 / sqrt(1 - alpha_bar_t): for eps re-derived from a clipped x0. */
  invSqrtBetaProd: number;
  /** sqrt(alpha_bar_prev): weight of x0 in x_prev. */
  sqrtAlphaProdPrev: number;
  /** sqrt(max(0, 1 - alpha_bar_prev - sigma^2)): weight of eps in x_prev. */
  direction: number;
  /** sigma_t = eta * sqrt(variance): weight of the noise z. */
  noiseScale: number;
}

/**
 * Coefficients of one DDIM step from alpha_bar_t to alpha_bar_prev.
 *
 * The scalars diffusers' step computes from alpha_bar (beta_prod_t = 1 - alpha_prod_t, the
 * square roots, std_dev_t = eta * variance ** 0.5, 1 - alpha_prod_t_prev - std_dev_t ** 2) are
 * 0-dim float32 tensor ops, each rounded to float32 (a Python float such as eta is cast to float32
 * first): near alpha_bar = 1, or for eta > 0 at a cosine schedule's last timestep, that rounding
 * moves diffusers' result past the fixtures' tolerance, so it is reproduced here (Math.fround per
 * op). `alphaProdT`, `alphaProdPrev` and `variance` are expected to be float32 values already
 * (the scheduler's alphasCumprod, ddimVariance). The kernel's elementwise arithmetic, and the
 * folding of these scalars into A..D below, stay in float64.
 *
 * The direction weight is clamped at 0: with zero terminal SNR and eta = 1,
 * 1 - a_prev - sigma^2 is 0 in exact arithmetic but rounds to a tiny negative number, and diffusers'
 * `** 0.5` then returns NaN for the whole sample. Clamping is the exact-arithmetic answer.
 */
export function stepCoefficients(
  prediction: PredictionType,
  alphaProdT: number,
  alphaProdPrev: number,
  eta: number,
  variance: number,
  out?: StepCoefficients,
): StepCoefficients {
  const f32 = Math.fround;
  const sqrtA = f32(Math.sqrt(alphaProdT));
  const sqrtB = f32(Math.sqrt(f32(1 - alphaProdT)));
  const sigma = f32(f32(eta) * f32(Math.sqrt(Math.max(0, variance))));
  // `out` lets a scheduler reuse one object for every step instead of allocating one per step.
  const c = out ?? ({} as StepCoefficients);
  // x0 and eps from (x, m): the prediction type's row of prediction.ts.
  PREDICTIONS[prediction].recover(sqrtA, sqrtB, c);
  c.sqrtAlphaProd = sqrtA;
  c.invSqrtBetaProd = 1 / sqrtB;
  c.sqrtAlphaProdPrev = f32(Math.sqrt(alphaProdPrev));
  c.direction = f32(Math.sqrt(Math.max(0, f32(f32(1 - alphaProdPrev) - f32(sigma * sigma)))));
  c.noiseScale = sigma;
  return c;
}
/** How x0 is bounded before it is used (diffusers step 4): nothing, a clamp, or Imagen's dynamic thresholding. */
export type X0Bound =
  | { kind: 'none' }
  | { kind: 'clip'; range: number }
  | { kind: 'threshold'; ratio: number; maxValue: number };

/** The config fields that choose the bound (DDIMInverseScheduler's config has no thresholding). */
export interface BoundConfig {
  clip_sample: boolean;
  clip_sample_range: number;
  thresholding?: boolean;
  dynamic_thresholding_ratio?: number;
  sample_max_value?: number;
}

/** The x0 bound a config asks for: thresholding takes precedence over clip_sample, as in diffusers. */
export function x0BoundFor(config: BoundConfig): X0Bound {
  if (config.thresholding === true) {
    return {
      kind: 'threshold',
      ratio: config.dynamic_thresholding_ratio as number,
      maxValue: config.sample_max_value as number,
    };
  }
  return config.clip_sample ? { kind: 'clip', range: config.clip_sample_range } : { kind: 'none' };
}

/** The precision `torch.quantile` works in for these inputs: x0's dtype, float16 upcast to float32. */
export function thresholdPrecision(sampleType: DType, modelOutputType: DType): 'float32' | 'float64' {
  return sampleType === 'float64' || modelOutputType === 'float64' ? 'float64' : 'float32';
}

/** The three loop forms a step folds into (see the top of this file). */
export type LoopKind = 'linear' | 'linear-noise' | 'bounded';

/**
 * One batch element's step, folded: eq. 12 with x0 = clamp(A x + B m, lo, hi) substituted, so
 * each loop form reads only these numbers (the `StepKernel`'s whole input besides the arrays).
 */
export interface FoldedStep {
  kind: LoopKind;
  /** x0 = clamp(a x + b m, lo, hi): a, b are A, B divided by thresholding's s (1 otherwise). */
  a: number;
  b: number;
  lo: number;
  hi: number;
  /** Unbounded: prev = p x + q m (+ w z). */
  p: number;
  q: number;
  /** Bounded: prev = e x0 + f x + g u (+ w z), u the model output, or the sample when g = 0. */
  e: number;
  f: number;
  g: number;
  /** sigma_t, the weight of the noise z (0: no noise term). */
  w: number;
  /** use_clipped_model_output: eps re-derived from the bounded x0 (then u = x and g = 0). */
  clippedModelOutput: boolean;
}

/** A FoldedStep to refill every step (a scheduler keeps one: stepping allocates nothing). */
export function newFoldedStep(): FoldedStep {
  return {
    kind: 'linear',
    a: 0,
    b: 0,
    lo: 0,
    hi: 0,
    p: 0,
    q: 0,
    e: 0,
    f: 0,
    g: 0,
    w: 0,
    clippedModelOutput: false,
  };
}

/**
 * Fold a step's scalars for one batch element: `scale` divides x0 (thresholding's 1 / s), [lo, hi]
 * bounds it. eq. 12 reads
 *
 *   prev = sqrt(a_prev) x0 + direction eps + sigma z
 *
 * with eps = C x + D m from the model output, or with use_clipped_model_output (Glide) eps =
 * (x - sqrt(a) x0) / sqrt(1 - a) from the bounded x0. Collecting the terms of x0, x and m:
 *
 *   e = sqrt(a_prev)                  f = direction C              g = direction D
 *   e = sqrt(a_prev) - direction sqrt(a) / sqrt(1 - a),  f = direction / sqrt(1 - a),  g = 0   (clipped)
 *
 * and with no bound x0 = A x + B m substitutes once more: p = e A + f, q = e B + g.
 */
export function foldStep(
  c: StepCoefficients,
  bounded: boolean,
  scale: number,
  lo: number,
  hi: number,
  useClippedModelOutput: boolean,
  hasNoise: boolean,
  out: FoldedStep,
): FoldedStep {
  const a = c.x0FromSample * scale;
  const b = c.x0FromModel * scale;
  const clipped = useClippedModelOutput;
  const e = clipped
    ? c.sqrtAlphaProdPrev - c.direction * c.sqrtAlphaProd * c.invSqrtBetaProd
    : c.sqrtAlphaProdPrev;
  const f = c.direction * (clipped ? c.invSqrtBetaProd : c.epsFromSample);
  const g = clipped ? 0 : c.direction * c.epsFromModel;
  out.kind = bounded ? 'bounded' : hasNoise ? 'linear-noise' : 'linear';
  out.a = a;
  out.b = b;
  out.lo = lo;
  out.hi = hi;
  out.p = e * a + f;
  out.q = e * b + g;
  out.e = e;
  out.f = f;
  out.g = g;
  out.w = c.noiseScale;
  out.clippedModelOutput = clipped;
  return out;
}

/** The arrays of one step, each with its dtype (outputs have the sample's). */
export interface StepTensors {
  sample: TensorData;
  sampleType: DType;
  modelOutput: TensorData;
  modelOutputType: DType;
  /** Noise z, or null when sigma = 0. */
  noise: TensorData | null;
  noiseType: DType;
  prevSample: TensorData;
  predOriginalSample: TensorData;
  /** dtype of both outputs. */
  outType: DType;
}

/**
 * A kernel path: the loops of a step over typed arrays of any dtype. Both methods work on the
 * elements [from, to) of one batch element and may be called with outputs that alias inputs
 * element for element (the pass reads element i before writing it).
 */
export interface StepKernel {
  /** Its name, for benchmarks and errors ("js", "wasm-simd"). */
  readonly name: string;
  /**
   * Run the folded step: write prevSample and predOriginalSample. Returns false when a result may
   * be non-finite (the caller then scans exactly; see RESULT_LIMIT in step-kernel-js.ts).
   */
  run(step: FoldedStep, t: StepTensors, from: number, to: number): boolean;
  /**
   * |a x + b m| for thresholding's quantile into scratch[0 .. to - from), rounded to the
   * scratch's precision as torch's x0 is. Returns whether a NaN was seen.
   */
  absX0(a: number, b: number, t: StepTensors, from: number, to: number, scratch: FloatData): boolean;
}

// The WebAssembly SIMD loops, which run the JavaScript ones (step-kernel-js.ts) wherever the
// backend switch says 'js' (no WebAssembly SIMD, or setKernelBackend('js')).
let kernel: StepKernel = wasmStepKernel;

/** The kernel path steps run on. */
export function stepKernel(): StepKernel {
  return kernel;
}

/** Make steps run on `next` (by default `wasmStepKernel`, which follows the backend switch); returns the previous one. */
export function setStepKernel(next: StepKernel): StepKernel {
  const previous = kernel;
  kernel = next;
  return previous;
}

/**
 * Everything one step needs. A scheduler keeps one of these and refills it every step, so
 * stepping allocates nothing.
 */
export interface StepKernelArgs extends StepTensors {
  coefficients: StepCoefficients;
  bound: X0Bound;
  useClippedModelOutput: boolean;
  /** Number of batch elements (dims[0]); thresholding takes its quantile per batch element. */
  batch: number;
  /**
   * Thresholding only: room for (length / batch) values of |x0|, a Float64Array when the sample
   * or the model output is float64 and a Float32Array otherwise: torch takes the quantile in x0's
   * dtype (float16 is upcast to float32 first), and the array type carries that precision.
   */
  scratch?: FloatData;
  /** The folded scalars, refilled per batch element (allocated on first use when absent). */
  folded?: FoldedStep;
}

/**
 * Run one DDIM step over whole tensors. Writes prevSample and predOriginalSample (which may alias
 * the inputs element for element). Returns false when a result may be non-finite, tracked inside
 * the pass (RESULT_LIMIT; from the encoded bits for float16 outputs): the caller then scans the
 * inputs and outputs to name the element, so a rare false alarm (finite values past 2^127) only
 * costs that scan.
 */
export function ddimStepKernel(args: StepKernelArgs): boolean {
  const { bound, batch } = args;
  const length = args.sample.length;
  // An integer (dims[0] divides the element count): a fractional-typed value would be boxed
  // when passed on, one heap allocation per step.
  const per = batch > 0 ? (length / batch) | 0 : 0;
  if (args.folded === undefined) args.folded = newFoldedStep();
  const folded = args.folded;
  const c = args.coefficients;
  const clipped = args.useClippedModelOutput;
  const noise = args.noise !== null;
  let finite = true;
  for (let bi = 0; bi < batch; bi++) {
    const from = bi * per;
    const to = from + per;
    switch (bound.kind) {
      case 'threshold': {
        // Imagen (Saharia et al. 2022) dynamic thresholding, per batch element: s =
        // quantile(|x0|, ratio) clamped as torch.clamp(q, 1, sample_max_value) (see
        // thresholdScale); x0 <- clamp(x0, -s, s) / s = clamp(x0 / s, -1, 1).
        const s = thresholdScale(args, from, to, bound.ratio, bound.maxValue);
        foldStep(c, true, 1 / s, -1, 1, clipped, noise, folded);
        break;
      }
      case 'clip':
        foldStep(c, true, 1, -bound.range, bound.range, clipped, noise, folded);
        break;
      case 'none':
        foldStep(c, false, 1, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, clipped, noise, folded);
        break;
      default:
        assertNever(bound, 'x0 bound');
    }
    finite = kernel.run(folded, args, from, to) && finite;
  }
  return finite;
}

/** Per-batch-element thresholding scale s from the unbounded x0 = A x + B m. */
function thresholdScale(
  args: StepKernelArgs,
  from: number,
  to: number,
  ratio: number,
  maxValue: number,
): number {
  const scratch = args.scratch;
  const n = to - from;
  const wide = thresholdPrecision(args.sampleType, args.modelOutputType) === 'float64';
  if (scratch === undefined || scratch.length < n || wide !== scratch instanceof Float64Array) {
    throw new ArgumentError({
      field: 'scratch',
      value: scratch,
      problem: `must be a ${wide ? 'Float64Array' : 'Float32Array'} of at least ${n} values for thresholding`,
      fix: 'pass scratch of length / batch values: a Float64Array when the sample or the model output is float64, else a Float32Array.',
    });
  }
  const c = args.coefficients;
  const nan = kernel.absX0(c.x0FromSample, c.x0FromModel, args, from, to, scratch);
  // torch.quantile returns NaN when the row holds a NaN; clamp(NaN, 1, max) stays NaN.
  const q = nan ? Number.NaN : quantileOfNumbers(scratch, n, ratio);
  // torch.clamp(q, min=1, max=sample_max_value) is min(max(q, 1), max): the max applies last, so
  // a sample_max_value below 1 (legal in diffusers) always wins, even over the floor of 1.
  const floored = q < 1 ? 1 : q;
  return floored > maxValue ? maxValue : floored;
}
