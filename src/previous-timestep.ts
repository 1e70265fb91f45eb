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
import { ArgumentError } from './errors.js';

/**
 * `stride`: diffusers' `t - T // n` (the default, for parity with diffusers' results).
 * `schedule`: the next timestep of the list `setTimesteps` chose (the fix for trailing/linspace).
 * Custom timesteps (`setTimesteps({ timesteps })`) always use the list.
 */
export type PreviousTimestepRule = 'stride' | 'schedule';

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

function indexInSchedule(schedule: Int32Array, timestep: number, why: string): number {
  const i = schedule.indexOf(timestep);
  if (i < 0) {
    throw new ArgumentError({
      field: 'timestep',
      value: timestep,
      problem: `is not one of scheduler.timesteps; ${why}`,
      fix: 'step through scheduler.timesteps (or a tail of it, as image-to-image does), or use the default previousTimestepRule "stride" with setTimesteps(n).',
    });
  }
  return i;
}

/** The "schedule" rule for a descending list: the next element, or -1 after the last one. */
export function schedulePreviousTimestep(schedule: Int32Array, timestep: number): number {
  const i = indexInSchedule(
    schedule,
    timestep,
    'the previous timestep is read from the list (the next element after this one)',
  );
  return i + 1 < schedule.length ? schedule[i + 1] : -1;
}

/** The "schedule" rule for an ascending inversion list: the element before, or -1 for the first. */
export function scheduleInverseStartTimestep(schedule: Int32Array, timestep: number): number {
  const i = indexInSchedule(
    schedule,
    timestep,
    'an inversion step to it starts from the list element before it',
  );
  return i > 0 ? schedule[i - 1] : -1;
}
