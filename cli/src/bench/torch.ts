/**
 * Our step beside diffusers' step on PyTorch CPU (issue 7's aim: at most half its per-step time
 * for SD and SDXL latents, a fifth with thresholding), measured in one run:
 *
 *   npm run bench:torch                 (= npm run build && node cli/dist/bench/torch.js)
 *   node cli/dist/bench/torch.js [--time <ms per task>] [--rounds <n>] [--python <path>] [--default-malloc] [--json]
 *
 * diffusers cannot be installed here, so the PyTorch side is torch_ddim_step.py (next to this file), a
 * transcription of the tensor operations of diffusers' `DDIMScheduler.step`, run by a Python with
 * torch (default /usr/bin/python3, Debian's python3-torch; or $DDIM_TORCH_PYTHON / --python).
 * The Python process stays up and is driven over JSON lines, so that:
 *
 * - both sides step the same inputs (written by this script from step.ts's `bufferSet`), and the
 *   outputs are compared before anything is timed (a timing of different work compares nothing);
 * - the timing rounds alternate, ours then torch with 1 thread then torch with 2 threads (5
 *   rounds per case unless --rounds), so that a load change on this shared machine hits all
 *   sides alike; each side keeps the least of its round medians, the statistic of `npm run bench`.
 *
 * Not part of `npm test` / CI (torch is not there), nor of `npm run bench`'s list. Exits 1 with a
 * message when the Python cannot import torch.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DDIMScheduler, SCHEDULER_PRESETS, toFloat64 } from 'ddim';
import { machine } from './machine.js';
import { bufferSet, maxAbsDiff, STEPS, type StepCase, timingRound } from './step.js';

/** The `npm run bench` step cases the issue names (ids shared with the Python script). */
const CASES: (StepCase & { id: string })[] = [
  { id: 'sd', name: 'SD 1x4x64x64, eta 0', dims: [1, 4, 64, 64], eta: 0, thresholding: false },
  { id: 'sdxl', name: 'SDXL 1x4x128x128, eta 0', dims: [1, 4, 128, 128], eta: 0, thresholding: false },
  {
    id: 'sd-eta1-generator',
    name: 'SD 1x4x64x64, eta 1, generator',
    dims: [1, 4, 64, 64],
    eta: 1,
    thresholding: false,
    generator: true,
  },
  {
    id: 'sd-thresholding',
    name: 'SD 1x4x64x64, thresholding',
    dims: [1, 4, 64, 64],
    eta: 0,
    thresholding: true,
  },
  { id: 'video', name: 'video 1x16x4x96x96, eta 0', dims: [1, 16, 4, 96, 96], eta: 0, thresholding: false },
];

/** The issue's aims for ours / torch, by case id. */
const AIMS: Record<string, number> = { sd: 0.5, sdxl: 0.5, 'sd-thresholding': 0.2 };

/** torch.set_num_threads settings timed: 1 as our single-threaded step, 2 = this machine's cores. */
const THREADS = [1, 2] as const;
/** Outputs of the two sides must agree to this (float32 work on both; see docs/performance.md). */
const TOLERANCE = 1e-5;

// The Python file is not compiled: from dist/bench/torch.js it is in the package's src/bench/.
const SCRIPT = fileURLToPath(new URL('../../src/bench/torch_ddim_step.py', import.meta.url));

type Reply = Record<string, unknown> & { ok: boolean; error?: string; missing?: string };

class TorchError extends Error {}

/** The Python side: one request line in, one reply line out. */
class TorchProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;
  private failure: Error | null = null;

  constructor(python: string, defaultMalloc: boolean) {
    const args = [SCRIPT, '--serve', ...(defaultMalloc ? ['--default-malloc'] : [])];
    this.child = spawn(python, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    this.child.on('error', (error) => {
      this.failure = error;
    });
    // EPIPE when the process is gone (no such Python, or it exited for want of torch): the reply
    // loop below reports why.
    this.child.stdin.on('error', () => {});
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async request(message: Record<string, unknown>): Promise<Reply> {
    if (this.child.stdin.writable) this.child.stdin.write(`${JSON.stringify(message)}\n`);
    const next = await this.lines.next();
    if (next.done) {
      const code = await new Promise<number | null>((resolve) =>
        this.child.exitCode !== null || this.failure !== null
          ? resolve(this.child.exitCode)
          : this.child.once('close', (c: number | null) => resolve(c)),
      );
      throw this.failure ?? new TorchError(`the Python process ended (exit code ${code}) without a reply`);
    }
    const reply = JSON.parse(next.value) as Reply;
    if (!reply.ok) {
      if (reply.missing === 'torch') throw new TorchError(`PyTorch is not importable: ${reply.error}`);
      throw new TorchError(`${String(message.op)} failed on the Python side: ${reply.error}`);
    }
    return reply;
  }

  close(): void {
    if (this.child.stdin.writable) this.child.stdin.end(`${JSON.stringify({ op: 'quit' })}\n`);
  }
}

export interface TorchRow {
  id: string;
  name: string;
  /** Per-step microseconds, least of the round medians. */
  ours: number;
  /** torch per-step microseconds by thread count. */
  torch: Record<string, number>;
  /** Page faults per torch step in the best round, by thread count (about 0 unless --default-malloc). */
  torchFaults: Record<string, number>;
  /** Max |ours - torch| over prevSample and over predOriginalSample. */
  maxDiffPrev: number;
  maxDiffX0: number;
}

export interface TorchBenchResult {
  rounds: number;
  node: string;
  cpu: string;
  cores: number;
  /** Load averages (1, 5, 15 min) before and after the run. */
  loadBefore: number[];
  loadAfter: number[];
  python: Record<string, unknown>;
  rows: TorchRow[];
}

function writeF32(path: string, data: Float32Array): string {
  writeFileSync(path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return path;
}

function readF32(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

async function benchCase(
  torch: TorchProcess,
  c: StepCase & { id: string },
  time: number,
  rounds: number,
  dir: string,
): Promise<TorchRow> {
  const s = new DDIMScheduler({ ...SCHEDULER_PRESETS.sd.config, thresholding: c.thresholding }).setTimesteps(
    STEPS,
  );
  const t = s.timesteps[STEPS >> 1];
  // The buffer sets of `npm run bench` (seeds 1 and 11, each with its own generator for eta > 0).
  const seeds = [1, 11];
  const sets = seeds.map((seed) => bufferSet(c, s.alphaBarAt(t), seed));
  const file = (what: string, i: number) => join(dir, `${c.id}-${what}-${i}.f32`);
  const loaded = await torch.request({
    op: 'load',
    case: {
      id: c.id,
      dims: c.dims,
      eta: c.eta,
      thresholding: c.thresholding,
      generator: c.generator === true,
    },
    samples: sets.map((b, i) => writeF32(file('sample', i), b.x)),
    models: sets.map((b, i) => writeF32(file('model', i), b.m)),
    seeds,
  });
  if (loaded.timestep !== t) throw new TorchError(`timestep mismatch: ours ${t}, torch ${loaded.timestep}`);

  // Correctness first: set 0 on both sides, its generator fresh on both (the Python side seeds its
  // own torch.Generator with the same seed; ours is PyTorch-exact, so the noise is the same).
  const b0 = sets[0];
  s.step(b0.model, t, b0.sample, b0.options);
  await torch.request({ op: 'check', id: c.id, prev: file('prev', 0), x0: file('x0', 0) });
  const oursPrev = Float32Array.from(toFloat64(b0.options.out.prevSample));
  const oursX0 = Float32Array.from(toFloat64(b0.options.out.predOriginalSample));
  const maxDiffPrev = maxAbsDiff(oursPrev, readF32(file('prev', 0)));
  const maxDiffX0 = maxAbsDiff(oursX0, readF32(file('x0', 0)));

  let turn = 0;
  const ours = () => {
    turn ^= 1;
    const b = sets[turn];
    s.step(b.model, t, b.sample, b.options);
  };
  const best = { ours: Number.POSITIVE_INFINITY } as Record<string, number>;
  const faults: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    const warmup = r === 0 ? time / 5 : 0;
    const round = await timingRound(time / rounds, warmup, { ours });
    best.ours = Math.min(best.ours, round.ours);
    for (const threads of THREADS) {
      const reply = await torch.request({
        op: 'time',
        id: c.id,
        threads,
        ms: time / rounds,
        warmup_ms: warmup,
      });
      const key = String(threads);
      if ((reply.us as number) < (best[key] ?? Number.POSITIVE_INFINITY)) {
        best[key] = reply.us as number;
        faults[key] = reply.faults_per_call as number;
      }
    }
  }
  const torchTimes = Object.fromEntries(THREADS.map((k) => [String(k), best[String(k)]]));
  return {
    id: c.id,
    name: c.name,
    ours: best.ours,
    torch: torchTimes,
    torchFaults: faults,
    maxDiffPrev,
    maxDiffX0,
  };
}

export interface TorchBenchOptions {
  /** Milliseconds of measurement per task and case, over all rounds (default 1000). */
  time?: number;
  /** Interleaved rounds per case (default 5, as `npm run bench`); the least round median is kept. */
  rounds?: number;
  /** A Python with torch (default $DDIM_TORCH_PYTHON, else /usr/bin/python3). */
  python?: string;
  /**
   * Leave glibc's malloc thresholds alone in the Python process. By default the script keeps
   * freed memory in its heap, so torch's temporaries do not come back as fresh, faulting pages
   * (torch at its best; see keep_heap_memory in torch_ddim_step.py).
   */
  defaultMalloc?: boolean;
}

export async function run(options: TorchBenchOptions = {}): Promise<TorchBenchResult> {
  const time = options.time ?? 1000;
  const rounds = options.rounds ?? 5;
  const python = options.python ?? process.env.DDIM_TORCH_PYTHON ?? '/usr/bin/python3';
  const loadBefore = loadavg();
  const torch = new TorchProcess(python, options.defaultMalloc === true);
  const dir = mkdtempSync(join(tmpdir(), 'ddim-torch-bench-'));
  try {
    const { ok: _ok, ...info } = await torch.request({ op: 'hello' });
    const rows: TorchRow[] = [];
    for (const c of CASES) rows.push(await benchCase(torch, c, time, rounds, dir));
    return {
      rounds,
      ...machine(),
      loadBefore,
      loadAfter: loadavg(),
      python: info,
      rows,
    };
  } finally {
    torch.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function us(v: number): string {
  return v < 100 ? v.toFixed(1) : v.toFixed(0);
}

export function format(result: TorchBenchResult): string {
  const py = result.python;
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(' ');
  const lines = [
    `DDIM step beside a torch transcription of diffusers' step (cli/src/bench/torch_ddim_step.py), one run.`,
    `node ${result.node}; python ${py.python} (${py.executable}), torch ${py.torch}, default torch threads ${py.default_threads}, ${py.parallel}, mallopt ${py.mallopt}`,
    `${result.cpu} (${result.cores} cores); load average ${load(result.loadBefore)} before, ${load(result.loadAfter)} after.`,
    `Microseconds per step, least of ${result.rounds} interleaved round medians; ours is single-threaded.`,
    '',
    '| case | ours | torch 1 thread | torch 2 threads | ours / torch 1t | ours / torch 2t | aim | max diff prev / x0 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  const verdicts: string[] = [];
  for (const r of result.rows) {
    const r1 = r.ours / r.torch['1'];
    const r2 = r.ours / r.torch['2'];
    const aim = AIMS[r.id];
    lines.push(
      `| ${r.name} | ${us(r.ours)} | ${us(r.torch['1'])} | ${us(r.torch['2'])} | ${r1.toFixed(3)} | ${r2.toFixed(3)} | ${aim === undefined ? '' : `<= ${aim}`} | ${r.maxDiffPrev.toExponential(1)} / ${r.maxDiffX0.toExponential(1)} |`,
    );
    if (aim !== undefined) {
      const met = Math.max(r1, r2) <= aim;
      verdicts.push(
        `${r.name}: aim ours / torch <= ${aim} ${met ? 'met' : 'NOT met'} (${r1.toFixed(3)}, ${r2.toFixed(3)})`,
      );
    }
    if (Math.max(r.maxDiffPrev, r.maxDiffX0) > TOLERANCE) {
      verdicts.push(
        `${r.name}: outputs differ by more than ${TOLERANCE}: the timings compare different work`,
      );
    }
  }
  const faults = result.rows.map(
    (r) => `${r.id} ${THREADS.map((k) => (r.torchFaults[String(k)] ?? Number.NaN).toFixed(0)).join(' / ')}`,
  );
  lines.push('', `torch page faults per step (1 / 2 threads): ${faults.join(', ')}`, '', ...verdicts);
  return lines.join('\n');
}

function parseArgs(argv: readonly string[]): TorchBenchOptions & { json: boolean } {
  const options: TorchBenchOptions & { json: boolean } = { json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') options.json = true;
    else if (arg === '--time') {
      const time = Number(argv[++i]);
      if (!Number.isFinite(time) || time <= 0) throw new Error(`--time must be a positive number of ms`);
      options.time = time;
    } else if (arg === '--rounds') {
      const rounds = Number(argv[++i]);
      if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be a positive integer');
      options.rounds = rounds;
    } else if (arg === '--python') options.python = argv[++i];
    else if (arg === '--default-malloc') options.defaultMalloc = true;
    else {
      throw new Error(
        `unknown argument ${arg}; usage: torch.js [--time ms] [--rounds n] [--python path] [--default-malloc] [--json]`,
      );
    }
  }
  return options;
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const main = async () => {
    const { json, ...options } = parseArgs(process.argv.slice(2));
    const result = await run(options);
    console.log(json ? JSON.stringify(result, null, 2) : format(result));
    // Outputs that differ make the ratios meaningless: fail like a broken run.
    if (result.rows.some((r) => Math.max(r.maxDiffPrev, r.maxDiffX0) > TOLERANCE)) process.exitCode = 1;
  };
  main().catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof TorchError || (error as { code?: string }).code === 'ENOENT') {
      console.error(
        `${message}\nThis benchmark needs a Python with PyTorch: Debian's python3-torch in /usr/bin/python3 ` +
          '(apt-get install python3-torch), or another one given by $DDIM_TORCH_PYTHON or --python.',
      );
    } else {
      console.error(message);
    }
    process.exitCode = 1;
  });
}
