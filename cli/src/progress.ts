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

/** Bytes as text: 512 B, 1.5 kB, 3.44 MB, 1.72 GB (decimal units, as download tools print). */
export function byteSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toPrecision(3)} ${units[unit]}`;
}

/** What a model source reports while it downloads (`onProgress` of `fromPretrained`). */
export interface DownloadProgressEvent {
  file: string;
  loaded: number;
  total: number | null;
}

/**
 * Progress of a model download: on a terminal one bar per file (files may download side by side),
 * in bytes; elsewhere (piped, captured, CI logs) no bars but one line per file when it is complete,
 * so a log still says what was fetched. Files the source reports without a total are listed when
 * `stop` is called (the download is over then).
 */
export function downloadProgress(
  ctx: CliContext,
  enabled: boolean,
): { onProgress(event: DownloadProgressEvent): void; stop(): void } {
  const seen = new Map<string, { loaded: number; total: number | null; done: boolean }>();
  const line = (file: string, bytes: number) => `downloaded ${file} (${byteSize(bytes)})\n`;
  if (!enabled) return { onProgress() {}, stop() {} };
  if (!ctx.stderr.isTTY) {
    return {
      onProgress({ file, loaded, total }) {
        const entry = seen.get(file) ?? { loaded: 0, total, done: false };
        entry.loaded = loaded;
        entry.total = total;
        seen.set(file, entry);
        if (!entry.done && total !== null && loaded >= total) {
          entry.done = true;
          ctx.stderr.write(line(file, loaded));
        }
      },
      stop() {
        for (const [file, entry] of seen)
          if (!entry.done && entry.loaded > 0) ctx.stderr.write(line(file, entry.loaded));
        seen.clear();
      },
    };
  }
  const multi = new cliProgress.MultiBar(
    {
      stream: ctx.stderr,
      format: '{file} {bar} {percentage}% {size} | {duration_formatted}',
      hideCursor: true,
      barsize: 30,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  const width = (file: string) => file.padEnd(Math.min(40, Math.max(24, file.length)));
  return {
    onProgress({ file, loaded, total }) {
      // An unknown size shows as a bar that is always full of what has come so far.
      const size = total ?? loaded;
      const payload = {
        file: width(file),
        size: `${byteSize(loaded)}/${total === null ? '?' : byteSize(total)}`,
      };
      let bar = bars.get(file);
      if (bar === undefined) {
        bar = multi.create(Math.max(size, 1), loaded, payload);
        bars.set(file, bar);
      } else {
        bar.setTotal(Math.max(size, 1));
        bar.update(loaded, payload);
      }
    },
    stop() {
      multi.stop();
    },
  };
}
