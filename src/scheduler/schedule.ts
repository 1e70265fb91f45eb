/**
 * Noise schedules as pure functions: config -> betas -> alphas -> alphas_cumprod (alpha_bar).
 *
 * diffusers keeps these as float32 torch tensors, and its step reads alpha_bar from them. Near
 * alpha_bar = 1 (1 - alpha_bar ~ 1e-5) one float32 ulp of alpha_bar is a 1e-3 relative change
 * of 1 - alpha_bar, which moves a step's result past the fixtures' tolerance; so we build the
 * very float32 values diffusers + torch 1.13 (CPU, AVX2 kernels) build, bit for bit, each torch
 * op emulated in float64 and rounded with Math.fround, and hand them out in Float64Arrays
 * (float32 values exactly representable there). Verified against torch on 1400 random configs
 * of every schedule (test/fixtures/float32_schedules.json keeps a sample).
 *
 * The same float32 values are what the scheduler validates (checkAlphasCumprod): a schedule
 * whose float32 alpha_bar stops decreasing (betas below ~6e-8 round 1 - beta to 1) or underflows
 * is refused, where float64 would have carried on and diffusers would step into 0 / 0.
 */

import { ArgumentError, ConfigError } from '../errors.js';
import { assertNever } from '../tensor/dtype.js';

/** diffusers' `beta_schedule` values (the trained_betas config key overrides all three). */
export const BETA_SCHEDULES = ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const;
/**
 * How the betas grow over the training timesteps: `linear` from beta_start to beta_end,
 * `scaled_linear` linear in sqrt(beta) (Stable Diffusion), `squaredcos_cap_v2` the cosine schedule
 * of Nichol and Dhariwal, capped at 0.999 (beta_start and beta_end unused).
 */
export type BetaSchedule = (typeof BETA_SCHEDULES)[number];

/**
 * Upper bound on `num_train_timesteps`. Real models use 1000 (some 4000); the bound exists so a
 * hostile or mistyped config (10^9) is refused before we allocate three arrays of that length.
 */
export const MAX_TRAIN_TIMESTEPS = 1_000_000;

const f32 = Math.fround;

/**
 * `torch.linspace(start, end, steps, dtype=torch.float32)` on CPU, bit-exact (torch 1.13, AVX2
 * kernels): aten computes step = (end - start) / (steps - 1) in float and fills the first half
 * forwards from `start` (start + step * i) and the second half backwards from `end`
 * (end - step * (steps - i - 1)), so the last value is exactly `end`. Those two expressions are
 * compiled with FMA contraction (one rounding). The kernel is vectorised: runs of 16 values are
 * two 8-lane vectors, each from its first index's value v and then v + k * step (k * step
 * rounded first, no FMA there), and a vector that straddles the midpoint takes the first half's
 * formula for all its lanes; the last steps % 16 values take the scalar formulas. (Builds
 * without AVX2, e.g. ATEN_CPU_CAPABILITY=default or arm64, round some betas differently.)
 */
export function torchLinspace(start: number, end: number, steps: number): Float64Array {
  checkCount(steps, 'steps');
  const out = new Float64Array(steps);
  const s = f32(start);
  const e = f32(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  // step * i is exact in float64 (a 24-bit step times an index below 2^29), and so is its sum
  // with start or end unless their exponents are ~29 apart: one fround of the float64 result is
  // the float32 FMA.
  const at = (i: number) => (i < half ? f32(s + step * i) : f32(e - step * (steps - i - 1)));
  const lanes = 8;
  const vectorised = steps - (steps % (2 * lanes));
  let i = 0;
  for (; i < vectorised; i += lanes) {
    const base = at(i);
    out[i] = base;
    for (let k = 1; k < lanes; k++) out[i + k] = f32(base + f32(k * step));
  }
  for (; i < steps; i++) out[i] = at(i);
  return out;
}

/**
 * The "squaredcos_cap_v2" (Glide / improved DDPM, Nichol & Dhariwal 2021 eq. 17) schedule:
 * alpha_bar(t) = cos((t + 0.008) / 1.008 * pi / 2)^2, beta_i = min(1 - alpha_bar(t_{i+1}) / alpha_bar(t_i), 0.999),
 * in float64 (diffusers uses Python floats) and then rounded to float32 as its torch.tensor does.
 */
export function cosineBetas(numTrainTimesteps: number, maxBeta = 0.999): Float64Array {
  checkCount(numTrainTimesteps, 'numTrainTimesteps');
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const betas = new Float64Array(numTrainTimesteps);
  for (let i = 0; i < numTrainTimesteps; i++) {
    const t1 = i / numTrainTimesteps;
    const t2 = (i + 1) / numTrainTimesteps;
    betas[i] = f32(Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta));
  }
  return betas;
}

/** The config fields that decide the betas: a `DDIMConfig` (or any object with these keys). */
export interface BetaConfig {
  /** @inheritDoc DDIMConfig.num_train_timesteps */
  num_train_timesteps: number;
  /** @inheritDoc DDIMConfig.beta_start */
  beta_start: number;
  /** @inheritDoc DDIMConfig.beta_end */
  beta_end: number;
  /** @inheritDoc DDIMConfig.beta_schedule */
  beta_schedule: BetaSchedule;
  /** @inheritDoc DDIMConfig.trained_betas */
  trained_betas: readonly number[] | null;
  /** @inheritDoc DDIMConfig.rescale_betas_zero_snr */
  rescale_betas_zero_snr: boolean;
}

/** The (float32) betas diffusers' `DDIMScheduler.__init__` builds for a (validated) config. */
export function betasForConfig(config: BetaConfig): Float64Array {
  const betas =
    config.trained_betas !== null
      ? Float64Array.from(config.trained_betas, f32)
      : scheduleBetas(config.beta_schedule, config);
  return config.rescale_betas_zero_snr ? rescaleZeroTerminalSnr(betas) : betas;
}

function scheduleBetas(schedule: BetaSchedule, config: BetaConfig): Float64Array {
  switch (schedule) {
    case 'linear':
      return torchLinspace(config.beta_start, config.beta_end, config.num_train_timesteps);
    case 'scaled_linear': {
      // "very specific to the latent diffusion model": linear in sqrt(beta) (Python float square
      // roots), squared in float32.
      const betas = torchLinspace(
        Math.sqrt(config.beta_start),
        Math.sqrt(config.beta_end),
        config.num_train_timesteps,
      );
      for (let i = 0; i < betas.length; i++) betas[i] = f32(betas[i] * betas[i]);
      return betas;
    }
    case 'squaredcos_cap_v2':
      return cosineBetas(config.num_train_timesteps);
    default:
      return assertNever(schedule, 'beta_schedule');
  }
}

/**
 * Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed", Algorithm 1:
 * shift sqrt(alpha_bar) so the last one is exactly 0 (zero terminal SNR), scale so the first is
 * unchanged, and convert back to betas. The last beta becomes exactly 1. Each step rounded to
 * float32 as diffusers' tensor ops are.
 */
export function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const n = betas.length;
  const sqrtAb = cumprod(alphasFromBetas(betas));
  for (let i = 0; i < n; i++) sqrtAb[i] = f32(Math.sqrt(sqrtAb[i]));
  const first = sqrtAb[0];
  const last = sqrtAb[n - 1];
  const scale = f32(first / f32(first - last));
  for (let i = 0; i < n; i++) sqrtAb[i] = f32(f32(sqrtAb[i] - last) * scale);
  const out = new Float64Array(n);
  let prevAb = 1;
  for (let i = 0; i < n; i++) {
    const ab = f32(sqrtAb[i] * sqrtAb[i]);
    // alphas = [ab_0, ab_1/ab_0, ab_2/ab_1, ...]; betas = 1 - alphas.
    out[i] = f32(1 - (i === 0 ? ab : f32(ab / prevAb)));
    prevAb = ab;
  }
  return out;
}

/** alphas = 1 - betas, in float32. */
export function alphasFromBetas(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  for (let i = 0; i < betas.length; i++) out[i] = f32(1 - betas[i]);
  return out;
}

/**
 * alpha_bar_t = prod_{s <= t} alpha_s (DDPM eq. 4's cumulative product), as torch.cumprod of a
 * float32 tensor computes it on CPU: a float64 running product, each entry rounded to float32.
 */
export function cumprod(values: Float64Array): Float64Array {
  const out = new Float64Array(values.length);
  let prod = 1;
  for (let i = 0; i < values.length; i++) {
    prod *= values[i];
    out[i] = f32(prod);
  }
  return out;
}

/** Signal-to-noise ratio alpha_bar / (1 - alpha_bar) (Kingma et al. 2021), 0 at a zero-SNR terminal step. */
export function snr(alphaBar: number): number {
  return alphaBar / (1 - alphaBar);
}

/**
 * DDIM eq. 16: sigma_t(eta)^2 = (1 - alpha_bar_prev) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_prev),
 * diffusers' `_get_variance`: float32 alpha_bars, every operation rounded to float32 as torch's
 * 0-dim float32 tensor ops are (for a cosine schedule at T - 1, alpha_bar_t << alpha_bar_prev,
 * that rounding is visible in an eta > 0 step).
 */
export function ddimVariance(alphaBarT: number, alphaBarPrev: number): number {
  // A step between equal levels is the identity, variance 0. The formula would give 0 * finite
  // there, except at alpha_bar = 0 (zero terminal SNR, reached by the identity step from a
  // scheduled timestep past the end, diffusers #10003), where alpha_bar_t / alpha_bar_prev is 0 / 0
  // and a NaN variance would turn even the eta = 0 step into NaN (0 * NaN).
  if (alphaBarT === alphaBarPrev) return 0;
  return f32(f32(f32(1 - alphaBarPrev) / f32(1 - alphaBarT)) * f32(1 - f32(alphaBarT / alphaBarPrev)));
}

/**
 * eta > 1 is allowed where DDIM eq. 12 still holds: sigma^2 = eta^2 variance must not exceed
 * 1 - alpha_bar_prev, the weight left for the noise direction. For eta <= 1 it never does (up to
 * rounding, which stepCoefficients clamps); past that diffusers takes the square root of a
 * negative number (NaN) and a clamp would silently change the sampler, so it is an error naming
 * the largest eta this step takes. `t` and `prev` only label the message.
 */
export function checkEtaFits(
  eta: number,
  variance: number,
  alphaBarPrev: number,
  t: number,
  prev: number,
): void {
  const room = 1 - alphaBarPrev;
  const sigma2 = eta * eta * variance;
  if (sigma2 - room <= 8 * Number.EPSILON * Math.max(1, room)) return;
  const maxEta = variance > 0 ? Math.sqrt(room / variance) : Number.POSITIVE_INFINITY;
  throw new ArgumentError({
    field: 'eta',
    value: eta,
    problem: `is too large for the step from timestep ${t} to ${prev}: sigma^2 = eta^2 * variance = ${sigma2} exceeds 1 - alpha_bar_prev = ${room} (DDIM eq. 12 allows eta up to ${maxEta} here)`,
    fix: 'use eta in [0, 1] (1 is DDPM-like sampling), which every step accepts.',
  });
}

/**
 * The alpha_bar diffusers' `EulerDiscreteScheduler` puts at the last training timestep when
 * `rescale_betas_zero_snr` (2^-24, float16's smallest subnormal): "close to 0 without being 0" so
 * the first sigma, and for DDIM the epsilon-prediction x0 = (x - sqrt(1 - a) eps) / sqrt(a), is finite.
 */
export const ZERO_SNR_ALPHA_BAR = 2 ** -24;

/**
 * The opt-in fix for zero terminal SNR with an epsilon-prediction model (diffusers #3851): a copy
 * of `alphasCumprod` whose last value, when it is exactly 0, is ZERO_SNR_ALPHA_BAR. Any other
 * schedule is returned unchanged (copied).
 */
export function clampZeroTerminalAlphaBar(alphasCumprod: Float64Array): Float64Array {
  const out = alphasCumprod.slice();
  const last = out.length - 1;
  if (last >= 0 && out[last] === 0) out[last] = ZERO_SNR_ALPHA_BAR;
  return out;
}

/**
 * Largest array the pure schedule / timestep helpers build (2^31 - 1, the typed-array limit in
 * browsers); the scheduler itself refuses num_train_timesteps above MAX_TRAIN_TIMESTEPS long before.
 */
const MAX_COUNT = 2 ** 31 - 1;

/** An element count for a helper that allocates: refused (typed) before `new Float64Array` throws a RangeError. */
export function checkCount(count: unknown, field: string): number {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > MAX_COUNT) {
    throw new ArgumentError({
      field,
      value: count,
      problem: `must be an integer count in 0 .. ${MAX_COUNT}`,
      fix: 'pass the number of values to build, e.g. 1000.',
    });
  }
  return count;
}

/**
 * What the step formulas need of alpha_bar: every value in (0, 1), strictly decreasing, except
 * that the last may be exactly 0 under zero terminal SNR (`rescale_betas_zero_snr`). Betas in
 * (0, 1) give that in exact arithmetic, but not in float32: betas below ~6e-8 leave alpha = 1
 * (1 - alpha_bar = 0: the "sample" and v steps divide by it), and large betas over many
 * timesteps underflow alpha_bar to 0 (the epsilon step divides by it). diffusers accepts such
 * configs and produces Inf / NaN mid-run; we refuse them when the scheduler is built, naming the
 * config field that causes it.
 */
export function checkAlphasCumprod(alphasCumprod: Float64Array, config: BetaConfig, clamped: boolean): void {
  const n = alphasCumprod.length;
  const source = config.trained_betas !== null ? 'trained_betas' : `the ${config.beta_schedule} schedule`;
  for (let i = 0; i < n; i++) {
    const a = alphasCumprod[i];
    const prev = i === 0 ? 1 : alphasCumprod[i - 1];
    if (i === n - 1 && a === 0 && config.rescale_betas_zero_snr && n > 1) break; // zero terminal SNR, by design
    // The opt-in clamp (scheduler option clampZeroTerminalSnr) puts 2^-24 there, as diffusers'
    // Euler scheduler does, even when alpha_bar[T - 2] is smaller (Stable Diffusion's rescaled
    // schedule: 4.2e-9): positive, so every step formula is finite, but not monotone at the end.
    if (i === n - 1 && clamped && a === ZERO_SNR_ALPHA_BAR) break;
    if (a > 0 && a < prev) continue;
    const underflow = !(a > 0);
    const field:
      | 'clampZeroTerminalSnr'
      | 'trained_betas'
      | 'num_train_timesteps'
      | 'beta_end'
      | 'beta_start' =
      clamped && i === n - 1
        ? 'clampZeroTerminalSnr'
        : config.trained_betas !== null
          ? 'trained_betas'
          : config.beta_schedule === 'squaredcos_cap_v2'
            ? 'num_train_timesteps'
            : underflow
              ? 'beta_end'
              : 'beta_start';
    throw new ConfigError({
      field,
      value: field === 'clampZeroTerminalSnr' ? true : config[field],
      problem: underflow
        ? `makes alpha_bar[${i}] = ${a} (${source} over ${n} timesteps: the cumulative product of 1 - beta ${Number.isNaN(a) ? 'is not a number' : 'underflows to 0'}), and steps divide by sqrt(alpha_bar)`
        : field === 'clampZeroTerminalSnr'
          ? `sets alpha_bar[${i}] = 2^-24, which is not below alpha_bar[${i - 1}] = ${prev}; alpha_bar must decrease strictly`
          : `makes alpha_bar[${i}] = ${a}, not below ${i === 0 ? '1' : `alpha_bar[${i - 1}] = ${prev}`} (${source}: betas this small do not change 1 - beta in float32), and steps divide by sqrt(1 - alpha_bar)`,
      fix: underflow
        ? 'use smaller betas or fewer training timesteps (Stable Diffusion: scaled_linear 0.00085 .. 0.012 over 1000).'
        : field === 'clampZeroTerminalSnr'
          ? 'leave clampZeroTerminalSnr off for this schedule, or use prediction_type "v_prediction".'
          : 'use betas of at least ~1e-7 (Stable Diffusion starts at 0.00085).',
    });
  }
}
