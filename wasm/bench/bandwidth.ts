// Memory bandwidth probes for the benchmarks (cli/src/bench/bandwidth.ts): the most a kernel that streams
// through memory can do on this machine, in the same engine and the same 128-bit SIMD as the
// kernels. Not part of the library's module.

/** Copy n bytes (the engine's memory.copy: a memcpy). */
export function copy(dst: usize, src: usize, n: usize): void {
  memory.copy(dst, src, n);
}

/** STREAM's triad a = b + s c over n float32 values (n a multiple of 4), four at a time. */
export function triad(a: usize, b: usize, c: usize, n: i32, s: f32): void {
  const k = f32x4.splat(s);
  const end = (<usize>n) << 2;
  for (let o: usize = 0; o < end; o += 16) {
    v128.store(a + o, f32x4.add(v128.load(b + o), f32x4.mul(k, v128.load(c + o))));
  }
}

/** Read n float32 values (n a multiple of 8) and return their sum: the read-only stream. */
export function sum(a: usize, n: i32): f32 {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  const end = (<usize>n) << 2;
  for (let o: usize = 0; o < end; o += 32) {
    s0 = f32x4.add(s0, v128.load(a + o));
    s1 = f32x4.add(s1, v128.load(a + o, 16));
  }
  const s = f32x4.add(s0, s1);
  return (
    f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3)
  );
}

export function heapBase(): usize {
  return __heap_base;
}
