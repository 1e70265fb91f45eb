/**
 * Where a sampling loop's own buffers live: the two sample buffers, the predicted x0 and the
 * guided prediction -- and, through the scheduler, each step's drawn noise and thresholding's
 * |x0| -- are allocated in one arena of WebAssembly kernel memory when that backend is in effect
 * (wasm/backend.ts' newArena), so that the step reads and writes them in place instead of copying
 * them in and out (docs/performance.md has the numbers). Elsewhere they are ordinary arrays.
 *
 * An arena is reserved once, for the whole run, and sealed: its memory never grows, so the views
 * handed to the denoiser and to onStep are never detached (the loop documents them as valid
 * during the call only, and overwritten later, as before). The final latents are copied out, so
 * that the caller's result is its own; when the loop ends, its arena goes back for the next loop
 * to reuse (wasm/backend.ts' acquireArena: held weakly, so it costs no memory the garbage
 * collector wants back).
 */
import { allocateIn, BYTES_PER_ELEMENT } from '../tensor/kernel-memory.js';
import { type DType, emptyLike, type Tensor, type TensorLike, tensorOf } from '../tensor/tensor.js';
import { acquireArena, releaseArena } from '../wasm/backend.js';
import type { KernelInstance } from '../wasm/instance.js';

/** Room for rounding each allocation up to a cache line. */
const SLACK = 64;

export class LoopBuffers {
  private arena: KernelInstance | null = null;

  /**
   * Start a run whose latents are like `start`: reserve an arena (when the WebAssembly backend is
   * in effect) for four tensors of its dtype -- two sample buffers, x0, the guided prediction --
   * and a step workspace for the noise (in the model output's dtype: room for float32 or the
   * latents' dtype, whichever is wider) and thresholding's |x0| of one batch element.
   */
  open(start: TensorLike, type: DType): void {
    const n = start.data.length;
    const size = BYTES_PER_ELEMENT[type];
    const batch = start.dims.length > 0 && start.dims[0] > 0 ? start.dims[0] : 1;
    const workspace = n * Math.max(4, size) + Math.ceil(n / batch) * 8 + 2 * SLACK;
    try {
      this.arena = acquireArena(4 * (n * size + SLACK), workspace);
    } catch {
      // memory.grow refused (a 32-bit memory holds at most 4 GiB): ordinary arrays, the copy path.
      this.arena = null;
    }
  }

  /**
   * A new tensor with `t`'s dims, of `dtype`, for the loop to write before it reads it: in the
   * arena when it fits (zeros in a new arena, what the last run left in a reused one), else an
   * ordinary zero one.
   */
  emptyLike(t: TensorLike, dtype: DType): Tensor {
    const data = this.arena === null ? null : allocateIn(this.arena, dtype, t.data.length);
    return data === null ? emptyLike(t, dtype) : tensorOf(data, [...t.dims], dtype);
  }

  /**
   * The run's first sample buffer from `start` (a fresh tensor the loop may write): a copy in the
   * arena when it fits, else `start` itself.
   */
  adopt(start: Tensor): Tensor {
    if (this.arena === null) return start;
    const data = allocateIn(this.arena, start.type, start.data.length);
    if (data === null) return start;
    data.set(start.data as never);
    return tensorOf(data, [...start.dims], start.type);
  }

  /** `t` as the caller's to keep: copied out of the arena (one pass), ordinary arrays as they are. */
  release(t: Tensor): Tensor {
    const arena = this.arena;
    if (arena === null || t.data.buffer !== arena.buffer()) return t;
    return tensorOf(t.data.slice(), [...t.dims], t.type);
  }

  /**
   * End the run: the arena goes back for the next loop to reuse (held weakly: its memory goes when
   * the garbage collector takes it and nothing holds a view of it).
   */
  close(): void {
    if (this.arena !== null) releaseArena(this.arena);
    this.arena = null;
  }
}
