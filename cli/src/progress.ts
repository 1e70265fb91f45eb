/**
 * Progress bars on stderr (cli-progress), shown only on a terminal: piped or captured output stays
 * clean, and stdout carries only results.
 */
import cliProgress from 'cli-progress';
import type { CliContext } from './context.js';

export interface Progress {
  update(done: number): void;
  stop(): void;
}

const silent: Progress = { update() {}, stop() {} };

export function progressBar(
  ctx: CliContext,
  label: string,
  total: number,
  enabled: boolean,
  unit = 'steps',
): Progress {
  if (!enabled || !ctx.stderr.isTTY) return silent;
  const bar = new cliProgress.SingleBar(
    {
      stream: ctx.stderr,
      format: `${label} {bar} {value}/{total} {unit} | {duration_formatted}`,
      hideCursor: true,
      barsize: 30,
      // Redraw at most every 50 ms: a fast loop must not spend its time drawing.
      fps: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { unit });
  return {
    update(done) {
      bar.update(done);
    },
    stop() {
      bar.stop();
    },
  };
}

/** A bar whose total is learnt from the first update (for work that reports "done of total"). */
export function progressOf(
  ctx: CliContext,
  label: string,
  enabled: boolean,
  unit: string,
): { update(done: number, total: number): void; stop(): void } {
  let bar: Progress | null = null;
  return {
    update(done, total) {
      bar ??= progressBar(ctx, label, total, enabled, unit);
      bar.update(done);
    },
    stop() {
      bar?.stop();
    },
  };
}
