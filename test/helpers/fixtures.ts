/**
 * Loading the reference vectors (test/fixtures, copied from ../shared/fixtures) and the
 * comparison rule of their README: |got - want| <= tol * max(1, max|want|) per expected tensor.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
export const fixtureDir = join(here, '..', 'fixtures');

export interface FixtureFile<C> {
  source: string;
  layout: string;
  cases: C[];
}

/** A case of loops.json or inverse_loops.json: a whole eta = 0 loop with the toy model. */
export interface LoopCase {
  config_name: string;
  config: Record<string, unknown>;
  num_inference_steps: number;
  model: string;
  shape: number[];
  initial: number[];
  final: number[];
  timesteps?: number[];
  abs_sum?: number;
  tol: number;
}

/** A case of loops_generator.json: the same loop with eta > 0 noise from a seeded generator. */
export interface GeneratorLoopCase extends LoopCase {
  eta: number;
  generator_seed: number | string;
  diffusers_gives_nan?: boolean;
}

/** A case of img2img_timesteps.json: the timesteps an image-to-image run keeps for a strength. */
export interface Img2ImgCase {
  config_name: string;
  config: Record<string, unknown>;
  num_inference_steps: number;
  strength: number;
  timesteps: number[];
}

export function loadFixture<C>(name: string): FixtureFile<C> {
  return JSON.parse(readFileSync(join(fixtureDir, name), 'utf8')) as FixtureFile<C>;
}

/** Largest |got - want| relative to the fixture rule's scale; the case passes when it is <= tol. */
export function fixtureError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let maxAbs = 0;
  for (let i = 0; i < want.length; i++) maxAbs = Math.max(maxAbs, Math.abs(want[i]));
  const scale = Math.max(1, maxAbs);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    // NaN anywhere must fail: compare through !(d <= ...) semantics.
    worst = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(worst, d / scale);
    if (worst === Number.POSITIVE_INFINITY) break;
  }
  return worst;
}

/** Assert one expected tensor under the fixture rule, with a readable failure. */
export function expectClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
  what = 'tensor',
): void {
  const err = fixtureError(got, want);
  expect(err, `${what}: max scaled error ${err} > tol ${tol}`).toBeLessThanOrEqual(tol);
}

export function f32(values: readonly number[]): Float32Array {
  return Float32Array.from(values);
}
