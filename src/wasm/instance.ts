/**
 * The WebAssembly kernels (wasm/assembly/, built by scripts/build-wasm.mjs into
 * kernels.generated.ts): compiling the module, instantiating it, and one instance's memory. This
 * folder knows nothing of dtypes, tensors, noise or steps: each concept's WebAssembly path lives
 * beside its JavaScript one (tensor/convert-wasm.ts, noise/randn-wasm.ts,
 * scheduler/step-kernel-wasm.ts) and calls the exports typed here.
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
 * are either copied in and out (the staging slots) or allocated there in the first place.
 * Growing a memory replaces its ArrayBuffer and detaches every view of the old one. So:
 *
 * - the shared instance (backend.ts) hands no view of its memory to anyone: the glue makes views
 *   for the length of one call and re-reads them after a growth;
 * - an arena (a sampling loop's buffers) is reserved once and then sealed: it never grows again,
 *   so the arrays allocated in it stay valid for as long as anyone holds them.
 */
import { WASM_BASE64 } from './kernels.generated.js';

/** The module's exports (wasm/assembly/index.ts). Pointers are byte offsets, sizes element counts. */
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
  /** Returns 1 when every result (and the unclamped x0) is finite. */
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
 * Elements per staging slot: calls copy caller arrays in and out this many at a time, so that the
 * copies and the kernel work on data in the L2 cache (five slots of float32: 320 KB).
 */
export const STAGE_ELEMENTS = 16384;
/** Staging slots: the step uses sample, model output, noise, prevSample, predOriginalSample. */
export const STAGE_SLOTS = 5;
const STAGE_SLOT_BYTES = STAGE_ELEMENTS * 8;
const PAGE = 65536;
/** Alignment of every region handed out: a cache line. */
const ALIGN = 64;

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
export interface Views {
  buffer: ArrayBuffer;
  u16: Uint16Array;
  i32: Int32Array;
  f32: Float32Array;
  f64: Float64Array;
}

/**
 * Every instance by its memory's current buffer, so that an array can be traced to the instance
 * it lives in (`instanceHolding`). Weak: an instance nobody references is collected with its memory.
 */
const byBuffer = new WeakMap<ArrayBufferLike, KernelInstance>();

/** The instance whose memory `data` lives in, or null (an ordinary array). */
export function instanceHolding(data: ArrayBufferView): KernelInstance | null {
  return byBuffer.get(data.buffer) ?? null;
}

function alignUp(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

/**
 * One instance of the kernels and its linear memory: the module's fixed tables and scalars, the
 * staging slots (reserved at creation), then arrays (`allocateBytes`) and one workspace region
 * for a call's temporaries (`workspace`).
 */
export class KernelInstance {
  readonly exports: KernelExports;
  /** Byte offset of staging slot k is stage + k * STAGE_SLOT_BYTES. */
  readonly stage: number;
  /**
   * What the concepts using this instance record about it (e.g. noise/randn-wasm.ts: whether its
   * tables are filled), by key: this module knows none of them.
   */
  readonly prepared = new Set<string>();
  private views: Views;
  /** First free byte for `allocateBytes`. */
  private top: number;
  private workspaceAt = 0;
  private workspaceBytes = 0;
  /** Sealed: the memory never grows again (views made now stay valid). */
  private sealed = false;
  /** A sealed arena's first byte for arrays (`rewind` returns `top` here). */
  private arenaStart = 0;

  constructor(module: WebAssembly.Module) {
    // The engine's own Math functions: the float64 stream calls them as the JS path does.
    const imports = { math: { log: Math.log, cos: Math.cos, sin: Math.sin } };
    this.exports = new WebAssembly.Instance(module, imports).exports as unknown as KernelExports;
    this.stage = alignUp(this.exports.heapBase());
    this.top = this.stage + STAGE_SLOTS * STAGE_SLOT_BYTES;
    this.views = viewsOf(this.exports.memory.buffer);
    this.ensure(this.top);
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

  /** Byte offset of staging slot `slot` (0 .. STAGE_SLOTS - 1), each STAGE_ELEMENTS float64 wide. */
  slot(slot: number): number {
    return this.stage + slot * STAGE_SLOT_BYTES;
  }

  /**
   * Make room for `bytes` of arrays and a workspace of `workspaceBytes`, then seal the memory: it
   * never grows again, so views of it stay valid while anyone holds them. An arena (a sampling
   * loop's buffers) is made this way; the shared instance is never sealed.
   */
  reserveAndSeal(bytes: number, workspaceBytes: number): void {
    this.workspaceAt = alignUp(this.top);
    this.workspaceBytes = alignUp(workspaceBytes);
    this.top = this.workspaceAt + this.workspaceBytes;
    this.arenaStart = alignUp(this.top);
    this.ensure(this.arenaStart + alignUp(bytes));
    this.sealed = true;
  }

  /** Whether this sealed arena has room for `bytes` of arrays and a workspace of `workspaceBytes`. */
  holds(bytes: number, workspaceBytes: number): boolean {
    return (
      this.sealed &&
      workspaceBytes <= this.workspaceBytes &&
      bytes <= this.exports.memory.buffer.byteLength - this.arenaStart
    );
  }

  /**
   * Free every array allocated in this sealed arena, for its next user: arrays allocated after
   * this reuse the same memory (and hold what was left there, not zeros). Whoever still holds a
   * view of the old arrays sees them overwritten.
   */
  rewind(): void {
    if (this.sealed) this.top = this.arenaStart;
  }

  /**
   * `bytes` of this instance's memory, 64-byte aligned, as a byte offset; -1 when the instance is
   * sealed and they do not fit. (Unsealed, this grows the memory, which detaches every view made
   * before: allocate first, then make views.)
   */
  allocateBytes(bytes: number): number {
    const at = alignUp(this.top);
    if (!this.fits(at + bytes)) return -1;
    this.ensure(at + bytes);
    this.top = at + bytes;
    return at;
  }

  /**
   * The byte offset of a region of at least `bytes` for one call's temporaries (a step's drawn
   * noise and thresholding's |x0|), the same region every call; -1 when sealed and too small.
   * Unsealed, a larger request grows the memory (see allocateBytes): ask once per call, before
   * making any view.
   */
  workspace(bytes: number): number {
    if (bytes <= this.workspaceBytes) return this.workspaceAt;
    const at = alignUp(this.top);
    if (!this.fits(at + bytes)) return -1;
    this.ensure(at + bytes);
    this.top = at + bytes;
    this.workspaceAt = at;
    this.workspaceBytes = bytes;
    return at;
  }

  /** Whether the memory is sealed (an arena): it never grows again. */
  get isSealed(): boolean {
    return this.sealed;
  }

  private fits(end: number): boolean {
    return !this.sealed || end <= this.exports.memory.buffer.byteLength;
  }

  private ensure(end: number): void {
    const memory = this.exports.memory;
    const have = memory.buffer.byteLength;
    if (end > have) memory.grow(Math.ceil((end - have) / PAGE));
    byBuffer.set(memory.buffer, this);
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
