/**
 * Running code on a chosen kernel backend (src/wasm/backend.ts), for tests that compare the
 * WebAssembly kernels with the JavaScript path, the reference: the backend and the step's lanes
 * in force before are restored afterwards, whatever the suite's project set them to.
 */
import { afterAll, beforeAll } from 'vitest';
import {
  type KernelBackend,
  kernelBackend,
  type StepLanes,
  setKernelBackend,
  stepLanes,
} from '../../src/wasm/backend.js';

/**
 * `fn()` (or the promise it returns: until it settles) with the kernels set to `backend` and the
 * WebAssembly step's `lanes`.
 */
export function onBackend<T>(backend: KernelBackend, fn: () => T, lanes: StepLanes = 'auto'): T {
  const was = kernelBackend();
  const wasLanes = stepLanes();
  const restore = () => setKernelBackend(was, { stepLanes: wasLanes });
  setKernelBackend(backend, { stepLanes: lanes });
  let result: T;
  try {
    result = fn();
  } catch (error) {
    restore();
    throw error;
  }
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
}

/** `fn()` on the JavaScript path. */
export function onJs<T>(fn: () => T): T {
  return onBackend('js', fn);
}

/** `fn()` on the WebAssembly kernels (throws where they cannot run). */
export function onWasm<T>(fn: () => T, lanes: StepLanes = 'auto'): T {
  return onBackend('wasm', fn, lanes);
}

/**
 * `fn()` (or the promise it returns) with the WebAssembly step in float64 lanes -- bit for bit the
 * JS path's float64 arithmetic -- on whichever backend the suite's project runs. For tests that
 * compare with a float64 reference at float32 rounding tolerance, or with another run that takes
 * float64 lanes: float32 lanes are within the bound test/wasm-step.test.ts states, not that.
 */
export function withFloat64Lanes<T>(fn: () => T): T {
  return onBackend(kernelBackend(), fn, 'float64');
}

/** Float64 lanes for every test of the enclosing describe (see withFloat64Lanes). */
export function useFloat64Lanes(): void {
  let restore = () => {};
  beforeAll(() => {
    const backend = kernelBackend();
    const lanes = stepLanes();
    restore = () => setKernelBackend(backend, { stepLanes: lanes });
    setKernelBackend(backend, { stepLanes: 'float64' });
  });
  afterAll(() => restore());
}
