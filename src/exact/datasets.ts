/**
 * The built-in image set: small RGB pictures of simple shapes, generated deterministically in code
 * (no download, identical in Node and the browser). With `datasetDenoiser` it is an *exact* image
 * model: the denoiser that a perfectly trained network would converge to for this finite set, so
 * everything a sample shows comes from the scheduler, not from a model's imperfections.
 *
 * The set spans a wide range of brightness on purpose: backgrounds go from near-black to
 * near-white (spread evenly by a low-discrepancy sequence), which is what the zero-terminal-SNR
 * experiment needs (Lin et al. 2024, "Common Diffusion Noise Schedules and Sample Steps are
 * Flawed": schedules whose last timestep keeps some signal cannot reach very dark or very bright
 * images).
 */
import { ArgumentError } from '../errors.js';
import { checkNumber, guarded, unreadable } from '../guard.js';
import type { Float32Tensor } from '../tensor/tensor.js';

/** The shapes the dataset draws, in the order its images cycle through them. */
export const SHAPE_KINDS = ['disc', 'square', 'ring', 'stripes', 'gradient', 'triangle'] as const;
/** One of {@link SHAPE_KINDS}. */
export type ShapeKind = (typeof SHAPE_KINDS)[number];

/** Options of {@link shapesDataset}. */
export interface ShapesDatasetOptions {
  /** Image height and width in pixels. Default 32. */
  size?: number;
  /** Number of images. Default 48 (each shape at 8 brightness levels). */
  count?: number;
}

/** What {@link shapesDataset} makes: the images and the shape in each. */
export interface ShapesDataset {
  /** The images, [count, 3, size, size], values in [-1, 1] (the range diffusion models use). */
  images: Float32Tensor;
  /** The shape drawn in each image. */
  kinds: ShapeKind[];
}

/** Points in [0, 1) spread evenly whatever prefix is taken (additive recurrence, Weyl sequence). */
function weyl(i: number, irrational: number): number {
  const v = (i + 1) * irrational;
  return v - Math.floor(v);
}

const GOLDEN = 0.6180339887498949;
const SQRT2_FRAC = 0.41421356237309515;
const SQRT3_FRAC = 0.7320508075688772;
const SQRT5_FRAC = 0.2360679774997898;
const PLASTIC = 0.7548776662466927;

/** 4x4 supersampling offsets inside a pixel, so edges are anti-aliased and shapes look like shapes. */
const SUB = 4;

interface Design {
  kind: ShapeKind;
  background: [number, number, number];
  foreground: [number, number, number];
  cx: number;
  cy: number;
  radius: number;
  angle: number;
  period: number;
}

/**
 * An RGB colour of a given brightness with a tint whose strength shrinks near black and white
 * (so near-black stays near-black): level + saturation * min(level, 1 - level) * cos(hue + k 2pi/3).
 */
function tint(level: number, hue: number, saturation: number): [number, number, number] {
  const room = Math.min(level, 1 - level);
  const c = (k: number) => level + saturation * room * Math.cos(hue + (2 * Math.PI * k) / 3);
  return [c(0), c(1), c(2)];
}

function design(i: number): Design {
  const kind = SHAPE_KINDS[i % SHAPE_KINDS.length];
  // Background brightness 0.02 .. 0.98, evenly spread over the set whatever its size.
  const bg = 0.02 + 0.96 * weyl(i, GOLDEN);
  // The shape contrasts with the background, towards mid-grey, by 0.1 .. 0.4 (clamped to [0.02, 0.98]),
  // so near-black images stay dark overall and near-white ones stay bright.
  const contrast = 0.1 + 0.3 * weyl(i, SQRT2_FRAC);
  const fg = Math.min(0.98, Math.max(0.02, bg < 0.5 ? bg + contrast : bg - contrast));
  const hue = 2 * Math.PI * weyl(i, SQRT3_FRAC);
  return {
    kind,
    background: tint(bg, hue, 0.6),
    foreground: tint(fg, hue + 2, 0.9),
    cx: 0.32 + 0.36 * weyl(i, SQRT5_FRAC),
    cy: 0.32 + 0.36 * weyl(i, PLASTIC),
    radius: 0.18 + 0.14 * weyl(i, GOLDEN * SQRT2_FRAC),
    angle: Math.PI * weyl(i, SQRT3_FRAC * SQRT5_FRAC),
    period: 0.16 + 0.14 * weyl(i, PLASTIC * GOLDEN),
  };
}

/**
 * How much of the foreground covers the point (u, v) in unit image coordinates: 1 inside the shape,
 * 0 outside; the gradient returns a fraction.
 */
function coverage(d: Design, u: number, v: number): number {
  const dx = u - d.cx;
  const dy = v - d.cy;
  switch (d.kind) {
    case 'disc':
      return dx * dx + dy * dy <= d.radius * d.radius ? 1 : 0;
    case 'square': {
      // A square rotated by `angle`.
      const c = Math.cos(d.angle);
      const s = Math.sin(d.angle);
      return Math.abs(c * dx + s * dy) <= d.radius && Math.abs(-s * dx + c * dy) <= d.radius ? 1 : 0;
    }
    case 'ring': {
      const r = Math.sqrt(dx * dx + dy * dy);
      return r <= d.radius * 1.25 && r >= d.radius * 0.7 ? 1 : 0;
    }
    case 'stripes': {
      const p = Math.cos(d.angle) * u + Math.sin(d.angle) * v;
      const phase = p / d.period - Math.floor(p / d.period);
      return phase < 0.5 ? 1 : 0;
    }
    case 'gradient': {
      // A linear ramp from background to foreground across the image, in direction `angle`.
      const p = Math.cos(2 * d.angle) * (u - 0.5) + Math.sin(2 * d.angle) * (v - 0.5);
      return Math.min(1, Math.max(0, p / 0.7 + 0.5));
    }
    case 'triangle': {
      // An upward triangle with its centroid at (cx, cy): inside when below both slanted edges and above the base.
      const h = d.radius * 2;
      const top = d.cy - (2 * h) / 3;
      const base = d.cy + h / 3;
      if (v < top || v > base) return 0;
      const halfWidth = ((v - top) / h) * (h / Math.sqrt(3)) * 1.2;
      return Math.abs(dx) <= halfWidth ? 1 : 0;
    }
  }
}

/**
 * Generate the shapes image set: `count` RGB images of `size` x `size` pixels, values in [-1, 1],
 * laid out [count, 3, size, size] (NCHW, as diffusion models take them). Deterministic: the same
 * options always give the same bits, on every platform.
 */
export function shapesDataset(options: ShapesDatasetOptions = {}): ShapesDataset {
  if (options === null || typeof options !== 'object') {
    throw new ArgumentError({
      field: 'options',
      value: options,
      problem: 'must be an object',
      fix: 'pass { size, count } or nothing.',
    });
  }
  const [rawSize, rawCount] = guarded(
    () => [options.size, options.count],
    unreadable(ArgumentError, 'options', 'pass a plain { size, count } object.'),
  );
  const size = checkNumber(
    rawSize ?? 32,
    'size',
    { integer: true, min: 4, max: 256 },
    'use an image size such as 32.',
  );
  const count = checkNumber(
    rawCount ?? 48,
    'count',
    { integer: true, min: 1, max: 4096 },
    'use a count such as 48.',
  );
  const plane = size * size;
  const data = new Float32Array(count * 3 * plane);
  const kinds: ShapeKind[] = [];
  const inv = 1 / (size * SUB);
  for (let i = 0; i < count; i++) {
    const d = design(i);
    kinds.push(d.kind);
    const base = i * 3 * plane;
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let cover = 0;
        for (let sy = 0; sy < SUB; sy++) {
          for (let sx = 0; sx < SUB; sx++) {
            cover += coverage(d, (x * SUB + sx + 0.5) * inv, (y * SUB + sy + 0.5) * inv);
          }
        }
        cover /= SUB * SUB;
        for (let c = 0; c < 3; c++) {
          const value = d.background[c] + cover * (d.foreground[c] - d.background[c]);
          data[base + c * plane + y * size + x] = 2 * value - 1;
        }
      }
    }
  }
  return { images: { data, dims: [count, 3, size, size], type: 'float32' }, kinds };
}
