/** `ddim plot`: alpha_bar and log-SNR against t for one or more configs, as an SVG file. */
import type { ConfigOverrideFlags } from '../config-source.js';
import { loadConfigSource, schedulerFor } from '../config-source.js';
import type { CliContext } from '../context.js';
import { writeOutput } from '../output.js';
import { type PlotSeries, schedulePlotSvg } from '../svg-plot.js';

export interface PlotFlags extends ConfigOverrideFlags {
  config?: string[];
  subfolder?: string;
  revision?: string;
  steps: number;
  out: string;
}

export const DEFAULT_PLOT_CONFIGS = ['sd', 'sd-zero-snr'];

export async function plotCommand(flags: PlotFlags, ctx: CliContext): Promise<void> {
  const sources = flags.config && flags.config.length > 0 ? flags.config : DEFAULT_PLOT_CONFIGS;
  const series: PlotSeries[] = [];
  for (const source of sources) {
    const loaded = await loadConfigSource(source, { ...flags, warn: ctx.warn });
    const scheduler = schedulerFor(loaded, flags, ctx.warn).setTimesteps(flags.steps);
    const c = scheduler.config;
    const shown = Array.from(scheduler.timesteps);
    const list = shown.length <= 12 ? `: ${shown.join(' ')}` : '';
    series.push({
      label: `${loaded.label} (${c.beta_schedule}${c.rescale_betas_zero_snr ? ', zero SNR' : ''}, ${c.timestep_spacing}${list})`,
      alphasCumprod: scheduler.alphasCumprod,
      timesteps: scheduler.timesteps,
    });
  }
  const svg = schedulePlotSvg(series, {
    title: `Noise schedules, ${flags.steps} inference timesteps marked`,
  });
  await writeOutput(flags.out, svg);
  for (const s of series) ctx.print(s.label);
  ctx.print(`wrote ${flags.out} (${series.length} schedules)`);
}
