// Fixed regions of linear memory, laid out by the compiler in the module's static data (zero at
// instantiation). The JavaScript glue fills the tables once per instance (src/noise/randn-wasm.ts):
// their values come from the JS engine's own Math.log / Math.sin / Math.cos, so that this
// module's noise is bit for bit what the same engine's JavaScript path draws.

/** log(1 + j/256) and 2^-23 / (1 + j/256), j = 0..256, as 257 pairs of f64 (16 bytes a pair). */
export const LOG_PAIRS: usize = memory.data(257 * 16, 16);
/** sin and cos of k * 2pi / 1024, k = 0..1024, as 1025 pairs of f64 (sin first). */
export const SINCOS_PAIRS: usize = memory.data(1025 * 16, 16);
/** The float16 stream's radius for each 11-bit uniform word, as f32 (2048 entries). */
export const HALF_RADIUS: usize = memory.data(2048 * 4, 16);
/** cosf and sinf of the float16 stream's 2048 angles, as pairs of f32 (cos first). */
export const HALF_COSSIN: usize = memory.data(2048 * 8, 16);

/** The mt19937 engine: 624 state words, then the index of the next unused word (0..624). */
export const MT_STATE: usize = memory.data(624 * 4 + 16, 16);
export const MT_INDEX: usize = MT_STATE + 624 * 4;
/** Raw words of a block that straddles a twist (32: a float64 block takes two words a value). */
export const MT_SCRATCH: usize = memory.data(32 * 4, 16);

/** Per-call scalars of the step kernels (f64). */
export const PARAMS: usize = memory.data(16 * 8, 16);

/**
 * Elements per sub-chunk when a step converts dtypes on the way in or out: five f64 arrays of
 * 512 (20 KB) stay in L1 while a chunk is decoded, stepped and encoded.
 */
export const SUB: i32 = 512;
export const SCRATCH_X: usize = memory.data(512 * 8, 16);
export const SCRATCH_M: usize = memory.data(512 * 8, 16);
export const SCRATCH_Z: usize = memory.data(512 * 8, 16);
export const SCRATCH_PREV: usize = memory.data(512 * 8, 16);
export const SCRATCH_X0: usize = memory.data(512 * 8, 16);
