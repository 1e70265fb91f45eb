/**
 * The Generate panel's cheap x0 preview (playground/src/latent-preview.ts): an affine latent-to-RGB
 * map fitted by least squares to the model's own VAE decodes. Pure module, no DOM.
 */
import { describe, expect, it } from 'vitest';
import { LatentColourFit } from '../playground/src/latent-preview.js';
import { gaussians } from './helpers/random.js';

/** The RGBA picture an exact affine "VAE" makes of [C, h, w] latents, each latent pixel an f x f block. */
function affineDecode(
  latents: Float32Array,
  C: number,
  h: number,
  w: number,
  f: number,
  W: number[][],
  b: number[],
) {
  const out = new Uint8ClampedArray(h * f * w * f * 4);
  for (let i = 0; i < h * f; i++) {
    for (let j = 0; j < w * f; j++) {
      const p = Math.floor(i / f) * w + Math.floor(j / f);
      for (let o = 0; o < 3; o++) {
        let v = b[o];
        for (let c = 0; c < C; c++) v += W[c][o] * latents[c * h * w + p];
        out[(i * w * f + j) * 4 + o] = v;
      }
      out[(i * w * f + j) * 4 + 3] = 255;
    }
  }
  return out;
}

describe('LatentColourFit', () => {
  const C = 4;
  const h = 6;
  const w = 10;
  const f = 2;
  // Colours stay inside [0, 255] for these latents (|z| < 4): no clamping in the truth.
  const W = [
    [20, -5, 3],
    [-8, 15, 2],
    [4, 6, -18],
    [1, -2, 9],
  ];
  const b = [128, 110, 140];

  it('has no map before a decode, then recovers an exact affine decoder to the rounding of its bytes', () => {
    const fit = new LatentColourFit(C);
    expect(fit.coefficients()).toBeNull();
    expect(fit.render(new Float32Array(C * h * w), h, w, f)).toBeNull();
    for (let seed = 1; seed <= 3; seed++) {
      const z = Float32Array.from(gaussians(C * h * w, seed));
      fit.add(z, h, w, affineDecode(z, C, h, w, f, W, b), f);
    }
    expect(fit.samples).toBe(3 * h * w);
    const coef = fit.coefficients()!;
    for (let c = 0; c < C; c++)
      for (let o = 0; o < 3; o++) expect(Math.abs(coef[c * 3 + o] - W[c][o])).toBeLessThan(0.2);
    for (let o = 0; o < 3; o++) expect(Math.abs(coef[C * 3 + o] - b[o])).toBeLessThan(0.3);
    // A new latent's preview is the decoder's picture within a level or two (bytes were rounded).
    const z = Float32Array.from(gaussians(C * h * w, 9));
    const want = affineDecode(z, C, h, w, f, W, b);
    const got = fit.render(z, h, w, f)!;
    expect(got.length).toBe(want.length);
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
    expect(worst).toBeLessThanOrEqual(2);
  });

  it('still gives a map from one flat latent (ridge): the decoded colour', () => {
    const fit = new LatentColourFit(C);
    const z = new Float32Array(C * h * w).fill(0.5);
    const rgba = affineDecode(z, C, h, w, f, W, b);
    fit.add(z, h, w, rgba, f);
    const got = fit.render(z, h, w, f)!;
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i] - rgba[i])).toBeLessThanOrEqual(1);
  });
});
