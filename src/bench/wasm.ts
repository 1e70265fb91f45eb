/**
 * The WebAssembly kernels (src/wasm/) beside the JS path and PyTorch, in one run (issue 17,
 * phase 1: the kernels are not yet wired into `scheduler.step` and `Generator`, so the step rows
 * time the kernel calls and project the step from them):
 *
 *   npm run bench:wasm          (= npm run build && node dist/bench/wasm.js)
 *   node dist/bench/wasm.js [--time <ms per task and case>] [--rounds <n>] [--python <path>] [--no-torch] [--json]
 *
 * - bandwidth: this machine's memory bandwidth seen from WebAssembly (memory.copy, STREAM's triad
 *   and a read-only sum, 128-bit SIMD, one thread), in L2 and in DRAM: the bound of any step on
 *   tensors that do not fit the caches;
 * - randn: torch.randn of 2^14 (SD latents) and 2^20 values per dtype: the JS path, the kernels
 *   writing to a caller's array (through a staging slot) and into kernel memory, torch;
 * - float16: float32 <-> float16 array conversion, the same way;
 * - step: the cases of `npm run bench:torch`. JS: the whole `scheduler.step` and its kernel
 *   (`ddimStepKernel`); wasm: `ddimStepKernelWasm` on the caller's arrays (copies), with the
 *   sample and outputs in kernel memory and the model output copied in (a sampling loop's own
 *   buffers), and with everything in kernel memory; for eta > 0 with a generator, the noise draw
 *   (`fillRandnWasm` into kernel memory) is timed with it. The projected step is the kernel plus
 *   the JS step's own overhead (its time less its kernel's). torch: bench/torch_ddim_step.py.
 *
 * Rounds interleave every task, ours and torch's (1 thread), and each keeps the least of its round
 * medians, as `npm run bench:torch` does. Node-only (child_process, fs).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DDIMScheduler, Generator, SCHEDULER_PRESETS, stepCoefficients } from '../index.js';
import { ddimStepKernel, type StepKernelArgs, thresholdPrecision, x0BoundFor } from '../step.js';
import { type DType, float16Table, numberToFloat16, type TensorData } from '../tensor.js';
import { activeKernels } from '../wasm/backend.js';
import { convertIntoWasm } from '../wasm/float16.js';
import { compiledModule, KernelInstance } from '../wasm/instance.js';
import { fillRandnWasm, type NoiseArray } from '../wasm/noise.js';
import { ddimStepKernelWasm, type StepLanes } from '../wasm/step.js';
import { WASM_BASE64 as BANDWIDTH_BASE64 } from './bandwidth.generated.js';
import { machine } from './machine.js';
import { bufferSet, maxAbsDiff, STEPS, type StepCase, timingRound } from './step.js';

const STEP_SCRIPT = fileURLToPath(new URL('../../bench/torch_ddim_step.py', import.meta.url));
const KERNEL_SCRIPT = fileURLToPath(new URL('../../bench/torch_kernels.py', import.meta.url));

type Reply = Record<string, unknown> & { ok: boolean; error?: string; missing?: string };

class TorchError extends Error {}

/** A Python script's --serve side: one JSON request line in, one reply line out. */
class JsonLines {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: AsyncIterator<string>;

  constructor(python: string, script: string) {
    this.child = spawn(python, [script, '--serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    this.child.on('error', () => {});
    this.child.stdin.on('error', () => {});
    this.lines = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async request(message: Record<string, unknown>): Promise<Reply> {
    if (this.child.stdin.writable) this.child.stdin.write(`${JSON.stringify(message)}\n`);
    const next = await this.lines.next();
    if (next.done) throw new TorchError('the Python process ended without a reply (is torch installed?)');
    const reply = JSON.parse(next.value) as Reply;
    if (!reply.ok) throw new TorchError(`${String(message.op)} failed on the Python side: ${reply.error}`);
    return reply;
  }

  close(): void {
    if (this.child.stdin.writable) this.child.stdin.end(`${JSON.stringify({ op: 'quit' })}\n`);
  }
}

export interface Row {
  name: string;
  /** Microseconds per call, least round median, by task. */
  us: Record<string, number>;
  /** Extra figures (GB/s, max differences, projections), by label. */
  notes?: Record<string, number | string>;
}

export interface WasmBenchResult {
  node: string;
  cpu: string;
  cores: number;
  rounds: number;
  loadBefore: number[];
  loadAfter: number[];
  torch: Record<string, unknown> | null;
  bandwidth: Row[];
  randn: Row[];
  float16: Row[];
  step: Row[];
}

interface Options {
  time: number;
  rounds: number;
  python: string;
  torch: boolean;
}

/** A timing task of ours (a closure) or torch's (a request to one of the Python processes). */
type Task = { ours: () => void } | { torch: JsonLines; request: Record<string, unknown> };

/** Interleaved rounds over every task; the least round median of each, in microseconds. */
async function measure(tasks: Record<string, Task>, o: Options): Promise<Record<string, number>> {
  const best: Record<string, number> = {};
  const ours: Record<string, () => void> = {};
  for (const [name, t] of Object.entries(tasks)) if ('ours' in t) ours[name] = t.ours;
  for (let r = 0; r < o.rounds; r++) {
    const warmup = r === 0 ? o.time / 5 : 0;
    const medians = await timingRound(o.time / o.rounds, warmup, ours);
    for (const [name, us] of Object.entries(medians)) best[name] = Math.min(best[name] ?? Infinity, us);
    for (const [name, t] of Object.entries(tasks)) {
      if ('ours' in t) continue;
      const reply = await t.torch.request({
        ...t.request,
        op: 'time',
        threads: 1,
        ms: o.time / o.rounds,
        warmup_ms: warmup,
      });
      best[name] = Math.min(best[name] ?? Infinity, reply.us as number);
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// Memory bandwidth

interface Bandwidth {
  memory: WebAssembly.Memory;
  copy(dst: number, src: number, n: number): void;
  triad(a: number, b: number, c: number, n: number, s: number): void;
  sum(a: number, n: number): number;
  heapBase(): number;
}

function bandwidthModule(): Bandwidth {
  const text = atob(BANDWIDTH_BASE64);
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as Bandwidth;
}

async function bandwidth(o: Options): Promise<Row[]> {
  const rows: Row[] = [];
  // 1 MiB arrays stay in this core's L2 (2 MiB); 2.25 MiB ones are the video step's (1x16x4x96x96
  // float32: the step streams four of them, through the last-level cache); 256 MiB ones stream
  // from DRAM.
  for (const mib of [1, 2.25, 256]) {
    const bw = bandwidthModule();
    const bytes = mib * 2 ** 20;
    const base = Math.ceil(bw.heapBase() / 4096) * 4096;
    bw.memory.grow(Math.ceil((base + 3 * bytes) / 65536) - bw.memory.buffer.byteLength / 65536);
    new Float32Array(bw.memory.buffer, base, (3 * bytes) / 4).fill(1);
    const [a, b, c] = [base, base + bytes, base + 2 * bytes];
    const n = bytes / 4;
    const us = await measure(
      {
        copy: { ours: () => bw.copy(a, b, bytes) },
        triad: { ours: () => bw.triad(a, b, c, n, 0.5) },
        read: { ours: () => bw.sum(b, n) },
      },
      { ...o, time: Math.max(o.time, 500) },
    );
    // Bytes moved per call (writes counted once, as STREAM does; write-allocate reads not counted).
    const gbs = (moved: number, t: number) => Number((moved / (t * 1e3)).toFixed(1));
    rows.push({
      name: `${mib} MiB per array`,
      us,
      notes: {
        'copy GB/s': gbs(2 * bytes, us.copy),
        'triad GB/s': gbs(3 * bytes, us.triad),
        'read GB/s': gbs(bytes, us.read),
      },
    });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// randn and float16

function arrayOf(dtype: DType, n: number): NoiseArray {
  return dtype === 'float32'
    ? new Float32Array(n)
    : dtype === 'float64'
      ? new Float64Array(n)
      : new Uint16Array(n);
}

function jsFill(g: Generator, out: NoiseArray, dtype: DType): void {
  if (dtype === 'float32') g.fillRandn(out as Float32Array);
  else if (dtype === 'float64') g.fillRandnFloat64(out as Float64Array);
  else g.fillRandnFloat16(out as Uint16Array);
}

async function randn(k: KernelInstance, torch: JsonLines | null, o: Options): Promise<Row[]> {
  const rows: Row[] = [];
  for (const dtype of ['float32', 'float16', 'float64'] as const) {
    for (const n of [2 ** 14, 2 ** 20]) {
      const arena = new KernelInstance(compiledModule() as WebAssembly.Module);
      arena.reserve(n * 8 + 64);
      const resident = arena.allocate(dtype, n);
      const out = arrayOf(dtype, n);
      const g = new Generator().manualSeed(1234);
      const tasks: Record<string, Task> = {
        js: { ours: () => jsFill(g, out, dtype) },
        wasm: { ours: () => fillRandnWasm(k, g, out, dtype, 0, n) },
        'wasm, into kernel memory': { ours: () => fillRandnWasm(arena, g, resident, dtype, 0, n) },
      };
      if (torch !== null) tasks.torch = { torch, request: { what: 'randn', n, dtype } };
      const us = await measure(tasks, o);
      rows.push({ name: `${dtype} x ${n}`, us });
    }
  }
  return rows;
}

async function float16(k: KernelInstance, torch: JsonLines | null, o: Options): Promise<Row[]> {
  const rows: Row[] = [];
  const table = float16Table();
  for (const n of [2 ** 14, 2 ** 20]) {
    const src = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 4);
    const half = Uint16Array.from(src, numberToFloat16);
    const back = new Float32Array(n);
    const out = new Uint16Array(n);
    const encode: Record<string, Task> = {
      js: {
        ours: () => {
          for (let i = 0; i < n; i++) out[i] = numberToFloat16(src[i]);
        },
      },
      wasm: { ours: () => convertIntoWasm(k, src, 'float32', out, 'float16') },
    };
    if (torch !== null)
      encode.torch = { torch, request: { what: 'convert', n, from: 'float32', to: 'float16' } };
    rows.push({ name: `float32 -> float16 x ${n}`, us: await measure(encode, o) });
    const decode: Record<string, Task> = {
      js: {
        ours: () => {
          for (let i = 0; i < n; i++) back[i] = table[half[i]];
        },
      },
      wasm: { ours: () => convertIntoWasm(k, half, 'float16', back, 'float32') },
    };
    if (torch !== null)
      decode.torch = { torch, request: { what: 'convert', n, from: 'float16', to: 'float32' } };
    rows.push({ name: `float16 -> float32 x ${n}`, us: await measure(decode, o) });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// The step

const STEP_CASES: (StepCase & { id: string })[] = [
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
  {
    id: 'sd-half',
    name: 'SD 1x4x64x64 float16 in and out, eta 0',
    dims: [1, 4, 64, 64],
    eta: 0,
    thresholding: false,
    half: true,
  },
];

/** The kernel arguments the scheduler builds for one buffer set (`runKernel` of src/scheduler.ts). */
function kernelArgs(
  s: DDIMScheduler,
  t: number,
  c: StepCase,
  data: { x: TensorData; m: TensorData; z: TensorData | null; prev: TensorData; x0: TensorData },
): StepKernelArgs {
  const prevT = s.previousTimestep(t);
  const aT = s.alphaBarAt(t);
  const aPrev = s.alphaBarAt(prevT);
  const variance = c.eta > 0 ? s.getVariance(t, prevT) : 0;
  const type: DType = c.half === true ? 'float16' : 'float32';
  const per = data.x.length / c.dims[0];
  return {
    coefficients: stepCoefficients(s.config.prediction_type, aT, aPrev, c.eta, variance),
    bound: x0BoundFor(s.config),
    useClippedModelOutput: false,
    batch: c.dims[0],
    sample: data.x,
    sampleType: type,
    modelOutput: data.m,
    modelOutputType: type,
    noise: data.z,
    noiseType: type,
    prevSample: data.prev,
    predOriginalSample: data.x0,
    outType: type,
    scratch: c.thresholding
      ? thresholdPrecision(type, type) === 'float64'
        ? new Float64Array(per)
        : new Float32Array(per)
      : undefined,
  };
}

async function stepRows(k: KernelInstance, torch: JsonLines | null, o: Options, dir: string): Promise<Row[]> {
  const rows: Row[] = [];
  for (const c of STEP_CASES) {
    const s = new DDIMScheduler({
      ...SCHEDULER_PRESETS.sd.config,
      thresholding: c.thresholding,
    }).setTimesteps(STEPS);
    const t = s.timesteps[STEPS >> 1];
    const seeds = [1, 11];
    const sets = seeds.map((seed) => bufferSet(c, s.alphaBarAt(t), seed));
    const n = sets[0].x.length;
    const type: DType = c.half === true ? 'float16' : 'float32';
    const asType = (f: Float32Array): TensorData =>
      c.half === true ? Uint16Array.from(f, numberToFloat16) : f;
    // The JS kernel's and the wasm kernels' arguments, per buffer set. For eta > 0 with a
    // generator the noise is drawn every step (into a buffer of the scheduler for the JS path,
    // into kernel memory for wasm); with eta = 0 there is none.
    const generators = seeds.map((seed) => new Generator().manualSeed(seed));
    const draws = c.eta > 0 && c.generator === true;
    const jsNoise = sets.map(() =>
      draws ? (type === 'float16' ? new Uint16Array(n) : new Float32Array(n)) : null,
    );
    const jsArgs = sets.map((b, i) =>
      kernelArgs(s, t, c, {
        x: asType(b.x),
        m: asType(b.m),
        z: jsNoise[i],
        prev: type === 'float16' ? new Uint16Array(n) : new Float32Array(n),
        x0: type === 'float16' ? new Uint16Array(n) : new Float32Array(n),
      }),
    );
    // Copies: the caller's arrays (the same inputs as the JS path's); noise in the shared instance's staging.
    const shared = new KernelInstance(compiledModule() as WebAssembly.Module);
    const size = type === 'float16' ? 2 : 4;
    shared.reserve(4 * (n * size + 64) + n * 8 + 64);
    shared.scratch(n * 8);
    const sharedNoise = sets.map(() => (draws ? shared.allocate(type, n) : null));
    const copyArgs = sets.map((_, i) =>
      kernelArgs(s, t, c, {
        x: jsArgs[i].sample,
        m: jsArgs[i].modelOutput,
        z: sharedNoise[i],
        prev: type === 'float16' ? new Uint16Array(n) : new Float32Array(n),
        x0: type === 'float16' ? new Uint16Array(n) : new Float32Array(n),
      }),
    );
    // A sampling loop's own buffers: sample and outputs in kernel memory, the model output copied in.
    const loop = new KernelInstance(compiledModule() as WebAssembly.Module);
    loop.reserve(2 * 4 * (n * size + 64) + n * 8 + 64);
    loop.scratch(n * 8);
    const inLoop = (data: TensorData) => {
      const a = loop.allocate(type, n);
      a.set(data as never);
      return a;
    };
    const loopArgs = sets.map((_, i) =>
      kernelArgs(s, t, c, {
        x: inLoop(jsArgs[i].sample),
        m: jsArgs[i].modelOutput,
        z: draws ? loop.allocate(type, n) : null,
        prev: loop.allocate(type, n),
        x0: loop.allocate(type, n),
      }),
    );
    // Everything in kernel memory.
    const all = new KernelInstance(compiledModule() as WebAssembly.Module);
    all.reserve(2 * 5 * (n * size + 64) + n * 8 + 64);
    all.scratch(n * 8);
    const inAll = (data: TensorData) => {
      const a = all.allocate(type, n);
      a.set(data as never);
      return a;
    };
    const allArgs = sets.map((_, i) =>
      kernelArgs(s, t, c, {
        x: inAll(jsArgs[i].sample),
        m: inAll(jsArgs[i].modelOutput),
        z: draws ? all.allocate(type, n) : null,
        prev: all.allocate(type, n),
        x0: all.allocate(type, n),
      }),
    );

    const draw = (inst: KernelInstance, a: StepKernelArgs, i: number) => {
      if (draws) fillRandnWasm(inst, generators[i], a.noise as NoiseArray, type, 0, n);
    };
    let turn = 0;
    const next = () => {
      turn ^= 1;
      return turn;
    };
    const wasmTask = (inst: KernelInstance, args: StepKernelArgs[], lanes: StepLanes) => () => {
      const i = next();
      draw(inst, args[i], i);
      ddimStepKernelWasm(inst, args[i], lanes);
    };
    const tasks: Record<string, Task> = {
      'js step': {
        ours: () => {
          const b = sets[next()];
          s.step(b.model, t, b.sample, b.options);
        },
      },
      'js kernel': {
        ours: () => {
          const i = next();
          if (draws) jsFill(generators[i], jsArgs[i].noise as NoiseArray, type);
          ddimStepKernel(jsArgs[i]);
        },
      },
      'wasm copies': { ours: wasmTask(k, copyArgs, 'auto') },
      'wasm loop buffers': { ours: wasmTask(loop, loopArgs, 'auto') },
      'wasm resident': { ours: wasmTask(all, allArgs, 'auto') },
      'wasm copies, f64 lanes': { ours: wasmTask(k, copyArgs, 'float64') },
    };
    // The copies rows use the shared instance of the library for the kernel; their noise lives in
    // `shared` (drawn there, then read through the copy path like any caller array).
    if (draws) {
      tasks['wasm copies'] = {
        ours: () => {
          const i = next();
          fillRandnWasm(shared, generators[i], copyArgs[i].noise as NoiseArray, type, 0, n);
          ddimStepKernelWasm(k, copyArgs[i], 'auto');
        },
      };
      tasks['wasm copies, f64 lanes'] = {
        ours: () => {
          const i = next();
          fillRandnWasm(shared, generators[i], copyArgs[i].noise as NoiseArray, type, 0, n);
          ddimStepKernelWasm(k, copyArgs[i], 'float64');
        },
      };
    }
    const notes: Record<string, number | string> = {};
    if (torch !== null && c.half !== true) {
      const file = (what: string, i: number) => join(dir, `${c.id}-${what}-${i}.f32`);
      const write = (path: string, data: Float32Array) => {
        writeFileSync(path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
        return path;
      };
      const loaded = await torch.request({
        op: 'load',
        case: {
          id: c.id,
          dims: c.dims,
          eta: c.eta,
          thresholding: c.thresholding,
          generator: c.generator === true,
        },
        samples: sets.map((b, i) => write(file('sample', i), b.x)),
        models: sets.map((b, i) => write(file('model', i), b.m)),
        seeds,
      });
      if (loaded.timestep !== t)
        throw new TorchError(`timestep mismatch: ours ${t}, torch ${loaded.timestep}`);
      tasks.torch = { torch, request: { id: c.id } };
    }
    // Same work: the wasm kernels' outputs against the JS kernel's, from fresh generators.
    for (const [label, inst, args] of [
      ['copies', k, copyArgs],
      ['loop buffers', loop, loopArgs],
    ] as const) {
      const g = new Generator().manualSeed(seeds[0]);
      const gj = new Generator().manualSeed(seeds[0]);
      if (draws) {
        fillRandnWasm(label === 'copies' ? shared : inst, g, args[0].noise as NoiseArray, type, 0, n);
        jsFill(gj, jsArgs[0].noise as NoiseArray, type);
      }
      ddimStepKernelWasm(inst, args[0], 'auto');
      ddimStepKernel(jsArgs[0]);
      const f = (d: TensorData) =>
        type === 'float16' ? Float32Array.from(d, (h) => float16Table()[h]) : (d as Float32Array);
      notes[`max |wasm ${label} - js| prev`] = maxAbsDiff(
        f(args[0].prevSample),
        f(jsArgs[0].prevSample),
      ).toExponential(1);
    }
    const us = await measure(tasks, o);
    const overhead = Math.max(0, us['js step'] - us['js kernel']);
    notes['js step overhead us'] = Number(overhead.toFixed(1));
    for (const task of ['wasm copies', 'wasm loop buffers', 'wasm resident']) {
      notes[`projected step, ${task}`] = Number((us[task] + overhead).toFixed(1));
      if (us.torch !== undefined)
        notes[`projected / torch, ${task}`] = Number(((us[task] + overhead) / us.torch).toFixed(3));
    }
    rows.push({ name: c.name, us, notes });
  }
  return rows;
}

export async function run(options: Partial<Options> = {}): Promise<WasmBenchResult> {
  const o: Options = {
    time: options.time ?? 1000,
    rounds: options.rounds ?? 5,
    python: options.python ?? process.env.DDIM_TORCH_PYTHON ?? '/usr/bin/python3',
    torch: options.torch ?? true,
  };
  const k = activeKernels();
  if (k === null) throw new Error('the WebAssembly kernels cannot run here');
  const loadBefore = loadavg();
  const kernels = o.torch ? new JsonLines(o.python, KERNEL_SCRIPT) : null;
  const steps = o.torch ? new JsonLines(o.python, STEP_SCRIPT) : null;
  const dir = mkdtempSync(join(tmpdir(), 'ddim-wasm-bench-'));
  try {
    const info = kernels === null ? null : await kernels.request({ op: 'hello' });
    if (steps !== null) await steps.request({ op: 'hello' });
    const bw = await bandwidth(o);
    const rn = await randn(k, kernels, o);
    const f16 = await float16(k, kernels, o);
    const st = await stepRows(k, steps, o, dir);
    return {
      ...machine(),
      rounds: o.rounds,
      loadBefore,
      loadAfter: loadavg(),
      torch: info,
      bandwidth: bw,
      randn: rn,
      float16: f16,
      step: st,
    };
  } finally {
    kernels?.close();
    steps?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function us(v: number | undefined): string {
  if (v === undefined) return '';
  return v < 100 ? v.toFixed(1) : v.toFixed(0);
}

function table(title: string, rows: Row[], ratios: [string, string][]): string[] {
  const tasks = [...new Set(rows.flatMap((r) => Object.keys(r.us)))];
  const noteKeys = [...new Set(rows.flatMap((r) => Object.keys(r.notes ?? {})))];
  const head = ['', ...tasks.map((t) => `${t} (us)`), ...ratios.map(([a, b]) => `${a} / ${b}`), ...noteKeys];
  const lines = [`### ${title}`, '', `| ${head.join(' | ')} |`, `|${head.map(() => ' --- |').join('')}`];
  for (const r of rows) {
    const cells = [
      r.name,
      ...tasks.map((t) => us(r.us[t])),
      ...ratios.map(([a, b]) =>
        r.us[a] !== undefined && r.us[b] !== undefined ? (r.us[a] / r.us[b]).toFixed(3) : '',
      ),
      ...noteKeys.map((key) => String(r.notes?.[key] ?? '')),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push('');
  return lines;
}

export function format(r: WasmBenchResult): string {
  const load = (l: number[]) => l.map((v) => v.toFixed(2)).join(' ');
  const t = r.torch;
  return [
    'WebAssembly kernels beside the JS path and torch (1 thread), one run.',
    `node ${r.node}; ${r.cpu} (${r.cores} cores); load average ${load(r.loadBefore)} before, ${load(r.loadAfter)} after.`,
    t === null
      ? 'torch: not run (--no-torch).'
      : `torch ${t.torch} (python ${t.python}, ${t.executable}), capability ${t.cpu_capability}.`,
    `Microseconds per call, least of ${r.rounds} interleaved round medians.`,
    '',
    ...table('Memory bandwidth (WebAssembly, 128-bit SIMD, one thread)', r.bandwidth, []),
    ...table('randn', r.randn, [
      ['wasm', 'js'],
      ['wasm', 'torch'],
      ['wasm, into kernel memory', 'torch'],
    ]),
    ...table('float16 conversion', r.float16, [
      ['wasm', 'js'],
      ['wasm', 'torch'],
    ]),
    ...table('step (kernels; projected steps in the notes)', r.step, [
      ['wasm copies', 'js kernel'],
      ['wasm loop buffers', 'js kernel'],
      ['js step', 'torch'],
    ]),
  ].join('\n');
}

function parseArgs(argv: readonly string[]): Partial<Options> & { json: boolean } {
  const o: Partial<Options> & { json: boolean } = { json: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--json') o.json = true;
    else if (arg === '--no-torch') o.torch = false;
    else if (arg === '--time') o.time = Number(argv[++i]);
    else if (arg === '--rounds') o.rounds = Number(argv[++i]);
    else if (arg === '--python') o.python = argv[++i];
    else
      throw new Error(
        `unknown argument ${arg}; usage: wasm.js [--time ms] [--rounds n] [--python path] [--no-torch] [--json]`,
      );
  }
  if (o.time !== undefined && !(o.time > 0)) throw new Error('--time must be a positive number of ms');
  if (o.rounds !== undefined && !(Number.isInteger(o.rounds) && o.rounds >= 1))
    throw new Error('--rounds must be a positive integer');
  return o;
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const { json, ...options } = parseArgs(process.argv.slice(2));
  run(options)
    .then((result) => console.log(json ? JSON.stringify(result, null, 2) : format(result)))
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : String(error));
      if (error instanceof TorchError) {
        console.error(
          'This benchmark needs a Python with PyTorch (apt-get install python3-torch), or --no-torch.',
        );
      }
      process.exitCode = 1;
    });
}
