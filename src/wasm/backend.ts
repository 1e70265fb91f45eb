/**
 * Which implementation of the numeric kernels runs -- the WebAssembly SIMD kernels (`'wasm'`) or
 * the JavaScript ones (`'js'`, the reference the kernels are tested against, and the fallback) --
 * and which instance a call runs on.
 *
 * By default (`'auto'`) the kernels run wherever the engine has WebAssembly with 128-bit SIMD
 * (Node 20 and every evergreen browser), and the JS path elsewhere. `setKernelBackend('js')` forces
 * the JS path (the test suite runs both ways; a user can rule out the kernels when chasing a
 * difference); `setKernelBackend('wasm')` insists on the kernels and throws where they cannot run.
 *
 * Everything stays synchronous: the module compiles on first use. Only where the engine refuses
 * a synchronous compile (see instance.ts) does the JS path run until the asynchronous compile is
 * done; `await kernelsReady()` waits for that, and is never needed otherwise.
 */
import { ArgumentError, StateError } from '../errors.js';
import { readOptions } from '../guard.js';
import {
  compiledModule,
  instanceHolding,
  KernelInstance,
  moduleReady,
  unavailableReason,
} from './instance.js';

/** The kernels in effect: WebAssembly SIMD or the JavaScript reference. */
export type KernelBackend = 'wasm' | 'js';
/** What `setKernelBackend` takes: a backend, or `'auto'` (WebAssembly where the engine has it). */
export type KernelBackendChoice = KernelBackend | 'auto';

/**
 * The lanes the step runs float32 and float16 tensors in on the WebAssembly path. `'auto'`: four
 * float32 lanes (as torch's float32 tensors compute; within a stated bound of the JS path's
 * float64 arithmetic, see docs/performance.md); `'float64'`: two float64 lanes, bit for bit the JS
 * path, at about 40% of the speed. Steps with a float64 tensor always run in float64 lanes.
 */
export type StepLanes = 'auto' | 'float64';

/** Options of {@link setKernelBackend}. */
export interface KernelBackendOptions {
  /** The WebAssembly step's lanes for float32 / float16 tensors (default `'auto'`: float32 lanes). */
  stepLanes?: StepLanes;
}

const BACKENDS: readonly KernelBackendChoice[] = ['auto', 'wasm', 'js'];
const LANES: readonly StepLanes[] = ['auto', 'float64'];

let choice: KernelBackendChoice = 'auto';
let lanes: StepLanes = 'auto';
/** The shared instance: undefined until first asked for, null when the kernels cannot run (yet). */
let shared: KernelInstance | null | undefined;

/** The shared instance, creating it on first use; null when the kernels cannot run (yet). */
function sharedInstance(): KernelInstance | null {
  if (shared !== undefined && shared !== null) return shared;
  const module = compiledModule();
  if (module === null) return null;
  shared = new KernelInstance(module);
  return shared;
}

/**
 * The shared kernel instance, or null for the JS path. The check on every hot call: two variable
 * reads once the instance exists.
 */
export function activeKernels(): KernelInstance | null {
  if (choice === 'js') return null;
  return sharedInstance();
}

/**
 * The instance a call on `data` runs on -- the arena it lives in, else the shared instance -- or
 * null for the JS path. Arrays in other instances are copied like ordinary ones.
 */
export function kernelsFor(data: ArrayBufferView): KernelInstance | null {
  if (choice === 'js') return null;
  return instanceHolding(data) ?? sharedInstance();
}

/** The step's lanes for float32 / float16 tensors (see StepLanes). */
export function stepLanes(): StepLanes {
  return lanes;
}

/**
 * A new instance with room for `bytes` of arrays and a workspace of `workspaceBytes`, sealed (its
 * memory never grows, so arrays allocated in it stay valid while anyone holds them), or null on
 * the JS path.
 */
export function newArena(bytes: number, workspaceBytes: number): KernelInstance | null {
  if (choice === 'js') return null;
  const module = compiledModule();
  if (module === null) return null;
  const arena = new KernelInstance(module);
  arena.reserveAndSeal(bytes, workspaceBytes);
  return arena;
}

/**
 * The arena the last user released, held weakly: the garbage collector may take it (then the
 * next user makes a new one), but back-to-back users -- one sampling loop after another -- reuse
 * it instead of paying for a new instance and fresh memory (measured: 0.2 ms for SD latents,
 * several ms for video ones, mostly page faults).
 */
let idleArena: WeakRef<KernelInstance> | null = null;

/**
 * An arena for `bytes` of arrays and a workspace of `workspaceBytes` (see newArena): the released
 * one when it is big enough, rewound (its arrays hold what was left in them, not zeros), else a
 * new one; null on the JS path. Give it back with `releaseArena` when done.
 */
export function acquireArena(bytes: number, workspaceBytes: number): KernelInstance | null {
  if (choice === 'js') return null;
  const idle = idleArena?.deref();
  if (idle?.holds(bytes, workspaceBytes)) {
    idleArena = null;
    idle.rewind();
    return idle;
  }
  return newArena(bytes, workspaceBytes);
}

/** Hand an arena from acquireArena back, for the next user (the latest released one is kept). */
export function releaseArena(arena: KernelInstance): void {
  idleArena = new WeakRef(arena);
}

/**
 * Choose the numeric kernels: `'auto'` (the default: WebAssembly SIMD where the engine has it,
 * else JavaScript), `'wasm'` (throws a StateError where the kernels cannot run) or `'js'`.
 *
 * Both compute the same results: noise and float16 conversion bit for bit, the step bit for bit
 * in float64 lanes (`{ stepLanes: 'float64' }`, and whenever a tensor is float64) and within the
 * bound docs/performance.md states in float32 lanes (the default for float32 and float16 tensors).
 * Each call sets every option: omitted ones return to their defaults.
 *
 * ```ts
 * setKernelBackend('js'); // the JavaScript kernels, e.g. to rule the WebAssembly ones out
 * setKernelBackend('auto', { stepLanes: 'float64' }); // WebAssembly, bit for bit the JS path
 * ```
 */
export function setKernelBackend(backend: KernelBackendChoice, options?: KernelBackendOptions): void {
  if (!BACKENDS.includes(backend)) {
    throw new ArgumentError({
      field: 'backend',
      value: backend,
      problem: "must be 'auto', 'wasm' or 'js'",
      fix: "pass 'auto' (WebAssembly where the engine has it), 'wasm' or 'js'.",
    });
  }
  const wanted = readLanes(options);
  if (backend === 'wasm' && sharedInstance() === null) {
    const reason = unavailableReason();
    throw new StateError({
      field: 'backend',
      value: backend,
      problem:
        reason === null
          ? 'is not ready: this engine refused to compile the kernels synchronously, and the asynchronous compile has not finished'
          : `is not available: ${reason}`,
      fix:
        reason === null
          ? "await kernelsReady() first, or use 'auto'."
          : "use 'auto' or 'js' (the JavaScript kernels compute the same results).",
    });
  }
  choice = backend;
  lanes = wanted;
}

const OPTIONS_SPEC = {
  allowed: new Set(['stepLanes']),
  field: 'options',
  example: "{ stepLanes: 'float64' }",
  kind: 'an option of setKernelBackend',
};

function readLanes(options: KernelBackendOptions | undefined): StepLanes {
  const value = readOptions(options, OPTIONS_SPEC)?.stepLanes ?? 'auto';
  if (!LANES.includes(value as StepLanes)) {
    throw new ArgumentError({
      field: 'options.stepLanes',
      value,
      problem: "must be 'auto' or 'float64'",
      fix: "pass 'auto' (float32 lanes for float32 and float16 tensors) or 'float64' (bit for bit the JavaScript path).",
    });
  }
  return value as StepLanes;
}

/** The kernels in effect now: `'wasm'` or `'js'`. */
export function kernelBackend(): KernelBackend {
  return activeKernels() === null ? 'js' : 'wasm';
}

/**
 * Resolves once the kernels' compile has ended, to the backend then in effect. Needed only where
 * the engine refuses synchronous compiles of WebAssembly (older Chrome on the main thread; the
 * JavaScript kernels run until then); elsewhere it resolves at once.
 */
export async function kernelsReady(): Promise<KernelBackend> {
  await moduleReady();
  return kernelBackend();
}
