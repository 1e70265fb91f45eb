/**
 * A page that runs the WebAssembly kernels in the browser, as bundled by vite (test/e2e/wasm.e2e.ts
 * builds and opens it): which backend loaded, and whether the kernels' results equal the JS
 * path's, computed here. The test reads `window.__wasm`.
 */
import { Generator } from '../../../src/noise.js';
import { ddimStepKernel, type StepKernelArgs, stepCoefficients } from '../../../src/step.js';
import { float16Table, numberToFloat16, type TensorData } from '../../../src/tensor.js';
import { activeKernels, kernelBackend, setKernelBackend } from '../../../src/wasm/backend.js';
import { convertIntoWasm } from '../../../src/wasm/float16.js';
import { fillRandnWasm } from '../../../src/wasm/noise.js';
import { ddimStepKernelWasm } from '../../../src/wasm/step.js';

export interface WasmPageResult {
  backend: string;
  backendAfterForcingJs: string;
  randnEqual: Record<string, boolean>;
  decodeEqual: boolean;
  encodeEqual: boolean;
  stepEqual: boolean;
  stepClose: boolean;
  error: string | null;
}

function sameBits(a: TensorData, b: TensorData): boolean {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function run(): WasmPageResult {
  const k = activeKernels();
  const result: WasmPageResult = {
    backend: kernelBackend(),
    backendAfterForcingJs: '',
    randnEqual: {},
    decodeEqual: false,
    encodeEqual: false,
    stepEqual: false,
    stepClose: false,
    error: null,
  };
  if (k === null) return result;
  for (const dtype of ['float32', 'float16', 'float64'] as const) {
    let equal = true;
    for (const [seed, n] of [
      [1, 5000],
      [7, 16384 + 37],
      [42, 3],
    ]) {
      const a = new Generator().manualSeed(seed);
      const b = new Generator().manualSeed(seed);
      const make = () =>
        dtype === 'float32'
          ? new Float32Array(n)
          : dtype === 'float64'
            ? new Float64Array(n)
            : new Uint16Array(n);
      const want = make();
      const got = make();
      if (dtype === 'float32') a.fillRandn(want as Float32Array);
      else if (dtype === 'float64') a.fillRandnFloat64(want as Float64Array);
      else a.fillRandnFloat16(want as Uint16Array);
      fillRandnWasm(k, b, got, dtype, 0, n);
      equal = equal && sameBits(got, want) && JSON.stringify(a.getState()) === JSON.stringify(b.getState());
    }
    result.randnEqual[dtype] = equal;
  }
  const halves = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const decoded = new Float32Array(65536);
  convertIntoWasm(k, halves, 'float16', decoded, 'float32');
  result.decodeEqual = sameBits(decoded, float16Table());
  const values = Float32Array.from({ length: 100000 }, (_, i) => Math.sin(i) * 2 ** ((i % 40) - 26));
  const encoded = new Uint16Array(values.length);
  convertIntoWasm(k, values, 'float32', encoded, 'float16');
  result.encodeEqual = sameBits(encoded, Uint16Array.from(values, numberToFloat16));
  const n = 20000;
  const args = (): StepKernelArgs => ({
    coefficients: stepCoefficients('epsilon', 0.3, 0.4, 1, 0.01),
    bound: { kind: 'clip', range: 1 },
    useClippedModelOutput: true,
    batch: 2,
    sample: Float32Array.from({ length: n }, (_, i) => Math.sin(i)),
    sampleType: 'float32',
    modelOutput: Float32Array.from({ length: n }, (_, i) => Math.cos(i * 1.3)),
    modelOutputType: 'float32',
    noise: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7)),
    noiseType: 'float32',
    prevSample: new Float32Array(n),
    predOriginalSample: new Float32Array(n),
    outType: 'float32',
  });
  const js = args();
  const exact = args();
  const fast = args();
  ddimStepKernel(js);
  ddimStepKernelWasm(k, exact, 'float64');
  ddimStepKernelWasm(k, fast, 'auto');
  result.stepEqual =
    sameBits(exact.prevSample, js.prevSample) && sameBits(exact.predOriginalSample, js.predOriginalSample);
  result.stepClose = (fast.prevSample as Float32Array).every(
    (v, i) => Math.abs(v - js.prevSample[i]) <= 1e-5,
  );
  setKernelBackend('js');
  result.backendAfterForcingJs = kernelBackend();
  setKernelBackend('auto');
  return result;
}

let result: WasmPageResult;
try {
  result = run();
} catch (error) {
  result = {
    backend: 'error',
    backendAfterForcingJs: '',
    randnEqual: {},
    decodeEqual: false,
    encodeEqual: false,
    stepEqual: false,
    stepClose: false,
    error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  };
}
(window as unknown as { __wasm: WasmPageResult }).__wasm = result;
(document.getElementById('out') as HTMLElement).textContent = JSON.stringify(result, null, 2);
