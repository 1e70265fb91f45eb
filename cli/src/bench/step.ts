/**
 * Step benchmark (issues 7 and 17): our fused `scheduler.step` with `out` buffers on both kernel
 * backends (WebAssembly SIMD, the default, and the JavaScript reference), beside (a) the limit loop
 * (only the eta = 0 arithmetic, one JavaScript pass) and (b) an unfused port of diffusers' step;
 * the thresholding quantile by selection beside sorting; heap use over 10,000 steps on each
 * backend. Ratios are taken within one run, tasks interleaved in rounds, so machine noise affects
 * all sides alike.
 *
 * Node-only (os, child_process for the heap figures, see step-heap.ts).
 */

import {
  DDIMScheduler,
  Generator,
  type KernelBackend,
  numberToFloat16,
  quantileInPlace,
  randnTensor,
  SCHEDULER_PRESETS,
  setKernelBackend,
  stepCoefficients,
  toFloat64,
} from 'ddim';
import { Bench } from 'tinybench';
import { machine } from './machine.js';
import { type HeapReport, measureStepHeap } from './step-heap.js';
import { limitLoop, sortQuantile, unfusedStep } from './unfused.js';

export interface StepCase {
  name: string;
  dims: number[];
  eta: number;
  thresholding: boolean;
  /** float16 tensors for ours (the baselines stay float32). */
  half?: boolean;
  /** eta > 0 noise drawn inside the step from a seeded Generator (else the given varianceNoise). */
  generator?: boolean;
}

const CASES: StepCase[] = [
  { name: 'SD 1x4x64x64, eta 0', dims: [1, 4, 64, 64], eta: 0, thresholding: false },
  { name: 'SDXL 1x4x128x128, eta 0', dims: [1, 4, 128, 128], eta: 0, thresholding: false },
  {
    name: 'SD 1x4x64x64, eta 1, generator',
    dims: [1, 4, 64, 64],
    eta: 1,
    thresholding: false,
    generator: true,
  },
  { name: 'SD 1x4x64x64, eta 1, varianceNoise', dims: [1, 4, 64, 64], eta: 1, thresholding: false },
  { name: 'SD 1x4x64x64, thresholding', dims: [1, 4, 64, 64], eta: 0, thresholding: true },
  { name: 'video 1x16x4x96x96, eta 0', dims: [1, 16, 4, 96, 96], eta: 0, thresholding: false },
  { name: 'SD 1x4x64x64 float16, eta 0 (*)', dims: [1, 4, 64, 64], eta: 0, thresholding: false, half: true },
];

export const STEPS = 50;

/** Seeded standard normals (the library's generator): the benchmarks' data. */
export function gaussian(n: number, seed: number): Float32Array {
  return randnTensor([n], { generator: new Generator().manualSeed(seed) }).data;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

/**
 * Time per call of each task in microseconds: the median of each task's samples in a round, then
 * the least such median over the rounds. Rounds interleave the tasks, and other processes only
 * ever add time, so the least round median is the steadiest estimate on a shared machine.
 */
async function timings(
  time: number,
  tasks: Record<string, Task>,
  rounds = 5,
): Promise<Record<string, number>> {
  const best: Record<string, number> = {};
  for (let r = 0; r < rounds; r++) {
    const medians = await timingRound(time / rounds, r === 0 ? time / 5 : 0, tasks);
    for (const [name, us] of Object.entries(medians)) {
      best[name] = Math.min(best[name] ?? Number.POSITIVE_INFINITY, us);
    }
  }
  return best;
}

/**
 * A timed call, or a call with the kernel backend it runs on (set before the task's calls, and
 * back to the default after the round).
 */
export type Task = (() => unknown) | { fn: () => unknown; backend: KernelBackend };

/** A task on `backend`. */
export function on(backend: KernelBackend, fn: () => unknown): Task {
  return { fn, backend };
}

/** One round of `timings`: each task's median microseconds per call over `time` ms (after a warm-up). */
export async function timingRound(
  time: number,
  warmupTime: number,
  tasks: Record<string, Task>,
  iterations?: number,
): Promise<Record<string, number>> {
  const bench = new Bench({
    time,
    warmupTime,
    throws: true,
    ...(iterations === undefined ? {} : { iterations }),
  });
  for (const [name, task] of Object.entries(tasks)) {
    if (typeof task === 'function') bench.add(name, task, { beforeAll: () => setKernelBackend('auto') });
    else bench.add(name, task.fn, { beforeAll: () => setKernelBackend(task.backend) });
  }
  try {
    await bench.run();
  } finally {
    setKernelBackend('auto');
  }
  const medians: Record<string, number> = {};
  for (const task of bench.tasks) {
    const res = task.result;
    if (res.state !== 'completed') throw new Error(`benchmark task ${task.name} ended ${res.state}`);
    medians[task.name] = res.latency.p50 * 1000;
  }
  return medians;
}

interface StepRow {
  name: string;
  /** scheduler.step on the WebAssembly kernels (the default backend). */
  ours: number;
  /** scheduler.step on the JavaScript kernels. */
  js: number;
  limit: number;
  unfused: number;
  /** Max |ours - unfused| (prevSample), and the same for the JS path. */
  maxDiff: number;
  maxDiffJs: number;
}

/**
 * Inputs as a sampler sees them: x = sqrt(a) x0 + sqrt(1 - a) eps from a plausible x0 (unit
 * Gaussian latents, or pixels in [-1, 1] for the thresholding case, which is a pixel-space
 * technique), and a model output that is eps up to a 10% error.
 */
function stepInputs(n: number, alphaProd: number, pixels: boolean, seed: number) {
  const x0 = gaussian(n, seed);
  if (pixels) for (let i = 0; i < n; i++) x0[i] = Math.tanh(x0[i]);
  const eps = gaussian(n, seed + 1);
  const err = gaussian(n, seed + 2);
  const sample = new Float32Array(n);
  const model = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    sample[i] = Math.sqrt(alphaProd) * x0[i] + Math.sqrt(1 - alphaProd) * eps[i];
    model[i] = eps[i] + 0.1 * err[i];
  }
  return { sample, model, noise: gaussian(n, seed + 3) };
}

/** One set of buffers for each task; two alternate, as a sampling loop's ping-pong buffers do. */
export function bufferSet(c: StepCase, alphaProd: number, seed: number) {
  const n = c.dims.reduce((a, b) => a * b, 1);
  const { sample, model, noise } = stepInputs(n, alphaProd, c.thresholding, seed);
  const tensorOf = (data: Float32Array) =>
    c.half
      ? { data: Uint16Array.from(data, numberToFloat16), dims: c.dims, type: 'float16' }
      : { data, dims: c.dims, type: 'float32' };
  const prev = tensorOf(new Float32Array(n));
  return {
    x: sample,
    m: model,
    z: noise,
    limitPrev: new Float32Array(n),
    limitX0: new Float32Array(n),
    sample: tensorOf(sample),
    model: tensorOf(model),
    prev,
    options: {
      eta: c.eta,
      varianceNoise: c.eta > 0 && c.generator !== true ? { data: noise, dims: c.dims } : null,
      generator: c.generator === true ? new Generator().manualSeed(seed) : null,
      out: { prevSample: prev, predOriginalSample: tensorOf(new Float32Array(n)) },
    },
    /** For the unfused port: diffusers' randn_tensor draws a fresh tensor every step. */
    generator: c.generator === true ? new Generator().manualSeed(seed) : null,
  };
}

async function benchCase(c: StepCase, time: number): Promise<StepRow> {
  const s = new DDIMScheduler({ ...SCHEDULER_PRESETS.sd.config, thresholding: c.thresholding }).setTimesteps(
    STEPS,
  );
  const t = s.timesteps[STEPS >> 1];
  const prevT = s.previousTimestep(t);
  // Every task reads its arrays from one of two sets chosen at run time: a closure over fixed
  // arrays lets V8 compile them in as constants, which makes a loop 3x faster than any real
  // caller (a library function, a sampling loop) can be.
  const sets = [bufferSet(c, s.alphaBarAt(t), 1), bufferSet(c, s.alphaBarAt(t), 11)];
  let turn = 0;
  const next = () => {
    turn ^= 1;
    return sets[turn];
  };
  // The limit loop's coefficients: DDIM eta = 0 folded into prev = c1 x + c2 m, x0 = c3 x + c4 m.
  const k = stepCoefficients('epsilon', s.alphaBarAt(t), s.alphaBarAt(prevT), 0, 0);
  const limit = Float64Array.of(
    k.sqrtAlphaProdPrev * k.x0FromSample + k.direction * k.epsFromSample,
    k.sqrtAlphaProdPrev * k.x0FromModel + k.direction * k.epsFromModel,
    k.x0FromSample,
    k.x0FromModel,
  );
  const unfusedConfig = {
    alphaProdT: s.alphaBarAt(t),
    alphaProdPrev: s.alphaBarAt(prevT),
    eta: c.eta,
    variance: s.getVariance(t, prevT),
    thresholding: c.thresholding,
    ratio: s.config.dynamic_thresholding_ratio,
    maxValue: s.config.sample_max_value,
    batch: c.dims[0],
  };
  // diffusers' randn_tensor: a new tensor per step, drawn on the generator.
  const unfusedNoise = (b: (typeof sets)[number]) => {
    if (b.generator === null) return b.z;
    const z = new Float32Array(b.z.length);
    randnTensor(c.dims, { generator: b.generator, out: { data: z, dims: c.dims } });
    return z;
  };
  // Sanity: the fused step (each backend) and the unfused port agree (float32 rounding apart).
  const diffOn = (backend: KernelBackend) => {
    const b = bufferSet(c, s.alphaBarAt(t), 1);
    setKernelBackend(backend);
    try {
      s.step(b.model, t, b.sample, b.options);
    } finally {
      setKernelBackend('auto');
    }
    const reference = unfusedStep(unfusedConfig, b.m, b.x, unfusedNoise(b));
    return maxAbsDiff(Float32Array.from(toFloat64(b.prev)), reference.prevSample);
  };
  const maxDiff = diffOn('wasm');
  const maxDiffJs = diffOn('js');
  const step = () => {
    const b = next();
    s.step(b.model, t, b.sample, b.options);
  };
  const times = await timings(time, {
    ours: on('wasm', step),
    js: on('js', step),
    limit: () => {
      const b = next();
      limitLoop(b.x, b.m, b.limitPrev, b.limitX0, limit[0], limit[1], limit[2], limit[3]);
    },
    unfused: () => {
      const b = next();
      unfusedStep(unfusedConfig, b.m, b.x, unfusedNoise(b));
    },
  });
  return {
    name: c.name,
    ours: times.ours,
    js: times.js,
    limit: times.limit,
    unfused: times.unfused,
    maxDiff,
    maxDiffJs,
  };
}

interface QuantileRow {
  n: number;
  select: number;
  sort: number;
}

async function benchQuantile(n: number, ratio: number, time: number): Promise<QuantileRow> {
  // |x0| of Gaussian latents, in a Float32Array as the step's thresholding keeps them.
  const source = gaussian(n, 4);
  for (let i = 0; i < n; i++) source[i] = Math.abs(source[i] * 1.7);
  const scratch = new Float32Array(n);
  const a = (() => {
    scratch.set(source);
    return quantileInPlace(scratch, n, ratio);
  })();
  const b = sortQuantile(source, 0, n, ratio);
  if (a !== b) throw new Error(`quantile mismatch at n=${n}: selection ${a}, sort ${b}`);
  const times = await timings(time, {
    select: () => {
      scratch.set(source);
      quantileInPlace(scratch, n, ratio);
    },
    sort: () => {
      sortQuantile(source, 0, n, ratio);
    },
  });
  return { n, select: times.select, sort: times.sort };
}

function us(v: number): string {
  return v < 100 ? v.toFixed(1) : v.toFixed(0);
}

export const name = 'step';

export interface StepBenchOptions {
  /** Milliseconds of measurement per task, over 5 interleaved rounds (default 1000). */
  time?: number;
}

export interface StepBenchResult {
  name: typeof name;
  node: string;
  cpu: string;
  cores: number;
  /** Per-step microseconds: ours (scheduler.step with out buffers, each backend), the limit loop, the unfused port. */
  steps: StepRow[];
  /** Microseconds for one quantile of |x0| at ratio 0.995: selection, and copy + sort + lerp. */
  quantile: QuantileRow[];
  /**
   * 10,000 and 30,000 steps with ping-pong out buffers (each in a child process without GC during
   * the steps), on each backend; the difference is the steady per-step allocation, without the
   * JIT's one-off share.
   */
  heap: Record<KernelBackend, HeapReport[]>;
}

export async function run(options: StepBenchOptions = {}): Promise<StepBenchResult> {
  const time = options.time ?? 1000;
  const steps: StepRow[] = [];
  for (const c of CASES) steps.push(await benchCase(c, time));
  const quantile: QuantileRow[] = [];
  for (const n of [16384, 65536]) quantile.push(await benchQuantile(n, 0.995, time));
  return {
    name,
    ...machine(),
    steps,
    quantile,
    heap: {
      wasm: [await measureStepHeap(10_000, 'wasm'), await measureStepHeap(30_000, 'wasm')],
      js: [await measureStepHeap(10_000, 'js'), await measureStepHeap(30_000, 'js')],
    },
  };
}

export function format(result: StepBenchResult): string {
  const lines = [
    `DDIM step, node ${result.node}, ${result.cpu} (${result.cores} cores); microseconds per step`,
    '(least of 5 interleaved round medians). wasm: scheduler.step on the WebAssembly SIMD kernels (the',
    'default), js: on the JavaScript ones; limit = one plain JavaScript pass doing only the eta = 0',
    'arithmetic; unfused = a port of diffusers’ step, one operation per pass.',
    '',
    '| case | wasm | js | limit | unfused | wasm / js | js / limit | wasm / unfused | max diff vs unfused (wasm, js) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of result.steps) {
    lines.push(
      `| ${r.name} | ${us(r.ours)} | ${us(r.js)} | ${us(r.limit)} | ${us(r.unfused)} | ${(r.ours / r.js).toFixed(3)} | ${(r.js / r.limit).toFixed(2)} | ${(r.ours / r.unfused).toFixed(3)} | ${r.maxDiff.toExponential(1)}, ${r.maxDiffJs.toExponential(1)} |`,
    );
  }
  lines.push('', '(*) float16 tensors in and out; the limit loop and the unfused port run on float32.', '');
  lines.push('| quantile of n values (ratio 0.995) | selection | sort | selection / sort |');
  lines.push('| ---: | ---: | ---: | ---: |');
  for (const r of result.quantile) {
    lines.push(`| ${r.n} | ${us(r.select)} | ${us(r.sort)} | ${(r.select / r.sort).toFixed(3)} |`);
  }
  lines.push('');
  lines.push(
    'Heap of whole 50-step SD loops (1x4x64x64, eta 0, ping-pong out buffers), no collection during the steps:',
    '',
    '| backend | steps | allocated bytes | collections | retained after full GC | sampled bytes per step |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
  );
  const steady: string[] = [];
  for (const backend of ['wasm', 'js'] as const) {
    const heap = result.heap[backend];
    for (const h of heap) {
      lines.push(
        `| ${backend} | ${h.steps} | ${h.allocatedBytes} | ${h.gcRuns} | ${h.retainedBytes} | ${(h.sampledBytes / h.steps).toFixed(1)} |`,
      );
    }
    const [h1, h2] = heap;
    steady.push(`${backend} ${((h2.allocatedBytes - h1.allocatedBytes) / (h2.steps - h1.steps)).toFixed(1)}`);
  }
  lines.push(
    '',
    `Steady allocation (heapUsed, 30,000 less 10,000 steps), bytes per step: ${steady.join(', ')}; the sampled`,
    "column counts the allocations of further steps directly (heapUsed also moves with the collector's own work).",
  );
  return lines.join('\n');
}
