/**
 * Which noise level a step lands on: the "previous timestep" of DDIM eq. 12 (x_t -> x_{t_prev}).
 *
 * diffusers' `DDIMScheduler.step` always uses the stride `t - T // n`. That is the next scheduled
 * timestep only for "leading" spacing; for "trailing" and "linspace" the lists are not spaced by
 * T // n (T = 1000, n = 10 linspace: 999, 888, 777, ... but the stride is 100), so each step lands
 * on a noise level the next step does not start from (diffusers #11347, #12633; the same bug in
 * DDPM was #9261, fixed by #9384 with a lookup in the schedule). The "schedule" rule does that
 * lookup: the previous timestep of `timesteps[i]` is `timesteps[i + 1]`, and -1 ("past the end",
 * alpha_bar = final_alpha_cumprod) after the last, as diffusers' DDPM `previous_timestep` does.
 */

/**
 * `stride`: diffusers' `t - T // n` (the default, for parity with diffusers' results).
 * `schedule`: the next timestep of the list `setTimesteps` chose (the fix for trailing/linspace).
 * Custom timesteps (`setTimesteps({ timesteps })`) always use the list.
 */
export type PreviousTimestepRule = 'stride' | 'schedule';

/** Every {@link PreviousTimestepRule}, the default first. */
export const PREVIOUS_TIMESTEP_RULES: readonly PreviousTimestepRule[] = ['stride', 'schedule'];

/** diffusers' DDIM rule: `t - T // n`, or -1 when that is negative ("past the end"). */
export function stridePreviousTimestep(
  timestep: number,
  numTrainTimesteps: number,
  numInferenceSteps: number,
): number {
  const prev = timestep - Math.floor(numTrainTimesteps / numInferenceSteps);
  return prev >= 0 ? prev : -1;
}

/**
 * diffusers' inverse rule (scheduling_ddim_inverse.py): a step to `t` starts from
 * `min(t - T // n, T - 1)`, or -1 ("before the start", alpha_bar = initial_alpha_cumprod).
 */
export function strideInverseStartTimestep(
  timestep: number,
  numTrainTimesteps: number,
  numInferenceSteps: number,
): number {
  const from = Math.min(timestep - Math.floor(numTrainTimesteps / numInferenceSteps), numTrainTimesteps - 1);
  return from >= 0 ? from : -1;
}

/**
 * With a list, a timestep between two scheduled ones (or above the first) is legal, as every
 * training timestep is with diffusers' stride: the step lands on the next scheduled timestep below
 * it, the level the next step of the loop starts from. So the list rules are total over 0 .. T - 1
 * and never refuse a timestep the stride rule accepts; for a listed timestep they give the next
 * element.
 */

/** Index of the first element of a strictly decreasing list that is below `timestep` (length if none). */
function firstBelowDescending(schedule: Int32Array, timestep: number): number {
  let lo = 0;
  let hi = schedule.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (schedule[mid] < timestep) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Index of the last element of a strictly increasing list that is below `timestep` (-1 if none). */
function lastBelowAscending(schedule: Int32Array, timestep: number): number {
  let lo = 0;
  let hi = schedule.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (schedule[mid] < timestep) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/**
 * The "schedule" rule for a descending list: the next scheduled timestep below `timestep` (the
 * next element for a listed one), or -1 after the last one.
 */
export function schedulePreviousTimestep(schedule: Int32Array, timestep: number): number {
  const i = firstBelowDescending(schedule, timestep);
  return i < schedule.length ? schedule[i] : -1;
}

/**
 * The "schedule" rule for an ascending inversion list: a step to `timestep` starts from the
 * scheduled timestep below it (the element before a listed one), or -1 for the first.
 */
export function scheduleInverseStartTimestep(schedule: Int32Array, timestep: number): number {
  const i = lastBelowAscending(schedule, timestep);
  return i >= 0 ? schedule[i] : -1;
}
