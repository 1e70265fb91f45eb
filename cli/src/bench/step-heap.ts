/**
 * Heap use of a sampling loop built on `scheduler.step` with `out` buffers, measured in a child
 * process (`measureStepHeap` starts it) whose young generation is large enough that no garbage
 * collection runs during the measured steps: the growth of `heapUsed` is then exactly what the
 * steps allocated. Run directly (`node --expose-gc step-heap.js [steps] [wasm|js]`), it prints the
 * report as JSON.
 *
 * `heapUsed` also moves with the collector's own bookkeeping (concurrent sweeping, code the JIT
 * installs), by tens of bytes per step between processes on a loaded machine; so the steps are
 * then run again under V8's sampling heap profiler (every 16 bytes on average, objects the
 * collector has since freed included), whose total is a direct count of what they allocated.
 */

import { execFile } from 'node:child_process';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  DDIMScheduler,
  Generator,
  type KernelBackend,
  randnTensor,
  SCHEDULER_PRESETS,
  setKernelBackend,
} from 'ddim';

export interface HeapReport {
  steps: number;
  /** The kernel backend the steps ran on. */
  backend: KernelBackend;
  /** Garbage collections during the measured steps (0 makes `allocatedBytes` exact). */
  gcRuns: number;
  /** heapUsed after the steps minus before them. */
  allocatedBytes: number;
  /** heapUsed after a full collection at the end minus after one at the start. */
  retainedBytes: number;
  /** What the sampling heap profiler counted over another `steps` steps. */
  sampledBytes: number;
}

/** Bytes allocated while `run` runs, as V8's sampling heap profiler counts them. */
async function sampledAllocation(run: () => void): Promise<number> {
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.startSampling', {
      samplingInterval: 16,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    run();
    const { profile } = await session.post('HeapProfiler.stopSampling');
    let total = 0;
    const walk = (node: { selfSize: number; children: (typeof node)[] }) => {
      total += node.selfSize;
      for (const child of node.children) walk(child);
    };
    walk(profile.head);
    return total;
  } finally {
    session.disconnect();
  }
}

const DIMS = [1, 4, 64, 64];
const STEPS = 50;

/**
 * Whole 50-step Stable Diffusion loops (eta 0) from the same starting latents, x_t and x_{t-1}
 * in two ping-pong buffers, a fixed noise prediction standing in for the model.
 */
export async function heapOfSteps(steps: number, backend: KernelBackend = 'wasm'): Promise<HeapReport> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run node with --expose-gc');
  setKernelBackend(backend);
  const n = DIMS.reduce((a, b) => a * b, 1);
  const s = new DDIMScheduler(SCHEDULER_PRESETS.sd.config).setTimesteps(STEPS);
  const normals = (seed: number) => randnTensor(DIMS, { generator: new Generator().manualSeed(seed) }).data;
  const initial = normals(5);
  const a = { data: new Float32Array(n), dims: DIMS };
  const b = { data: new Float32Array(n), dims: DIMS };
  const model = { data: normals(6), dims: DIMS };
  const x0 = { data: new Float32Array(n), dims: DIMS };
  const intoB = { out: { prevSample: b, predOriginalSample: x0 } };
  const intoA = { out: { prevSample: a, predOriginalSample: x0 } };
  const timesteps = s.timesteps;
  const run = (count: number) => {
    for (let i = 0; i < count; i++) {
      const k = i % STEPS;
      if (k === 0) a.data.set(initial);
      s.step(model, timesteps[k], k % 2 === 0 ? a : b, k % 2 === 0 ? intoB : intoA);
    }
  };
  run(20 * STEPS); // let the JIT settle first
  let gcRuns = 0;
  const observer = new PerformanceObserver((list) => {
    gcRuns += list.getEntries().length;
  });
  observer.observe({ entryTypes: ['gc'] });
  gc();
  await new Promise((resolve) => setTimeout(resolve, 20));
  gcRuns = 0;
  const before = process.memoryUsage().heapUsed;
  run(steps);
  const after = process.memoryUsage().heapUsed;
  await new Promise((resolve) => setTimeout(resolve, 20));
  const gcDuringSteps = gcRuns;
  gc();
  const retained = process.memoryUsage().heapUsed;
  observer.disconnect();
  const sampledBytes = await sampledAllocation(() => run(steps));
  return {
    steps,
    backend,
    gcRuns: gcDuringSteps,
    allocatedBytes: after - before,
    retainedBytes: retained - before,
    sampledBytes,
  };
}

/** heapOfSteps in a child Node with --expose-gc and a 64 MB young generation. */
export function measureStepHeap(steps: number, backend: KernelBackend = 'wasm'): Promise<HeapReport> {
  const flags = ['--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64'];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [...flags, fileURLToPath(import.meta.url), String(steps), backend],
      (error, stdout) => {
        if (error) reject(error);
        else resolve(JSON.parse(stdout) as HeapReport);
      },
    );
  });
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  const backend = process.argv[3] ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'js') throw new Error(`backend must be wasm or js (got ${backend})`);
  heapOfSteps(Number(process.argv[2] ?? 10_000), backend).then(
    (report) => console.log(JSON.stringify(report)),
    (error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exitCode = 1;
    },
  );
}
