/**
 * Per-project setup (vitest.config.ts): the kernel backend the project runs the suite on, from
 * DDIM_TEST_BACKEND -- 'wasm' (the WebAssembly kernels, insisted on: a StateError here if they
 * cannot run, so that the suite never quietly runs the JS path twice) or 'js' (the JavaScript
 * kernels, the reference and the fallback). On 'wasm' the step runs float32 and float16 tensors in
 * its default float32 lanes; tests that need the JS path's float64 arithmetic say so
 * (test/helpers/backend.ts).
 */
import { setKernelBackend } from '../../src/wasm/backend.js';

const backend = process.env.DDIM_TEST_BACKEND;
if (backend !== 'wasm' && backend !== 'js') {
  throw new Error(
    `DDIM_TEST_BACKEND must be 'wasm' or 'js' (got ${String(backend)}): set by vitest.config.ts`,
  );
}
setKernelBackend(backend);
