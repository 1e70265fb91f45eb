/// <reference types="vite/client" />
// (vite's `?url` imports, also when the root tsconfig's check of the e2e tests reaches this file)
/**
 * onnxruntime-web for the Generate panel: imported on first use (a chunk of its own, so the
 * schedule pages do not load it), its WebAssembly binary served from the built page itself (never
 * a CDN: the page works offline), WebGPU when the browser has an adapter, WebAssembly otherwise.
 *
 * The default `onnxruntime-web` entry is the JSEP build: one .wasm (bundled by vite through the
 * `?url` import below) runs both the WebAssembly and the WebGPU execution providers.
 *
 * Threads: ONNX Runtime's WebAssembly threads need SharedArrayBuffer, which browsers give only to
 * cross-origin isolated pages (COOP `same-origin` + COEP `require-corp`). The playground's servers
 * (vite dev / preview, the e2e test's server) send those headers; on a static host that does not,
 * `crossOriginIsolated` is false and the panel runs one thread (set explicitly: ONNX Runtime would
 * otherwise warn about it on every load).
 */

import type { PipelineOrt } from 'ddim/pipeline';
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';

/** The execution providers the panel offers. */
export const BACKENDS = ['auto', 'webgpu', 'wasm'] as const;
export type BackendChoice = (typeof BACKENDS)[number];
export type Backend = Exclude<BackendChoice, 'auto'>;

/** onnxruntime-web's namespace, as imported. */
type OrtWeb = typeof import('onnxruntime-web');

let ortPromise: Promise<OrtWeb> | null = null;
let threadsSet: number | null = null;

/** The threads the page can use: ONNX Runtime's default count when cross-origin isolated, else 1. */
export function defaultThreads(): number {
  if (!globalThis.crossOriginIsolated) return 1;
  // ONNX Runtime's own default: half the logical cores, at most 4 (leave some to the page).
  return Math.min(4, Math.ceil((navigator.hardwareConcurrency || 1) / 2));
}

/**
 * onnxruntime-web, configured once: the bundled .wasm and the thread count (which ONNX Runtime
 * reads when it first initialises; later changes do not apply until the page is reloaded).
 */
export async function loadOrt(threads: number): Promise<{ ort: OrtWeb; threads: number }> {
  ortPromise ??= import('onnxruntime-web').then((ort) => {
    // An absolute URL: the chunk that fetches it sits in assets/ like the .wasm, but say it plainly.
    ort.env.wasm.wasmPaths = { wasm: new URL(wasmUrl, document.baseURI).href };
    return ort;
  });
  const ort = await ortPromise;
  if (threadsSet === null) {
    threadsSet = globalThis.crossOriginIsolated ? threads : 1;
    ort.env.wasm.numThreads = threadsSet;
  }
  return { ort, threads: threadsSet };
}

/** The minimal WebGPU surface used (TypeScript's DOM library does not declare `navigator.gpu`). */
interface GpuLike {
  requestAdapter(): Promise<unknown | null>;
}

/** What `chooseBackend` decided, and why (shown in the panel). */
export interface BackendDecision {
  backend: Backend;
  executionProviders: string[];
  reason: string;
}

/**
 * WebGPU when asked for or when `auto` finds an adapter (`navigator.gpu.requestAdapter()`), with
 * WebAssembly as ONNX Runtime's fallback for operators WebGPU lacks; WebAssembly otherwise. An
 * explicit `webgpu` on a browser without an adapter is refused with the reason.
 */
export async function chooseBackend(choice: BackendChoice): Promise<BackendDecision> {
  const wasm = (reason: string): BackendDecision => ({
    backend: 'wasm',
    executionProviders: ['wasm'],
    reason,
  });
  switch (choice) {
    case 'wasm':
      return wasm('WebAssembly, as chosen');
    case 'auto':
    case 'webgpu': {
      const gpu = (navigator as Navigator & { gpu?: GpuLike }).gpu;
      let problem: string | null = null;
      if (gpu === undefined) problem = 'this browser has no WebGPU (navigator.gpu)';
      else if ((await gpu.requestAdapter().catch(() => null)) === null)
        problem = 'WebGPU found no adapter (no GPU, or GPU access disabled)';
      if (problem === null) {
        return {
          backend: 'webgpu',
          executionProviders: ['webgpu', 'wasm'],
          reason: choice === 'auto' ? 'WebGPU, found' : 'WebGPU, as chosen',
        };
      }
      if (choice === 'webgpu')
        throw new RangeError(`WebGPU is not available: ${problem}. Choose WebAssembly.`);
      return wasm(`WebAssembly: ${problem}`);
    }
    default: {
      const never: never = choice;
      throw new RangeError(`unknown backend ${String(never)}`);
    }
  }
}

/** Which model a session is, from its inputs (its bytes carry no file name). */
export type Component = 'unet' | 'text_encoder' | 'vae_decoder' | 'vae_encoder';

function componentOf(inputNames: readonly string[]): Component {
  if (inputNames.includes('timestep')) return 'unet';
  if (inputNames.includes('latent_sample')) return 'vae_decoder';
  if (inputNames.includes('sample')) return 'vae_encoder';
  return 'text_encoder';
}

/** One `session.run`: which model, when it started and how long it took (performance.now() ms). */
export interface RunRecord {
  component: Component;
  start: number;
  ms: number;
}

/**
 * The `ort` given to the pipeline: onnxruntime-web whose sessions report each `run` to `onRun`,
 * so the panel can split a step's time into the UNet's and the rest, and time the VAE.
 */
export function timedOrt(ort: OrtWeb, onRun: (record: RunRecord) => void): PipelineOrt {
  return {
    Tensor: ort.Tensor as unknown as PipelineOrt['Tensor'],
    InferenceSession: {
      async create(model: string | Uint8Array, options?: object) {
        const session = await ort.InferenceSession.create(model as Uint8Array, options as never);
        const component = componentOf(session.inputNames);
        return {
          inputNames: session.inputNames,
          outputNames: session.outputNames,
          inputMetadata: session.inputMetadata,
          release: () => session.release(),
          async run(feeds: Record<string, unknown>) {
            const start = performance.now();
            try {
              return (await session.run(feeds as never)) as never;
            } finally {
              onRun({ component, start, ms: performance.now() - start });
            }
          },
        } as ReturnType<PipelineOrt['InferenceSession']['create']> extends Promise<infer S> ? S : never;
      },
    },
  };
}
