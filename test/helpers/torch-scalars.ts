/**
 * diffusers computes a step's scalars (1 - alpha_bar, the square roots, eta * sqrt(variance)) as
 * 0-dim float32 torch tensors: each operation rounded to float32. References that restate
 * diffusers' formulas use these instead of float64 arithmetic.
 */
const f32 = Math.fround;

/** `x ** 0.5` of a 0-dim float32 tensor. */
export function sqrt32(x: number): number {
  return f32(Math.sqrt(x));
}

/** `a - b` (a Python float or float32 tensor minus a float32 tensor), rounded to float32. */
export function sub32(a: number, b: number): number {
  return f32(a - b);
}

/** `(1 - a) ** 0.5` in float32 steps. */
export function sqrtOneMinus32(a: number): number {
  return sqrt32(sub32(1, a));
}
