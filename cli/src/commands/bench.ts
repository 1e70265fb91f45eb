/** `ddim bench`: the project's benchmarks (cli/src/bench/, the list `npm run bench` runs). */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export interface BenchFlags {
  time?: number;
}

export async function benchCommand(
  names: string[],
  flags: BenchFlags,
  ctx: CliContext,
  command: Command,
): Promise<void> {
  // Loaded on demand: the benchmarks pull in tinybench and their baselines, which no other command needs.
  const { benchmarks, runBenchmarks } = await import('../bench/index.js');
  const available = benchmarks.map((b) => b.name);
  const unknown = names.filter((n) => !available.includes(n));
  if (unknown.length > 0) {
    command.error(
      `error: unknown benchmark ${unknown.map((n) => `'${n}'`).join(', ')}; available: ${available.join(', ')}`,
      { exitCode: 2, code: 'ddim.unknownBenchmark' },
    );
  }
  ctx.print(
    `ddim bench: ${names.length > 0 ? names.join(', ') : available.join(', ')} (timings are noisy; compare ratios within one run)`,
  );
  ctx.print();
  await runBenchmarks(names, flags.time === undefined ? {} : { time: flags.time }, (text) => ctx.print(text));
}
