/**
 * The WebAssembly kernels (wasm/assembly/, built by scripts/build-wasm.mjs into
 * kernels.generated.ts): compiling the module, instantiating it, and one instance's memory.
 *
 * Loading. The module ships as base64 inside a JS module, so it loads wherever this library's
 * code does -- Node, browsers, bundlers -- with no file to fetch and no Node built-in. It is
 * compiled synchronously on first use (`new WebAssembly.Module`, 1 to 2 ms for its ~20 KB),
 * so that `step()` stays synchronous and needs no `await` before the first call. Where
 * the engine refuses that (Chrome on the main thread refused synchronous compiles of modules over
 * 4 KB until version 115, and still refuses them past 8 MB), or where WebAssembly or its SIMD
 * instructions are missing (then the module does not validate), the JS path runs; on a refusal,
 * an asynchronous compile starts at once and the kernels take over when it is done
 * (`kernelsReady()` in backend.ts waits for that).
 *
 * Memory. A WebAssembly function reads and writes only its instance's linear memory, so tensors
 * are either copied in and out (staging) or allocated there in the first place (`allocate`).
 * Growing a memory replaces its ArrayBuffer and detaches every view of the old one; this class
 * re-reads its own views after a growth, and reserves its staging area once, when it is created,
 * so that nothing a step does grows the memory under arrays a caller holds.
 */
import { halfBoxMullerTables } from '../noise.js';
import { WASM_BASE64 } from './kernels.generated.js';

/** The module's exports (wasm/assembly/index.ts). Pointers and sizes are byte offsets / element counts. */
export interface KernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  LOG_PAIRS: WebAssembly.Global;
  SINCOS_PAIRS: WebAssembly.Global;
  HALF_RADIUS: WebAssembly.Global;
  HALF_COSSIN: WebAssembly.Global;
  MT_STATE: WebAssembly.Global;
  MT_INDEX: WebAssembly.Global;
  PARAMS: WebAssembly.Global;
  randnF32(out: number, length: number): void;
  randnF16(out: number, length: number): void;
  randnF64(out: number, length: number): void;
  halfToF32(src: number, dst: number, n: number): void;
  halfToF64(src: number, dst: number, n: number): void;
  /** Returns 1 when every result is finite. */
  f32ToHalf(src: number, dst: number, n: number): number;
  f64ToHalf(src: number, dst: number, n: number): number;
  step(
    kind: number,
    clipped: number,
    wideLanes: number,
    x: number,
    xType: number,
    m: number,
    mType: number,
    z: number,
    zType: number,
    prev: number,
    x0: number,
    outType: number,
    n: number,
  ): number;
  /** Returns 1 when a NaN was seen. */
  absX0(x: number, xType: number, m: number, mType: number, out: number, outWide: number, n: number): number;
}

/**
 * Elements per staging slot: a step copies caller arrays in and out this many at a time, so that
 * the copies and the kernel work on data in the L2 cache (five slots of float32: 320 KB).
 */
export const STAGE_ELEMENTS = 16384;
/** Staging slots: sample, model output, noise, prevSample, predOriginalSample. */
export const STAGE_SLOTS = 5;
const STAGE_SLOT_BYTES = STAGE_ELEMENTS * 8;
const PAGE = 65536;

type Compiled =
  | { state: 'untried' }
  | { state: 'compiled'; module: WebAssembly.Module }
  | { state: 'pending'; promise: Promise<WebAssembly.Module | null> }
  | { state: 'unavailable'; reason: string };

let compiled: Compiled = { state: 'untried' };

/** The module's bytes (base64 decoded with `atob`, present in browsers and Node). */
export function kernelBytes(): Uint8Array<ArrayBuffer> {
  const text = atob(WASM_BASE64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/**
 * The compiled module, compiling it synchronously on the first call; null while an asynchronous
 * compile is under way or when the engine cannot run it (`unavailableReason()` says why).
 */
export function compiledModule(): WebAssembly.Module | null {
  if (compiled.state === 'compiled') return compiled.module;
  if (compiled.state !== 'untried') return null;
  const wasm = (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
  if (wasm === undefined || typeof wasm.Module !== 'function') {
    compiled = { state: 'unavailable', reason: 'this JavaScript engine has no WebAssembly' };
    return null;
  }
  const bytes = kernelBytes();
  // validate() is false where the engine lacks an instruction the module uses: 128-bit SIMD.
  if (!wasm.validate(bytes)) {
    compiled = {
      state: 'unavailable',
      reason: 'this engine does not validate the kernels (it lacks WebAssembly SIMD)',
    };
    return null;
  }
  try {
    compiled = { state: 'compiled', module: new wasm.Module(bytes) };
    return compiled.module;
  } catch (syncError) {
    // A synchronous compile refused (Chrome's main-thread size limit): compile asynchronously
    // and run the JS path until it is done. If that fails too (a Content Security Policy without
    // 'wasm-unsafe-eval'), the JS path stays.
    const promise = wasm.compile(bytes).then(
      (module) => {
        compiled = { state: 'compiled', module };
        return module;
      },
      (asyncError: unknown) => {
        compiled = {
          state: 'unavailable',
          reason: `compiling the kernels failed: ${describe(syncError)}; asynchronously: ${describe(asyncError)}`,
        };
        return null;
      },
    );
    compiled = { state: 'pending', promise };
    return null;
  }
}

/** Resolves to the compiled module once compiling has ended (null: the kernels cannot run here). */
export async function moduleReady(): Promise<WebAssembly.Module | null> {
  const module = compiledModule();
  if (module !== null) return module;
  return compiled.state === 'pending' ? compiled.promise : null;
}

/** Why the kernels cannot run here, or null when they can (or compiling has not ended). */
export function unavailableReason(): string | null {
  return compiled.state === 'unavailable' ? compiled.reason : null;
}

/** Typed views of one memory, re-created when the memory's buffer changes. */
interface Views {
  buffer: ArrayBuffer;
  u16: Uint16Array;
  i32: Int32Array;
  f32: Float32Array;
  f64: Float64Array;
}

/**
 * One instance of the kernels and its linear memory: the fixed tables, the generator state slot,
 * the step's scalars, the staging slots (reserved at creation), then memory handed out by
 * `allocate`.
 */
export class KernelInstance {
  readonly exports: KernelExports;
  /** Byte offset of staging slot k is stage + k * STAGE_SLOT_BYTES. */
  readonly stage: number;
  private views: Views;
  /** First free byte for `allocate`. */
  private top: number;
  private scratchAt = 0;
  private scratchBytes = 0;
  private halfTables = false;

  constructor(module: WebAssembly.Module) {
    // The engine's own Math functions: the float64 stream calls them as the JS path does.
    const imports = { math: { log: Math.log, cos: Math.cos, sin: Math.sin } };
    this.exports = new WebAssembly.Instance(module, imports).exports as unknown as KernelExports;
    const base = this.exports.heapBase();
    this.stage = Math.ceil(base / 64) * 64;
    this.top = this.stage + STAGE_SLOTS * STAGE_SLOT_BYTES;
    this.views = viewsOf(this.exports.memory.buffer);
    this.ensure(this.top);
    this.fillTables();
  }

  /** The memory's views, current after any growth. */
  view(): Views {
    const buffer = this.exports.memory.buffer;
    if (buffer !== this.views.buffer) this.views = viewsOf(buffer);
    return this.views;
  }

  /** The memory's current ArrayBuffer: an array lives in this instance iff its buffer is this one. */
  buffer(): ArrayBuffer {
    return this.exports.memory.buffer;
  }

  /** Byte offset of staging slot `slot` (0..STAGE_SLOTS - 1), each STAGE_ELEMENTS float64 wide. */
  slot(slot: number): number {
    return this.stage + slot * STAGE_SLOT_BYTES;
  }

  /**
   * `bytes` of this instance's memory, 64-byte aligned, as a byte offset. Grows the memory when
   * needed, which detaches every view of it made before: allocate everything a computation needs
   * first, then make its views.
   */
  allocateBytes(bytes: number): number {
    const at = Math.ceil(this.top / 64) * 64;
    this.ensure(at + bytes);
    this.top = at + bytes;
    return at;
  }

  /**
   * Grow the memory now so that `bytes` more (in any number of allocations, each rounded up to 64
   * bytes) fit without growing it again: views made after this stay valid while they do.
   */
  reserve(bytes: number): void {
    this.ensure(Math.ceil(this.top / 64) * 64 + bytes);
  }

  /** A new zero array of `length` elements in this instance's memory (see allocateBytes about growth). */
  allocate(type: 'float32', length: number): Float32Array;
  allocate(type: 'float64', length: number): Float64Array;
  allocate(type: 'float16', length: number): Uint16Array;
  allocate(
    type: 'float32' | 'float64' | 'float16',
    length: number,
  ): Float32Array | Float64Array | Uint16Array;
  allocate(
    type: 'float32' | 'float64' | 'float16',
    length: number,
  ): Float32Array | Float64Array | Uint16Array {
    const size = type === 'float64' ? 8 : type === 'float32' ? 4 : 2;
    const at = this.allocateBytes(length * size);
    const buffer = this.buffer();
    if (type === 'float64') return new Float64Array(buffer, at, length);
    if (type === 'float32') return new Float32Array(buffer, at, length);
    return new Uint16Array(buffer, at, length);
  }

  /**
   * A scratch region of at least `bytes` (thresholding's |x0|), reused while large enough. A larger
   * request allocates anew (see allocateBytes about growth).
   */
  scratch(bytes: number): number {
    if (bytes > this.scratchBytes) {
      this.scratchAt = this.allocateBytes(bytes);
      this.scratchBytes = bytes;
    }
    return this.scratchAt;
  }

  private ensure(end: number): void {
    const memory = this.exports.memory;
    const have = memory.buffer.byteLength;
    if (end > have) memory.grow(Math.ceil((end - have) / PAGE));
  }

  /**
   * The float32 noise kernel's tables, from the same expressions as src/noise.ts's (Math.log,
   * Math.sin and Math.cos of this engine), so that both paths round the same doubles.
   */
  private fillTables(): void {
    const { f64 } = this.view();
    const ex = this.exports;
    const log = (ex.LOG_PAIRS.value as number) >> 3;
    for (let j = 0; j <= 256; j++) {
      f64[log + 2 * j] = Math.log(1 + j / 256);
      // 256 * LOG_TSCALE[j] of src/noise.ts: exact (a power of two), see logPair in randn.ts.
      f64[log + 2 * j + 1] = 256 * (2 ** -31 / (1 + j / 256));
    }
    const sincos = (ex.SINCOS_PAIRS.value as number) >> 3;
    const step = (2 * Math.PI) / 1024;
    for (let k = 0; k <= 1024; k++) {
      f64[sincos + 2 * k] = Math.sin(k * step);
      f64[sincos + 2 * k + 1] = Math.cos(k * step);
    }
  }

  /**
   * The float16 stream's tables, filled on its first draw: building them (the JS path's
   * halfBoxMullerTables, with float16Table) takes ~20 ms once per process, which a program that
   * never draws float16 noise should not pay.
   */
  ensureHalfTables(): void {
    if (this.halfTables) return;
    const f32 = this.view().f32;
    const ex = this.exports;
    const half = halfBoxMullerTables();
    const radius = (ex.HALF_RADIUS.value as number) >> 2;
    const cossin = (ex.HALF_COSSIN.value as number) >> 2;
    for (let k = 0; k < 2048; k++) {
      // Each is a float32 value already (radius a float16 one): stored exactly.
      f32[radius + k] = half.radius[k];
      f32[cossin + 2 * k] = half.cos[k];
      f32[cossin + 2 * k + 1] = half.sin[k];
    }
    this.halfTables = true;
  }
}

function viewsOf(buffer: ArrayBuffer): Views {
  return {
    buffer,
    u16: new Uint16Array(buffer),
    i32: new Int32Array(buffer),
    f32: new Float32Array(buffer),
    f64: new Float64Array(buffer),
  };
}
