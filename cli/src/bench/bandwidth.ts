/**
 * This machine's memory bandwidth as WebAssembly sees it (one thread, 128-bit SIMD, the probes of
 * wasm/bench/bandwidth.ts built into bandwidth.generated.ts): a copy (memory.copy), STREAM's triad
 * a = b + s c and a read-only sum, on arrays that fit the L2 cache, on arrays the size of the
 * video step's (1x16x4x96x96 float32: the last-level cache) and on arrays that stream from DRAM.
 * The most any step kernel that streams its tensors can do: `npm run bench:torch` divides the
 * video step's bytes by its time against these.
 *
 * Node-only (os); the probes are the benchmark's own module, not the library's.
 */
import { WASM_BASE64 } from './bandwidth.generated.js';
import { machine } from './machine.js';
import { timingRound } from './step.js';

export const name = 'bandwidth';

interface Probes {
  memory: WebAssembly.Memory;
  copy(dst: number, src: number, n: number): void;
  triad(a: number, b: number, c: number, n: number, s: number): void;
  sum(a: number, n: number): number;
  heapBase(): number;
}

function probes(): Probes {
  const text = atob(WASM_BASE64);
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Probes;
}

export interface BandwidthRow {
  /** MiB per array. */
  mib: number;
  /** GB/s: copy counts the bytes read and written, triad three streams, read one. */
  copy: number;
  triad: number;
  read: number;
}

export interface BandwidthResult {
  name: typeof name;
  node: string;
  cpu: string;
  rows: BandwidthRow[];
}

/** Array sizes: in L2 (2 MiB per core here), the video step's arrays, and DRAM. */
export const SIZES_MIB = [1, 2.25, 256];

export async function run(options: { time?: number } = {}): Promise<BandwidthResult> {
  const time = Math.max(options.time ?? 1000, 500);
  const rows: BandwidthRow[] = [];
  for (const mib of SIZES_MIB) {
    const p = probes();
    const bytes = mib * 2 ** 20;
    const base = Math.ceil(p.heapBase() / 4096) * 4096;
    p.memory.grow(Math.ceil((base + 3 * bytes) / 65536) - p.memory.buffer.byteLength / 65536);
    new Float32Array(p.memory.buffer, base, (3 * bytes) / 4).fill(1);
    const [a, b, c] = [base, base + bytes, base + 2 * bytes];
    const n = bytes / 4;
    const best: Record<string, number> = {};
    for (let r = 0; r < 5; r++) {
      const us = await timingRound(time / 5, r === 0 ? time / 5 : 0, {
        copy: () => p.copy(a, b, bytes),
        triad: () => p.triad(a, b, c, n, 0.5),
        read: () => p.sum(b, n),
      });
      for (const [task, v] of Object.entries(us))
        best[task] = Math.min(best[task] ?? Number.POSITIVE_INFINITY, v);
    }
    // Bytes moved per call over microseconds: writes counted once, as STREAM does.
    const gbs = (moved: number, us: number) => moved / (us * 1e3);
    rows.push({
      mib,
      copy: gbs(2 * bytes, best.copy),
      triad: gbs(3 * bytes, best.triad),
      read: gbs(bytes, best.read),
    });
  }
  const { node, cpu } = machine();
  return { name, node, cpu, rows };
}

export function format(result: BandwidthResult): string {
  return [
    `Memory bandwidth from WebAssembly, one thread, 128-bit SIMD (${result.node}, ${result.cpu}); GB/s,`,
    'best of 5 round medians (copy: read + write bytes; triad: a = b + s c, three streams; read: a sum).',
    '',
    '| arrays of | copy | triad | read |',
    '| ---: | ---: | ---: | ---: |',
    ...result.rows.map(
      (r) => `| ${r.mib} MiB | ${r.copy.toFixed(1)} | ${r.triad.toFixed(1)} | ${r.read.toFixed(1)} |`,
    ),
  ].join('\n');
}
