/**
 * Inference timesteps, exactly as diffusers picks them. diffusers builds them with numpy in
 * float64 and rounds with `np.round`, which rounds half to even (np.round(166.5) == 166), not
 * half up like `Math.round`; float arange/linspace also have numpy's own fill rules. We reproduce
 * all three because a timestep that is off by one feeds the UNet a different embedding.
 *
 * The spacings are Table 2 of Lin et al. 2023 ("Common Diffusion Noise Schedules and Sample
 * Steps are Flawed"): leading (DDIM/SD default), trailing (zero-SNR), linspace.
 */
import type { TimestepSpacing } from './config.js';
import { ArgumentError } from './errors.js';

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
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const out = new Float64Array(length);
  if (length > 0) out[0] = start;
  if (length > 1) out[1] = start + step;
  const delta = out[1] - start;
  for (let i = 2; i < length; i++) out[i] = start + i * delta;
  return out;
}

/** `np.linspace(start, stop, num)` (endpoint=True): `start + i * step`, the last value exactly `stop`. */
export function numpyLinspace(start: number, stop: number, num: number): Float64Array {
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
  if (spacing === 'linspace') {
    const values = numpyLinspace(0, T - 1, n);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = roundHalfEven(values[n - 1 - i]);
    return out;
  }
  if (spacing === 'leading') {
    const ratio = Math.floor(T / n);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = (n - 1 - i) * ratio + stepsOffset;
    return out;
  }
  // trailing. numpy sizes a float arange as ceil((stop - start) / step), and for some n the
  // quotient rounds just above n (T = 1000: n = 61, 103, 121, ...; T = 100: n = 29, 31, ...), so
  // diffusers gets n + 1 timesteps, the extra one being round(~1e-13) - 1 = -1, which its step
  // then reads as alphas_cumprod[-1] (the noisiest level). We keep the n real ones.
  const values = numpyArange(T, 0, -T / n);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = roundHalfEven(values[i]) - 1;
  return out;
}

/**
 * `DDIMInverseScheduler.set_timesteps`: ascending.
 *  - leading:  (arange(n) * (T // n)).round() + steps_offset
 *  - trailing: round(arange(T, 0, -T / n)[::-1]) - 1
 */
export function ddimInverseTimesteps(
  numTrainTimesteps: number,
  numInferenceSteps: number,
  spacing: 'leading' | 'trailing',
  stepsOffset: number,
): Int32Array {
  const forward = ddimTimesteps(numTrainTimesteps, numInferenceSteps, spacing, stepsOffset);
  return forward.reverse();
}
