/**
 * Which implementation of the numeric kernels runs: the WebAssembly SIMD kernels (`'wasm'`) or
 * the JavaScript ones (`'js'`, the reference the kernels are tested against, and the fallback).
 *
 * By default (`'auto'`) the kernels run wherever the engine has WebAssembly with 128-bit SIMD
 * (Node 20 and every evergreen browser), and the JS path elsewhere. `setKernelBackend('js')` forces
 * the JS path (tests run the whole suite both ways; a user can rule out the kernels when chasing a
 * difference); `setKernelBackend('wasm')` insists on the kernels and throws where they cannot run.
 *
 * Everything stays synchronous: the module compiles on first use. Only where the engine refuses
 * a synchronous compile (see instance.ts) does the JS path run until the asynchronous compile is
 * done; `await kernelsReady()` waits for that, and is never needed otherwise.
 */
import { ArgumentError, StateError } from '../errors.js';
import { compiledModule, KernelInstance, moduleReady, unavailableReason } from './instance.js';

export type KernelBackend = 'wasm' | 'js';
export type KernelBackendChoice = KernelBackend | 'auto';

let choice: KernelBackendChoice = 'auto';
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
 * The kernel instance the numeric code should use, or null for the JS path. This is the one
 * check on every hot call: a variable read once the instance exists.
 */
export function activeKernels(): KernelInstance | null {
  if (choice === 'js') return null;
  return sharedInstance();
}

/** Choose the kernels: `'auto'` (the default), `'wasm'` or `'js'`. */
export function setKernelBackend(backend: KernelBackendChoice): void {
  if (backend !== 'auto' && backend !== 'wasm' && backend !== 'js') {
    throw new ArgumentError({
      field: 'backend',
      value: backend,
      problem: "must be 'auto', 'wasm' or 'js'",
      fix: "pass 'auto' (WebAssembly where the engine has it), 'wasm' or 'js'.",
    });
  }
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
}

/** The kernels in effect now: `'wasm'` or `'js'`. */
export function kernelBackend(): KernelBackend {
  return activeKernels() === null ? 'js' : 'wasm';
}

/**
 * Resolves once the kernels' compile has ended, to the backend then in effect. Needed only where
 * the engine refuses synchronous compiles (the JS path runs until then); elsewhere it resolves at
 * once.
 */
export async function kernelsReady(): Promise<KernelBackend> {
  await moduleReady();
  return kernelBackend();
}
