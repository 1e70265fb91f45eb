/**
 * Inference timesteps, exactly as diffusers picks them. diffusers builds them with numpy in
 * float64 and rounds with `np.round`, which rounds half to even (np.round(166.5) == 166), not
 * half up like `Math.round`; float arange/linspace also have numpy's own fill rules. We reproduce
 * all three because a timestep that is off by one feeds the UNet a different embedding.
 *
 * The spacings are Table 2 of Lin et al. 2023 ("Common Diffusion Noise Schedules and Sample
 * Steps are Flawed"): leading (DDIM/SD default), trailing (zero-SNR), linspace.
 */

import { ArgumentError } from '../errors.js';
import { guarded, unreadable } from '../guard.js';
import { assertNever } from '../tensor/dtype.js';
import { checkCount, MAX_TRAIN_TIMESTEPS } from './schedule.js';

/** diffusers' `timestep_spacing` values for DDIMScheduler. */
export const TIMESTEP_SPACINGS = ['leading', 'trailing', 'linspace'] as const;
/**
 * How the inference timesteps are picked from the training ones (table 2 of Lin et al., "Common
 * Diffusion Noise Schedules and Sample Steps are Flawed"): `leading` steps of T // n from 0 (plus
 * steps_offset), `trailing` steps of T / n down from T - 1, `linspace` evenly spaced over [0, T - 1].
 */
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];
/** DDIMInverseScheduler's: diffusers' inverse scheduler has no "linspace" (it raises ValueError). */
export const INVERSE_TIMESTEP_SPACINGS = [
  'leading',
  'trailing',
] as const satisfies readonly TimestepSpacing[];
/** The spacings of `DDIMInverseScheduler`: {@link TimestepSpacing} without `linspace`. */
export type InverseTimestepSpacing = (typeof INVERSE_TIMESTEP_SPACINGS)[number];

/** numpy's `np.round` / `np.rint`: round half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  // Exactly halfway and Math.round went to an odd integer: go down to the even neighbour.
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * `np.arange(start, stop, step)` for floats: length ceil((stop - start) / step); element 0 is
 * `start`, element 1 is `start + step`, and the rest are `start + i * delta` with
 * `delta = (start + step) - start` (numpy's DOUBLE_fill), which can differ from `step` in the last bit.
 */
export function numpyArange(start: number, stop: number, step: number): Float64Array {
  for (const [field, v] of [
    ['start', start],
    ['stop', stop],
    ['step', step],
  ] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v) || (field === 'step' && v === 0)) {
      throw new ArgumentError({
        field,
        value: v,
        problem: field === 'step' ? 'must be a finite non-zero number' : 'must be a finite number',
        fix: 'pass the arguments np.arange(start, stop, step) would take.',
      });
    }
  }
  // The length is checked before allocating: np.arange(0, 1e12, 1) is refused, not attempted.
  const length = checkCount(Math.max(0, Math.ceil((stop - start) / step)), 'length');
  const out = new Float64Array(length);
  if (length > 0) out[0] = start;
  if (length > 1) out[1] = start + step;
  const delta = out[1] - start;
  for (let i = 2; i < length; i++) out[i] = start + i * delta;
  return out;
}

/** `np.linspace(start, stop, num)` (endpoint=True): `start + i * step`, the last value exactly `stop`. */
export function numpyLinspace(start: number, stop: number, num: number): Float64Array {
  checkCount(num, 'num');
  const out = new Float64Array(num);
  const div = num - 1;
  if (div > 0) {
    const delta = stop - start;
    const step = delta / div;
    for (let i = 0; i < num; i++) out[i] = step === 0 ? (i / div) * delta + start : i * step + start;
    out[num - 1] = stop;
  } else if (num === 1) {
    out[0] = start;
  }
  return out;
}

export function checkInferenceSteps(numInferenceSteps: unknown, numTrainTimesteps: number): number {
  checkNumTrainTimesteps(numTrainTimesteps);
  if (
    typeof numInferenceSteps !== 'number' ||
    !Number.isInteger(numInferenceSteps) ||
    numInferenceSteps < 1
  ) {
    throw new ArgumentError({
      field: 'numInferenceSteps',
      value: numInferenceSteps,
      problem: 'must be a positive integer',
      fix: 'pass the number of denoising steps, e.g. 50.',
    });
  }
  if (numInferenceSteps > numTrainTimesteps) {
    // diffusers raises ValueError here: the model only knows num_train_timesteps noise levels.
    throw new ArgumentError({
      field: 'numInferenceSteps',
      value: numInferenceSteps,
      problem: `cannot be larger than num_train_timesteps (${numTrainTimesteps})`,
      fix: `use at most ${numTrainTimesteps} steps.`,
    });
  }
  return numInferenceSteps;
}

/**
 * `DDIMScheduler.set_timesteps`: descending integer timesteps.
 *  - leading:  (arange(n) * (T // n)).round()[::-1] + steps_offset
 *  - trailing: round(arange(T, 0, -T / n)) - 1   (no steps_offset, as in diffusers)
 *  - linspace: linspace(0, T - 1, n).round()[::-1]   (no steps_offset, as in diffusers)
 */
export function ddimTimesteps(
  numTrainTimesteps: number,
  numInferenceSteps: number,
  spacing: TimestepSpacing,
  stepsOffset: number,
): Int32Array {
  const T = numTrainTimesteps;
  const n = checkInferenceSteps(numInferenceSteps, T);
  checkSpacing(spacing, TIMESTEP_SPACINGS);
  checkStepsOffset(stepsOffset, T);
  const out = new Int32Array(n);
  switch (spacing) {
    case 'leading': {
      const ratio = Math.floor(T / n);
      for (let i = 0; i < n; i++) out[i] = (n - 1 - i) * ratio + stepsOffset;
      return out;
    }
    case 'trailing': {
      // numpy sizes a float arange as ceil((stop - start) / step), and for some n the quotient
      // rounds just above n (T = 1000: n = 61, 103, 121, ...; T = 100: n = 29, 31, ...), so
      // diffusers gets n + 1 timesteps, the extra one being round(~1e-13) - 1 = -1, which its step
      // then reads as alphas_cumprod[-1] (the noisiest level). We keep the n real ones.
      const values = numpyArange(T, 0, -T / n);
      for (let i = 0; i < n; i++) out[i] = roundHalfEven(values[i]) - 1;
      return out;
    }
    case 'linspace': {
      const values = numpyLinspace(0, T - 1, n);
      for (let i = 0; i < n; i++) out[i] = roundHalfEven(values[n - 1 - i]);
      return out;
    }
    default:
      return assertNever(spacing, 'timestep_spacing');
  }
}

/**
 * `DDIMInverseScheduler.set_timesteps`: ascending.
 *  - leading:  (arange(n) * (T // n)).round() + steps_offset
 *  - trailing: round(arange(T, 0, -T / n)[::-1]) - 1
 */
export function ddimInverseTimesteps(
  numTrainTimesteps: number,
  numInferenceSteps: number,
  spacing: InverseTimestepSpacing,
  stepsOffset: number,
): Int32Array {
  checkSpacing(spacing, INVERSE_TIMESTEP_SPACINGS);
  const forward = ddimTimesteps(numTrainTimesteps, numInferenceSteps, spacing, stepsOffset);
  return forward.reverse();
}

export type TimestepOrder = 'descending' | 'ascending';

/**
 * Validate a user-chosen timestep list (`setTimesteps({ timesteps })`, diffusers #2165): non-empty,
 * integers in 0 .. T - 1, strictly decreasing (sampling) or strictly increasing (inversion).
 * Strictness matters: with a repeated timestep the "previous" level would be the current one and
 * the list could no longer say which step follows which. Returns a fresh Int32Array.
 */
export function checkCustomTimesteps(
  timesteps: unknown,
  numTrainTimesteps: number,
  order: TimestepOrder,
  field = 'timesteps',
): Int32Array {
  const T = checkNumTrainTimesteps(numTrainTimesteps);
  if (order !== 'descending' && order !== 'ascending') {
    throw new ArgumentError({
      field: 'order',
      value: order,
      problem: 'must be "descending" or "ascending"',
      fix: 'pass "descending" for sampling lists, "ascending" for inversion lists.',
    });
  }
  // A Proxy or getter-laden list may throw on any read: that is an ArgumentError naming the list.
  return guarded(
    () => readCustomTimesteps(timesteps, T, order, field),
    unreadable(ArgumentError, field, 'pass a plain array or typed array of integers.'),
  );
}

function readCustomTimesteps(timesteps: unknown, T: number, order: TimestepOrder, field: string): Int32Array {
  const isList =
    timesteps !== null &&
    typeof timesteps === 'object' &&
    (Array.isArray(timesteps) || ArrayBuffer.isView(timesteps)) &&
    !(timesteps instanceof DataView);
  if (!isList) {
    throw new ArgumentError({
      field,
      value: timesteps,
      problem: 'must be an array (or typed array) of integer timesteps',
      fix: `pass e.g. { timesteps: ${order === 'descending' ? '[999, 666, 333, 0]' : '[0, 333, 666, 999]'} }.`,
    });
  }
  const list = timesteps as ArrayLike<unknown>;
  if (list.length === 0) {
    throw new ArgumentError({
      field,
      value: timesteps,
      problem: 'must not be empty',
      fix: 'pass at least one timestep.',
    });
  }
  if (list.length > T) {
    // A strictly monotone list of integers in 0 .. T - 1 has at most T entries. Checked before
    // allocating: a sparse `new Array(1e9)` is refused at once.
    throw new ArgumentError({
      field,
      value: timesteps,
      problem: `has ${list.length} entries, more than the ${T} training timesteps a strictly ${order === 'descending' ? 'decreasing' : 'increasing'} list can hold`,
      fix: 'pass at most num_train_timesteps distinct timesteps.',
    });
  }
  const out = new Int32Array(list.length);
  for (let i = 0; i < list.length; i++) {
    const raw = list[i];
    const t = typeof raw === 'bigint' ? Number(raw) : raw;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0 || t >= T) {
      throw new ArgumentError({
        field: `${field}[${i}]`,
        value: raw,
        problem: `must be an integer training timestep in 0 .. ${T - 1}`,
        fix: `keep every custom timestep within the ${T} training timesteps.`,
      });
    }
    if (i > 0 && (order === 'descending' ? t >= out[i - 1] : t <= out[i - 1])) {
      throw new ArgumentError({
        field: `${field}[${i}]`,
        value: t,
        problem: `must be ${order === 'descending' ? 'smaller' : 'larger'} than ${field}[${i - 1}] (${out[i - 1]}): custom timesteps must be strictly ${order === 'descending' ? 'decreasing (noisiest first)' : 'increasing (inversion goes from clean to noisy)'}`,
        fix: `sort the list ${order === 'descending' ? 'from high to low' : 'from low to high'} and drop repeated values.`,
      });
    }
    out[i] = t;
  }
  return out;
}

/**
 * Custom-timestep helpers: descending Int32Arrays ready for `setTimesteps({ timesteps })`, each in
 * 0 .. T - 1 and strictly decreasing. The spacings are diffusers' (the same integers
 * `setTimesteps(n)` picks), so e.g. `linspaceTimesteps(T, n)` with the default previous-timestep
 * rule of a custom list steps through the list, which is the fix for diffusers #11347 / #12633.
 */
export function leadingTimesteps(
  numTrainTimesteps: number,
  numInferenceSteps: number,
  stepsOffset = 0,
): Int32Array {
  const out = ddimTimesteps(numTrainTimesteps, numInferenceSteps, 'leading', stepsOffset);
  if (out[0] >= numTrainTimesteps) {
    // Only possible for n = T with steps_offset >= 1 (diffusers #10003): setTimesteps(n) handles
    // that case (see DDIMScheduler), but a custom list must stay inside the training range.
    throw new ArgumentError({
      field: 'numInferenceSteps',
      value: numInferenceSteps,
      problem: `with steps_offset ${stepsOffset} gives timestep ${out[0]}, past the last training timestep ${numTrainTimesteps - 1}`,
      fix: 'use fewer steps, steps_offset 0, or trailingTimesteps / linspaceTimesteps.',
    });
  }
  return out;
}

/** diffusers' "trailing" list (Lin et al. 2023): starts at T - 1. */
export function trailingTimesteps(numTrainTimesteps: number, numInferenceSteps: number): Int32Array {
  return ddimTimesteps(numTrainTimesteps, numInferenceSteps, 'trailing', 0);
}

/** diffusers' "linspace" list: round(linspace(0, T - 1, n)), descending. */
export function linspaceTimesteps(numTrainTimesteps: number, numInferenceSteps: number): Int32Array {
  return ddimTimesteps(numTrainTimesteps, numInferenceSteps, 'linspace', 0);
}

/**
 * The DDIM paper's quadratic skip (Song et al. 2020, appendix D.2; their code,
 * `ddim/runners/diffusion.py`, skip_type "quad"): `int(linspace(0, sqrt(0.8 T), S) ** 2)`, here
 * descending. Small steps near the data, large ones near the noise; the largest timestep is
 * int(0.8 T), not T - 1, as in the paper.
 *
 * When S - 1 > sqrt(0.8 T) (S >= 30 at T = 1000) the paper's list repeats small values
 * (0, 0, 1, ...). A repeated timestep makes a step from t to t, which is the identity for
 * every eta (alpha_bar_t = alpha_bar_prev, sigma = 0), so we drop the repeats: the samples are the
 * paper's, with fewer model calls, and the list may be shorter than S.
 */
export function quadraticTimesteps(numTrainTimesteps: number, numInferenceSteps: number): Int32Array {
  const T = checkNumTrainTimesteps(numTrainTimesteps);
  const n = checkInferenceSteps(numInferenceSteps, T);
  // numpy: np.sqrt(T * 0.8), np.linspace, then ** 2 (x * x) and int() (truncation).
  const values = numpyLinspace(0, Math.sqrt(T * 0.8), n);
  const ascending: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = Math.trunc(values[i] * values[i]);
    if (ascending.length === 0 || ascending[ascending.length - 1] !== t) ascending.push(t);
  }
  return Int32Array.from(ascending.reverse());
}

function checkStepsOffset(stepsOffset: unknown, numTrainTimesteps: number): void {
  if (
    typeof stepsOffset !== 'number' ||
    !Number.isInteger(stepsOffset) ||
    stepsOffset < 0 ||
    stepsOffset >= numTrainTimesteps
  ) {
    throw new ArgumentError({
      field: 'stepsOffset',
      value: stepsOffset,
      problem: `must be an integer in 0 .. ${numTrainTimesteps - 1}`,
      fix: 'use 0, or 1 as Stable Diffusion configs do.',
    });
  }
}

function checkSpacing(spacing: unknown, allowed: readonly string[]): void {
  if (typeof spacing !== 'string' || !allowed.includes(spacing)) {
    throw new ArgumentError({
      field: 'spacing',
      value: spacing,
      problem: `must be one of ${allowed.map((v) => `"${v}"`).join(', ')}`,
      fix: 'pass the timestep_spacing of the scheduler config.',
    });
  }
}

/** num_train_timesteps as an argument of the pure helpers: the same bound the config has. */
export function checkNumTrainTimesteps(numTrainTimesteps: unknown): number {
  if (
    typeof numTrainTimesteps !== 'number' ||
    !Number.isInteger(numTrainTimesteps) ||
    numTrainTimesteps < 1 ||
    numTrainTimesteps > MAX_TRAIN_TIMESTEPS
  ) {
    throw new ArgumentError({
      field: 'numTrainTimesteps',
      value: numTrainTimesteps,
      problem: `must be an integer in 1 .. ${MAX_TRAIN_TIMESTEPS}`,
      fix: "pass the model's num_train_timesteps (scheduler.config.num_train_timesteps), e.g. 1000.",
    });
  }
  return numTrainTimesteps;
}
