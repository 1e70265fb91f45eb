/**
 * Sampling and inversion with exact denoisers, where the right answer is known in closed form.
 */
import { describe, expect, it } from 'vitest';
import { datasetDenoiser, gaussianMixtureDenoiser } from '../src/exact/models.js';
import {
  DDIMInverseScheduler,
  DDIMScheduler,
  invert,
  type PredictionType,
  SCHEDULER_PRESETS,
  sample,
  tensor,
} from '../src/index.js';
import { sqrt32, sqrtOneMinus32 } from './helpers/torch-scalars.js';

const f64 = (values: readonly number[], dims: number[]) => tensor(Float64Array.from(values), dims);

/** max |got - want| / max |want| */
function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let err = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return err / scale;
}

// Stable Diffusion's schedule, epsilon prediction, no clipping.
const SD_EPS = SCHEDULER_PRESETS.sd.config;

const input = f64([-0.8, 0.3, 0.9, -0.6, 0.1, 1.4, -1.5, 0.5], [4, 2]);

async function roundTrip(config: object, mixture: Parameters<typeof gaussianMixtureDenoiser>[1], n: number) {
  const inv = new DDIMInverseScheduler(config);
  const s = new DDIMScheduler(config);
  const { latents } = await invert(inv, gaussianMixtureDenoiser(inv, mixture), input, {
    numInferenceSteps: n,
  });
  const back = await sample(s, gaussianMixtureDenoiser(s, mixture), { latents, numInferenceSteps: n });
  return { latents, back: back.latents };
}

describe('DDIM inversion then DDIM sampling returns the input (exact denoiser)', () => {
  /*
   * Why this configuration. An inversion step to timestep t evaluates the model on the PREVIOUS,
   * less noisy sample x_{t-d} (it does not have x_t yet); the sampling step from t evaluates it on
   * x_t. With the same model output the two DDIM updates are exact inverses of each other, so the
   * round trip errs by exactly eps_t(x_{t-d}) - eps_t(x_t): by how far the sample moves in one step.
   * For data ~ N(0, I) every marginal x_t is N(0, I) and the probability-flow ODE leaves samples in
   * place: they move only by DDIM's own second-order error, and the round trip is second order in
   * the step (8e-4 at 50 steps, checked below against the closed form). For data whose marginals
   * change with t (means away from 0, variance != 1) samples move O(1/n) per step and the round
   * trip error is first order (about 1e-2 at 50 steps) -- DDIM inversion's known limit, checked
   * below as a convergence rate. epsilon prediction, because diffusers' inverse step decodes a
   * v_prediction output with the previous level's alpha_bar, a further first-order error.
   */
  const standardNormal = { weights: [1], means: [[0, 0]], variances: [1] };

  it('N(0, I) data, 50 steps: within 1e-3 (relative, max over elements), equal to the closed form', async () => {
    const { back } = await roundTrip(SD_EPS, standardNormal, 50);
    const err = relativeError(back.data, input.data);
    expect(err).toBeLessThan(1e-3);
    // Closed form: for N(0, I) data E[x0 | x_t] = sqrt(a_t) x_t, so eps_t(x) = sqrt(1 - a_t) x and
    // every step multiplies the sample by a scalar.
    const s = new DDIMScheduler(SD_EPS);
    const ab = (t: number) => (t >= 0 ? s.alphasCumprod[t] : s.alphasCumprod[0]); // set_alpha_to_one false
    let c = 1;
    for (let t = 1; t <= 981; t += 20) {
      // leading spacing, steps_offset 1: timesteps 1, 21, ..., 981; each step spans 1000 // 50 = 20.
      const at = ab(t);
      const ap = ab(t - 20);
      // inversion step to t from level t - 20: x0 = (x - sqrt(1 - ap) eps) / sqrt(ap), x' = sqrt(at) x0 + sqrt(1 - at) eps
      // (the step's square roots are float32 scalars, as diffusers' 0-dim tensors; the model's are float64)
      const inverse =
        (sqrt32(at) / sqrt32(ap)) * (1 - sqrtOneMinus32(ap) * Math.sqrt(1 - at)) +
        sqrtOneMinus32(at) * Math.sqrt(1 - at);
      // sampling step from t to t - 20: x0 = (x - sqrt(1 - at) eps) / sqrt(at) (= sqrt(at) x in
      // exact arithmetic), x' = sqrt(ap) x0 + sqrt(1 - ap) eps
      const forward =
        (sqrt32(ap) * (1 - sqrtOneMinus32(at) * Math.sqrt(1 - at))) / sqrt32(at) +
        sqrtOneMinus32(ap) * Math.sqrt(1 - at);
      c *= inverse * forward;
    }
    for (let i = 0; i < input.data.length; i++) expect(back.data[i]).toBeCloseTo(c * input.data[i], 12);
    expect(Math.abs(c - 1)).toBeCloseTo(err, 10);
  });

  it('a two-component mixture with unit covariance, 50 steps: within 1e-3', async () => {
    // Per axis: variance 0.99 + mean^2 0.01 = 1, mean 0: close to N(0, I), yet bimodal.
    const mixture = {
      weights: [0.5, 0.5],
      means: [
        [-0.1, 0.1],
        [0.1, -0.1],
      ],
      variances: [0.99, 0.99],
    };
    const { back } = await roundTrip(SD_EPS, mixture, 50);
    expect(relativeError(back.data, input.data)).toBeLessThan(1e-3);
  });

  it('convergence: second order for N(0, I), first order for a spread-out mixture', async () => {
    const wide = {
      weights: [0.5, 0.5],
      means: [
        [-1, 0.5],
        [1, -0.5],
      ],
      variances: [0.5, 0.5],
    };
    const err = async (mixture: typeof wide, n: number) =>
      relativeError((await roundTrip(SD_EPS, mixture, n)).back.data, input.data);
    const normal50 = await err(standardNormal, 50);
    const normal200 = await err(standardNormal, 200);
    const wide50 = await err(wide, 50);
    const wide200 = await err(wide, 200);
    // 4x the steps: error / 16 (second order) and / 4 (first order).
    expect(normal50 / normal200).toBeGreaterThan(12);
    expect(normal50 / normal200).toBeLessThan(20);
    expect(wide50 / wide200).toBeGreaterThan(3);
    expect(wide50 / wide200).toBeLessThan(5);
    expect(wide50).toBeGreaterThan(1e-3); // the limit of DDIM inversion, documented in docs/sampling.md
  });
});

describe('eta = 0 sampling of a one-point data set returns that point', () => {
  const point = [0.25, -0.5, 0.75, -1, 0.125, 0.9];
  const data = f64(point, [1, 2, 3]);
  const start = f64([1.3, -0.2, 0.7, 2.1, -1.7, 0.4, -0.3, 0.8, -1.1, 0.05, 1.9, -0.6], [2, 2, 3]);

  for (const prediction_type of ['epsilon', 'sample', 'v_prediction'] as PredictionType[]) {
    it(`${prediction_type}: default config (set_alpha_to_one): exactly the point`, async () => {
      const s = new DDIMScheduler({ prediction_type });
      const x0s: number[] = [];
      const r = await sample(s, datasetDenoiser(s, data), {
        latents: start,
        numInferenceSteps: 50,
        onStep: (info) => {
          for (let i = 0; i < info.predOriginalSample.data.length; i++) {
            x0s.push(Math.abs(info.predOriginalSample.data[i] - point[i % 6]));
          }
        },
      });
      // Every predicted x0 is the point, up to the step's float32 scalars (diffusers' 0-dim
      // tensors; the denoiser's are float64): relative 2^-24 on sqrt(1 - a), amplified by
      // 1 / sqrt(a) ~ 160 at the noisiest step ...
      expect(Math.max(...x0s)).toBeLessThan(2e-5);
      // ... and the last step (alpha_bar_prev = 1) lands on it (its x0 from alpha_bar ~ 1).
      for (let i = 0; i < 12; i++) expect(Math.abs(r.latents.data[i] - point[i % 6])).toBeLessThan(1e-7);
    });
  }

  it('float32 latents land on the point to float32 precision', async () => {
    const s = new DDIMScheduler({ prediction_type: 'epsilon', clip_sample: false });
    const r = await sample(s, datasetDenoiser(s, data), {
      latents: { data: Float32Array.from(start.data), dims: [2, 2, 3], type: 'float32' },
      numInferenceSteps: 50,
    });
    for (let i = 0; i < 12; i++) expect(r.latents.data[i]).toBeCloseTo(Math.fround(point[i % 6]), 6);
  });

  it('SD config (final alpha_bar = alpha_bar_0): sqrt(a0) y + sqrt(1 - a0) eps, eps fixed by x_T', async () => {
    // With x0_hat = y at every step, x_t = sqrt(a_t) y + sqrt(1 - a_t) eps is preserved by each DDIM
    // step (eq. 12 with eta = 0), with eps = (x_T - sqrt(a_T) y) / sqrt(1 - a_T).
    const s = new DDIMScheduler({ ...SD_EPS, prediction_type: 'v_prediction' });
    const r = await sample(s, datasetDenoiser(s, data), { latents: start, numInferenceSteps: 25 });
    const aT = s.alphasCumprod[s.timesteps[0]];
    const a0 = s.alphasCumprod[0];
    for (let i = 0; i < 12; i++) {
      const y = point[i % 6];
      const eps = (start.data[i] - Math.sqrt(aT) * y) / Math.sqrt(1 - aT);
      // (to the step's float32 scalars: relative ~1e-7)
      expect(r.latents.data[i]).toBeCloseTo(Math.sqrt(a0) * y + Math.sqrt(1 - a0) * eps, 6);
    }
  });

  it('zero terminal SNR (trailing, v_prediction, a = 0 at the first step): no NaN, lands on the point', async () => {
    const s = new DDIMScheduler({ ...SCHEDULER_PRESETS['sd-zero-snr'].config, set_alpha_to_one: true });
    const r = await sample(s, datasetDenoiser(s, data), { latents: start, numInferenceSteps: 30 });
    expect(s.alphasCumprod[s.timesteps[0]]).toBe(0);
    // (to the step's float32 scalars: relative ~1e-7)
    for (let i = 0; i < 12; i++) expect(r.latents.data[i]).toBeCloseTo(point[i % 6], 6);
  });
});
