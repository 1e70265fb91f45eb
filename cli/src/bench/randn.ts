/**
 * Throughput of seeded Gaussian noise: ours (`randnTensor` into an `out` buffer, torch-exact) on
 * both kernel backends (WebAssembly SIMD, the default, and the JavaScript reference: the same
 * values) against the usual JavaScript normal generators, in one run so the ratios compare like
 * with like. The issue asks for at least a
 * quarter of `torch.randn`'s CPU throughput (measured separately, in Python) and to be ahead of the
 * JavaScript generators.
 *
 * Node-only (it reads the CPU model for the report).
 */

import { Generator, type KernelBackend, randnTensor, setKernelBackend } from 'ddim';
import { Bench } from 'tinybench';
import { machine } from './machine.js';

export const name = 'randn';

export interface RandnBenchOptions {
  /** Milliseconds of measurement per task (default 1000). */
  time?: number;
  /** Shapes to draw (default [1, 4, 64, 64] and [16, 4, 96, 96]). */
  shapes?: readonly (readonly number[])[];
}

export interface RandnBenchRow {
  shape: number[];
  /** Which generator: 'ddim' (WebAssembly), 'ddim (js)', 'Math.random Box-Muller' or 'd3-random randomNormal'. */
  generator: string;
  samplesPerSecond: number;
  /** Relative margin of error of the mean latency, in percent. */
  rme: number;
  /** ddim's samples/s divided by this row's (1 for ddim itself). */
  ddimSpeedup: number;
}

export interface RandnBenchResult {
  name: typeof name;
  node: string;
  cpu: string;
  rows: RandnBenchRow[];
  /** Why a baseline was skipped (e.g. d3-random not installed). */
  notes: string[];
}

export const DEFAULT_SHAPES: readonly (readonly number[])[] = [
  [1, 4, 64, 64],
  [16, 4, 96, 96],
];

type Fill = (out: Float32Array) => void;

/** The usual hand-written JavaScript normal generator: Box-Muller on Math.random, both outputs used. */
function mathRandomBoxMuller(out: Float32Array): void {
  const n = out.length;
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - Math.random()));
    const theta = 2 * Math.PI * Math.random();
    out[i] = r * Math.cos(theta);
    if (i + 1 < n) out[i + 1] = r * Math.sin(theta);
  }
}

/** d3-random's randomNormal (Marsaglia polar method on Math.random), if it is installed. */
async function loadD3Normal(): Promise<Fill | string> {
  // A variable specifier: d3-random is only a devDependency, and has no bundled types.
  const specifier: string = 'd3-random';
  try {
    const mod = (await import(specifier)) as { randomNormal?: (mu?: number, sigma?: number) => () => number };
    if (typeof mod.randomNormal !== 'function') return 'd3-random has no randomNormal export; skipped.';
    const normal = mod.randomNormal(0, 1);
    return (out) => {
      for (let i = 0; i < out.length; i++) out[i] = normal();
    };
  } catch {
    return 'd3-random is not installed (it is a devDependency); its baseline is skipped.';
  }
}

export async function run(options: RandnBenchOptions = {}): Promise<RandnBenchResult> {
  const time = options.time ?? 1000;
  const shapes = options.shapes ?? DEFAULT_SHAPES;
  const notes: string[] = [];
  const d3 = await loadD3Normal();
  if (typeof d3 === 'string') notes.push(d3);

  const rows: RandnBenchRow[] = [];
  for (const shape of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    const generator = new Generator().manualSeed(1234);
    const ddim: Fill = (o) => randnTensor(shape, { generator, out: { data: o, dims: shape } });
    const fills: [string, Fill, KernelBackend][] = [
      ['ddim', ddim, 'wasm'],
      ['ddim (js)', ddim, 'js'],
      ['Math.random Box-Muller', mathRandomBoxMuller, 'js'],
    ];
    if (typeof d3 !== 'string') fills.push(['d3-random randomNormal', d3, 'js']);

    const bench = new Bench({ name: `randn [${shape.join(', ')}]`, time, warmupTime: Math.min(250, time) });
    for (const [label, fill, backend] of fills) {
      bench.add(label, () => fill(out), { beforeAll: () => setKernelBackend(backend) });
    }
    try {
      await bench.run();
    } finally {
      setKernelBackend('auto');
    }

    const measured: { generator: string; samplesPerSecond: number; rme: number }[] = [];
    for (const task of bench.tasks) {
      const result = task.result;
      if (result.state !== 'completed') {
        notes.push(`${task.name} on [${shape.join(', ')}] did not complete (${result.state}).`);
        continue;
      }
      // period: mean milliseconds per call, each call drawing n samples.
      measured.push({
        generator: task.name,
        samplesPerSecond: (n * 1000) / result.period,
        rme: result.latency.rme,
      });
    }
    const ours = measured.find((m) => m.generator === 'ddim')?.samplesPerSecond ?? Number.NaN;
    for (const m of measured) rows.push({ shape: [...shape], ...m, ddimSpeedup: ours / m.samplesPerSecond });
  }
  const { node, cpu } = machine();
  return { name, node, cpu, rows, notes };
}

function formatRate(samplesPerSecond: number): string {
  return `${(samplesPerSecond / 1e6).toFixed(1)} M/s`;
}

/** A small text table: samples/s per shape and generator, and ddim's speed-up over each. */
export function format(result: RandnBenchResult): string {
  const header = ['shape', 'generator', 'samples/s', '± %', 'ddim ×'];
  const body = result.rows.map((r) => [
    `[${r.shape.join(', ')}]`,
    r.generator,
    formatRate(r.samplesPerSecond),
    r.rme.toFixed(1),
    r.generator === 'ddim' ? '1.00' : r.ddimSpeedup.toFixed(2),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((row) => row[c].length)));
  const line = (cells: string[]) =>
    cells.map((cell, c) => (c >= 2 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ');
  return [
    `randn throughput (${result.node}, ${result.cpu})`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
    ...result.notes.map((note) => `note: ${note}`),
  ].join('\n');
}
