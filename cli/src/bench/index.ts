/**
 * The benchmark runner behind `npm run bench` (and the CLI's `ddim bench`): runs each module of the
 * list below in turn and prints its table. To add a benchmark, write a module exporting `name`,
 * `run(options)` and `format(result)` (a `BenchModule`), and add `entry(module)` to `benchmarks`.
 *
 *   node cli/dist/bench/index.js [--time <ms per task>] [name ...]
 */
import { pathToFileURL } from 'node:url';
import * as bandwidth from './bandwidth.js';
import * as pipeline from './pipeline.js';
import * as randn from './randn.js';
import * as step from './step.js';

export interface BenchOptions {
  /** Milliseconds of measurement per task. */
  time?: number;
}

/** What a benchmark module exports. */
export interface BenchModule<R> {
  name: string;
  run(options?: BenchOptions): Promise<R>;
  format(result: R): string;
}

export interface BenchEntry {
  name: string;
  /** Run the benchmark; returns its result and the table to print. */
  run(options?: BenchOptions): Promise<{ result: unknown; text: string }>;
}

function entry<R>(module: BenchModule<R>): BenchEntry {
  return {
    name: module.name,
    run: async (options) => {
      const result = await module.run(options);
      return { result, text: module.format(result) };
    },
  };
}

/** Every benchmark, in the order `npm run bench` runs them. */
export const benchmarks: readonly BenchEntry[] = [
  entry(randn),
  entry(step),
  entry(pipeline),
  entry(bandwidth),
];

/** Run the named benchmarks (all when `names` is empty), printing each table; returns the results. */
export async function runBenchmarks(
  names: readonly string[] = [],
  options: BenchOptions = {},
  print: (text: string) => void = console.log,
): Promise<Record<string, unknown>> {
  const unknown = names.filter((n) => !benchmarks.some((b) => b.name === n));
  if (unknown.length > 0) {
    throw new Error(
      `unknown benchmark ${unknown.join(', ')}; available: ${benchmarks.map((b) => b.name).join(', ')}`,
    );
  }
  const results: Record<string, unknown> = {};
  for (const bench of benchmarks) {
    if (names.length > 0 && !names.includes(bench.name)) continue;
    const { result, text } = await bench.run(options);
    results[bench.name] = result;
    print(text);
    print('');
  }
  return results;
}

function parseArgs(argv: readonly string[]): { names: string[]; options: BenchOptions } {
  const names: string[] = [];
  const options: BenchOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--time' || arg.startsWith('--time=')) {
      const text = arg === '--time' ? argv[++i] : arg.slice('--time='.length);
      const time = Number(text);
      if (!Number.isFinite(time) || time <= 0)
        throw new Error(`--time must be a positive number of ms (got ${text})`);
      options.time = time;
    } else {
      names.push(arg);
    }
  }
  return { names, options };
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const { names, options } = parseArgs(process.argv.slice(2));
  runBenchmarks(names, options).catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
