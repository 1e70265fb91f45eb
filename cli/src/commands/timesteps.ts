/**
 * `ddim timesteps`: the timesteps a scheduler picks, with what a step from each one uses: the
 * previous timestep, alpha_bar at both, the SNR, and sigma_t for the given eta. Every number comes
 * from the scheduler's own API (previousTimestep, alphaBarAt, getVariance), none is recomputed here.
 */
import { type DDIMScheduler, snr } from 'ddim';
import type { ConfigOverrideFlags } from '../config-source.js';
import { loadConfigSource, schedulerFor } from '../config-source.js';
import type { CliContext } from '../context.js';
import { sig, textTable } from '../format.js';

export interface TimestepRow {
  index: number;
  t: number;
  /** The timestep the step lands on, -1 past the end. */
  prev: number;
  alphaBar: number;
  alphaBarPrev: number;
  snr: number;
  /** DDIM eq. 16's sigma_t for the requested eta. */
  sigma: number;
}

export function timestepRows(scheduler: DDIMScheduler, eta: number): TimestepRow[] {
  return Array.from(scheduler.timesteps, (t, index) => {
    const prev = scheduler.previousTimestep(t);
    const alphaBar = scheduler.alphaBarAt(t);
    const alphaBarPrev = scheduler.alphaBarAt(prev);
    const variance = scheduler.getVariance(t, prev);
    // The table shows the steps `step` would take: an eta that a step refuses (DDIM eq. 12 broken,
    // sigma^2 > 1 - alpha_bar_prev) is refused here too, with the same error, not tabulated.
    if (eta > 1) probeStep(scheduler, t, eta);
    return {
      index,
      t,
      prev,
      alphaBar,
      alphaBarPrev,
      snr: snr(alphaBar),
      sigma: eta * Math.sqrt(variance),
    };
  });
}

/**
 * Run the scheduler's own step at `t` with `eta` on a one-element zero sample (and zero noise, so
 * no generator is drawn from): it throws exactly the ArgumentError a sampling run would.
 */
function probeStep(scheduler: DDIMScheduler, t: number, eta: number): void {
  const zero = { data: new Float32Array(1), dims: [1] };
  scheduler.step(zero, t, zero, { eta, varianceNoise: zero });
}

/** One line saying which schedule this is. */
export function describeScheduler(scheduler: DDIMScheduler): string {
  const c = scheduler.config;
  const betas =
    c.trained_betas !== null
      ? 'trained betas'
      : c.beta_schedule === 'squaredcos_cap_v2'
        ? 'squaredcos_cap_v2'
        : `${c.beta_schedule} ${c.beta_start}..${c.beta_end}`;
  return [
    `${betas} (T=${c.num_train_timesteps})`,
    c.rescale_betas_zero_snr
      ? 'zero terminal SNR'
      : `terminal SNR ${sig(snr(scheduler.alphasCumprod[c.num_train_timesteps - 1]), 3)}`,
    `${c.timestep_spacing} spacing`,
    `steps_offset ${c.steps_offset}`,
    c.prediction_type,
  ].join(', ');
}

export interface TimestepsFlags extends ConfigOverrideFlags {
  steps: number;
  eta: number;
  config: string;
  subfolder?: string;
  revision?: string;
  json?: boolean;
}

export async function timestepsCommand(flags: TimestepsFlags, ctx: CliContext): Promise<void> {
  const loaded = await loadConfigSource(flags.config, { ...flags, warn: ctx.warn });
  const scheduler = schedulerFor(loaded, flags, ctx.warn);
  scheduler.setTimesteps(flags.steps);
  const rows = timestepRows(scheduler, flags.eta);
  if (flags.json) {
    ctx.print(
      JSON.stringify(
        {
          config: loaded.from,
          steps: flags.steps,
          eta: flags.eta,
          scheduler: scheduler.toJSON(),
          // JSON has no Infinity: a zero-SNR step's SNR is 0, never infinite, so all values are finite.
          rows,
        },
        null,
        2,
      ),
    );
    return;
  }
  ctx.print(`${loaded.label}: ${describeScheduler(scheduler)}`);
  ctx.print(`${flags.steps} steps, eta ${flags.eta}`);
  ctx.print();
  ctx.print(
    textTable(
      ['i', 't', 'prev t', 'alpha_bar_t', 'alpha_bar_prev', 'SNR_t', 'log SNR_t', `sigma_t`],
      rows.map((r) => [
        String(r.index),
        String(r.t),
        r.prev < 0 ? '-1 (end)' : String(r.prev),
        sig(r.alphaBar, 6),
        sig(r.alphaBarPrev, 6),
        sig(r.snr, 4),
        sig(Math.log(r.snr), 4),
        sig(r.sigma, 4),
      ]),
      ['right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    ),
  );
  ctx.print();
  ctx.print(
    'prev t: the timestep whose alpha_bar the step lands on (-1: past the end, alpha_bar = final_alpha_cumprod).',
  );
  ctx.print('SNR = alpha_bar / (1 - alpha_bar); sigma_t = eta * sqrt(getVariance(t, prev t)) (DDIM eq. 16).');
}
