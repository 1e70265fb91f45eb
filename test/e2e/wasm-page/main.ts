/**
 * A page that runs the library in the browser on both kernel paths, as bundled by vite
 * (test/e2e/wasm.e2e.ts builds and opens it): which backend loaded, and whether the WebAssembly
 * kernels' results equal the JS path's, computed here through the public API -- the noise
 * (Generator), float16 conversion (convertInto), the step (scheduler.step: float64 lanes bit for
 * bit, float32 lanes close) and a whole sampling loop, whose buffers live in kernel memory on the
 * WebAssembly path. The test reads `window.__wasm`.
 */
import {
  convertInto,
  DDIMScheduler,
  Generator,
  kernelBackend,
  numberToFloat16,
  sample,
  setKernelBackend,
  type TensorData,
} from '../../../src/index.js';

export interface WasmPageResult {
  backend: string;
  backendAfterForcingJs: string;
  randnEqual: Record<string, boolean>;
  decodeEqual: boolean;
  encodeEqual: boolean;
  stepEqual: boolean;
  stepClose: boolean;
  loopEqual: boolean;
  error: string | null;
}

function sameBits(a: TensorData, b: TensorData): boolean {
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** `fn` on the given backend (the default 'auto' afterwards). */
function on<T>(backend: 'wasm' | 'js', fn: () => T, stepLanes: 'auto' | 'float64' = 'auto'): T {
  setKernelBackend(backend, { stepLanes });
  try {
    return fn();
  } finally {
    setKernelBackend('auto');
  }
}

async function run(): Promise<WasmPageResult> {
  const result: WasmPageResult = {
    backend: kernelBackend(),
    backendAfterForcingJs: '',
    randnEqual: {},
    decodeEqual: false,
    encodeEqual: false,
    stepEqual: false,
    stepClose: false,
    loopEqual: false,
    error: null,
  };
  if (result.backend !== 'wasm') return result;
  for (const dtype of ['float32', 'float16', 'float64'] as const) {
    let equal = true;
    for (const [seed, n] of [
      [1, 5000],
      [7, 16384 + 37],
      [42, 3],
    ]) {
      const draw = (backend: 'wasm' | 'js') =>
        on(backend, () => {
          const g = new Generator().manualSeed(seed);
          const out =
            dtype === 'float32'
              ? new Float32Array(n)
              : dtype === 'float64'
                ? new Float64Array(n)
                : new Uint16Array(n);
          if (dtype === 'float32') g.fillRandn(out as Float32Array);
          else if (dtype === 'float64') g.fillRandnFloat64(out as Float64Array);
          else g.fillRandnFloat16(out as Uint16Array);
          return { out, state: JSON.stringify(g.getState()) };
        });
      const want = draw('js');
      const got = draw('wasm');
      equal = equal && sameBits(got.out, want.out) && got.state === want.state;
    }
    result.randnEqual[dtype] = equal;
  }
  const halves = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const decode = (backend: 'wasm' | 'js') =>
    on(backend, () => {
      const out = new Float32Array(65536);
      convertInto(halves, 'float16', out, 'float32');
      return out;
    });
  result.decodeEqual = sameBits(decode('wasm'), decode('js'));
  const values = Float32Array.from({ length: 100000 }, (_, i) => Math.sin(i) * 2 ** ((i % 40) - 26));
  const encoded = on('wasm', () => {
    const out = new Uint16Array(values.length);
    convertInto(values, 'float32', out, 'float16');
    return out;
  });
  result.encodeEqual = sameBits(encoded, Uint16Array.from(values, numberToFloat16));
  const n = 20000;
  const dims = [2, 4, 50, 50];
  const scheduler = new DDIMScheduler({ clip_sample: true }).setTimesteps(20);
  const step = () =>
    scheduler.step(
      { data: Float32Array.from({ length: n }, (_, i) => Math.cos(i * 1.3)), dims },
      scheduler.timesteps[5],
      { data: Float32Array.from({ length: n }, (_, i) => Math.sin(i)), dims },
      { eta: 1, useClippedModelOutput: true, generator: new Generator().manualSeed(3) },
    );
  const js = on('js', step);
  const exact = on('wasm', step, 'float64');
  const fast = on('wasm', step);
  result.stepEqual =
    sameBits(exact.prevSample.data, js.prevSample.data) &&
    sameBits(exact.predOriginalSample.data, js.predOriginalSample.data);
  result.stepClose = (fast.prevSample.data as Float32Array).every(
    (v, i) => Math.abs(v - js.prevSample.data[i]) <= 1e-5,
  );
  // A whole loop with eta = 1 (its buffers and the step's noise in kernel memory), float64 lanes:
  // the same latents as the JS path's loop, bit for bit.
  const loop = async (backend: 'wasm' | 'js') => {
    setKernelBackend(backend, { stepLanes: 'float64' });
    try {
      const r = await sample(
        new DDIMScheduler(),
        (x) => ({ data: Float32Array.from(x.data, (v) => v * 0.1), dims: x.dims }),
        {
          shape: [1, 4, 32, 32],
          numInferenceSteps: 10,
          eta: 1,
          generator: new Generator().manualSeed(11),
        },
      );
      return r.latents.data;
    } finally {
      setKernelBackend('auto');
    }
  };
  result.loopEqual = sameBits(await loop('wasm'), await loop('js'));
  setKernelBackend('js');
  result.backendAfterForcingJs = kernelBackend();
  setKernelBackend('auto');
  return result;
}

run()
  .catch(
    (error: unknown): WasmPageResult => ({
      backend: 'error',
      backendAfterForcingJs: '',
      randnEqual: {},
      decodeEqual: false,
      encodeEqual: false,
      stepEqual: false,
      stepClose: false,
      loopEqual: false,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    }),
  )
  .then((result) => {
    (window as unknown as { __wasm: WasmPageResult }).__wasm = result;
    (document.getElementById('out') as HTMLElement).textContent = JSON.stringify(result, null, 2);
  });
