// The module's exports: the JavaScript side calls them from src/tensor/convert-wasm.ts,
// src/noise/randn-wasm.ts and src/scheduler/step-kernel-wasm.ts (src/wasm/instance.ts types them).
export { f32ToHalf, f64ToHalf, halfToF32, halfToF64 } from './half';
export {
  HALF_COSSIN,
  HALF_RADIUS,
  LOG_PAIRS,
  MT_INDEX,
  MT_SCRATCH,
  MT_STATE,
  PARAMS,
  SINCOS_PAIRS,
} from './layout';
export { randnF16, randnF32, randnF64 } from './randn';
export { absX0, step } from './step';

/** First byte past the static data: the JavaScript side allocates its buffers from here on. */
export function heapBase(): usize {
  return __heap_base;
}
