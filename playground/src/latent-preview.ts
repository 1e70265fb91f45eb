/**
 * A cheap picture of latents without the VAE decoder: each latent pixel's colour as an affine map
 * of its channels (RGB = W z + b), fitted by least squares to what the model's own VAE decoder
 * made of latents it was given (each decoded image averaged over the f x f block a latent pixel
 * becomes). A Stable Diffusion VAE is close to such a map at the colour level, which is why latent
 * previews work at all; fitting it on the loaded model, rather than using fixed coefficients,
 * makes it right for whatever VAE the folder has (and tells nothing false about random test
 * weights: their fit is simply poor).
 *
 * The fit accumulates the normal equations over every decoded pair the panel sees (each run's
 * first x0 preview and final image), so it improves as the model is used. Ridge-regularised: one
 * smooth early x0 leaves the equations close to singular.
 */

/** Sums of the normal equations: X^T X ((C + 1)^2) and X^T Y ((C + 1) x 3), X rows = [z, 1]. */
export class LatentColourFit {
  private readonly xtx: Float64Array;
  private readonly xty: Float64Array;
  private count = 0;
  private solved: Float64Array | null = null;

  constructor(readonly channels: number) {
    const k = channels + 1;
    this.xtx = new Float64Array(k * k);
    this.xty = new Float64Array(k * 3);
  }

  /** Latent pixels seen so far. */
  get samples(): number {
    return this.count;
  }

  /**
   * Add one image: `latents` are its `[C, h, w]` channels (one batch element, row-major), `rgba`
   * its decoded `(h f) x (w f)` RGBA bytes.
   */
  add(latents: Float32Array, h: number, w: number, rgba: Uint8ClampedArray, f: number): void {
    const C = this.channels;
    const k = C + 1;
    const plane = h * w;
    const width = w * f;
    const x = new Float64Array(k);
    const rgb = [0, 0, 0];
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const p = i * w + j;
        for (let c = 0; c < C; c++) x[c] = latents[c * plane + p];
        x[C] = 1;
        rgb[0] = rgb[1] = rgb[2] = 0;
        for (let di = 0; di < f; di++) {
          const row = (i * f + di) * width;
          for (let dj = 0; dj < f; dj++) {
            const o = (row + j * f + dj) * 4;
            rgb[0] += rgba[o];
            rgb[1] += rgba[o + 1];
            rgb[2] += rgba[o + 2];
          }
        }
        for (let a = 0; a < k; a++) {
          for (let b = 0; b < k; b++) this.xtx[a * k + b] += x[a] * x[b];
          for (let c = 0; c < 3; c++) this.xty[a * 3 + c] += (x[a] * rgb[c]) / (f * f);
        }
      }
    }
    this.count += plane;
    this.solved = null;
  }

  /** The fitted map: (C + 1) x 3 (rows: channels, then the bias), or null before any data. */
  coefficients(): Float64Array | null {
    if (this.count === 0) return null;
    if (this.solved !== null) return this.solved;
    const k = this.channels + 1;
    // Ridge: a small multiple of the mean diagonal, so that a near-constant x0 still gives a map.
    let trace = 0;
    for (let a = 0; a < k; a++) trace += this.xtx[a * k + a];
    const lambda = (1e-4 * trace) / k;
    const m = new Float64Array(k * (k + 3));
    for (let a = 0; a < k; a++) {
      for (let b = 0; b < k; b++)
        m[a * (k + 3) + b] = this.xtx[a * k + b] + (a === b && a < k - 1 ? lambda : 0);
      for (let c = 0; c < 3; c++) m[a * (k + 3) + k + c] = this.xty[a * 3 + c];
    }
    // Gauss-Jordan with partial pivoting on [X^T X | X^T Y].
    const cols = k + 3;
    for (let col = 0; col < k; col++) {
      let pivot = col;
      for (let r = col + 1; r < k; r++)
        if (Math.abs(m[r * cols + col]) > Math.abs(m[pivot * cols + col])) pivot = r;
      if (Math.abs(m[pivot * cols + col]) < 1e-12) return null;
      if (pivot !== col) {
        for (let c = 0; c < cols; c++) {
          const t = m[col * cols + c];
          m[col * cols + c] = m[pivot * cols + c];
          m[pivot * cols + c] = t;
        }
      }
      const d = m[col * cols + col];
      for (let c = 0; c < cols; c++) m[col * cols + c] /= d;
      for (let r = 0; r < k; r++) {
        if (r === col) continue;
        const factor = m[r * cols + col];
        if (factor === 0) continue;
        for (let c = 0; c < cols; c++) m[r * cols + c] -= factor * m[col * cols + c];
      }
    }
    const out = new Float64Array(k * 3);
    for (let a = 0; a < k; a++) for (let c = 0; c < 3; c++) out[a * 3 + c] = m[a * cols + k + c];
    this.solved = out;
    return out;
  }

  /**
   * The preview of `[C, h, w]` latents: RGBA of `(h f) x (w f)` pixels, each latent pixel's fitted
   * colour repeated over its block (the decoder's size, so previews line up), or null before a fit.
   */
  render(latents: Float32Array, h: number, w: number, f: number): Uint8ClampedArray | null {
    const coef = this.coefficients();
    if (coef === null) return null;
    const C = this.channels;
    const plane = h * w;
    const width = w * f;
    const out = new Uint8ClampedArray(plane * f * f * 4);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++) {
        const p = i * w + j;
        const rgb = [coef[C * 3], coef[C * 3 + 1], coef[C * 3 + 2]];
        for (let c = 0; c < C; c++) {
          const z = latents[c * plane + p];
          for (let o = 0; o < 3; o++) rgb[o] += z * coef[c * 3 + o];
        }
        for (let di = 0; di < f; di++) {
          const row = (i * f + di) * width;
          for (let dj = 0; dj < f; dj++) {
            const o = (row + j * f + dj) * 4;
            // Uint8ClampedArray rounds and clamps.
            out[o] = rgb[0];
            out[o + 1] = rgb[1];
            out[o + 2] = rgb[2];
            out[o + 3] = 255;
          }
        }
      }
    }
    return out;
  }
}
