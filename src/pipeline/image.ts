/**
 * Pictures in and out of the pipeline, as diffusers' `VaeImageProcessor` converts them:
 *
 *   preprocess   uint8 RGB -> float32(u8) / 255 (numpy float32), HWC -> CHW, 2x - 1 (torch float32)
 *   postprocess  (x / 2 + 0.5).clamp(0, 1) (torch float32), CHW -> HWC,
 *                (x * 255).round().astype(uint8) (numpy: float32 multiply, round half to even)
 *
 * Every operation is a float32 operation in diffusers, so each is rounded to float32 here
 * (`Math.fround`) at the same points; the results equal diffusers' bit for bit (the fixture's
 * `postprocess_edge_cases`: 192 values whose `x * 255` is exactly k + 0.5, where `Math.round`
 * would be wrong on half of them).
 *
 * Images come in as `{ width, height, data }` with 8-bit RGBA (an `ImageData`) or RGB rows and go
 * out as RGBA `{ width, height, data: Uint8ClampedArray }`: a real `ImageData` where the global
 * exists (browsers), a plain object of the same shape elsewhere (Node: ready for a PNG encoder).
 */
import { ArgumentError } from '../errors.js';
import { roundHalfEven } from '../scheduler/timesteps.js';
import type { Float32Tensor } from '../tensor/tensor.js';

/** An RGBA picture: an `ImageData` in browsers, a plain object of the same shape elsewhere. */
export interface PipelineImage {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** `width * height * 4` bytes, row-major RGBA (alpha 255). */
  readonly data: Uint8ClampedArray;
}

/**
 * A picture given to the pipeline (image-to-image): 8-bit pixels, row-major, RGBA
 * (`width * height * 4` bytes: an `ImageData`, or decoded PNG pixels) or RGB
 * (`width * height * 3` bytes). Alpha is dropped, as PIL's `convert("RGB")` does.
 */
export interface ImageInput {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** The pixels: RGBA or RGB bytes, row by row. */
  readonly data: Uint8Array | Uint8ClampedArray;
}

/** An image input after checking: its size, and the channels its data has. */
export interface CheckedImage {
  width: number;
  height: number;
  channels: 3 | 4;
  data: Uint8Array | Uint8ClampedArray;
}

/** Check an image input; the data is read once (a copy is not made: the caller's bytes are only read). */
export function checkImage(image: unknown, field: string): CheckedImage {
  if (image === null || typeof image !== 'object') {
    throw new ArgumentError({
      field,
      value: image,
      problem: 'must be an image { width, height, data } with 8-bit RGBA or RGB pixels',
      fix: 'pass an ImageData (canvas getImageData), or decoded PNG pixels { width, height, data }.',
    });
  }
  let width: unknown;
  let height: unknown;
  let data: unknown;
  try {
    ({ width, height, data } = image as ImageInput);
  } catch (cause) {
    throw new ArgumentError({
      field,
      problem: 'could not be read',
      fix: 'pass a plain { width, height, data } object or an ImageData.',
      cause,
    });
  }
  for (const [name, value] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65536) {
      throw new ArgumentError({
        field: `${field}.${name}`,
        value,
        problem: 'must be a whole number of pixels from 1 to 65536',
        fix: 'pass the picture size in pixels.',
      });
    }
  }
  if (!(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    throw new ArgumentError({
      field: `${field}.data`,
      value: data,
      problem: 'must be a Uint8Array or Uint8ClampedArray of RGBA or RGB bytes',
      fix: 'pass ImageData.data, or the decoded pixels of a PNG.',
    });
  }
  const pixels = (width as number) * (height as number);
  const channels = data.length === pixels * 4 ? 4 : data.length === pixels * 3 ? 3 : null;
  if (channels === null) {
    throw new ArgumentError({
      field: `${field}.data`,
      value: data,
      problem: `has ${data.length} bytes; a ${width} x ${height} picture has ${pixels * 4} (RGBA) or ${pixels * 3} (RGB)`,
      fix: 'pass width and height of the pixels given, with 4 (RGBA) or 3 (RGB) bytes per pixel.',
    });
  }
  return { width: width as number, height: height as number, channels, data };
}

/**
 * `VaeImageProcessor.preprocess` of an RGB(A) picture: `[1, 3, height, width]` float32 in [-1, 1],
 * `2 * (u8 / 255) - 1` with diffusers' float32 roundings (numpy's float32 division, torch's float32
 * multiply and subtract).
 */
export function preprocessImage(image: CheckedImage): Float32Tensor {
  const { width, height, channels, data } = image;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      // float32(u8) / 255.0 in numpy float32; the double quotient rounded once to float32 is the
      // correctly rounded float32 quotient. Then 2.0 * x (exact) - 1.0, rounded.
      const x = Math.fround(data[p * channels + c] / 255);
      out[c * plane + p] = Math.fround(2 * x - 1);
    }
  }
  return { data: out, dims: [1, 3, height, width], type: 'float32' };
}

/**
 * One byte of `VaeImageProcessor.postprocess(..., output_type="pil")`: `(x / 2 + 0.5).clamp(0, 1)`
 * in float32, then numpy's `(x * 255).round()` (a float32 product, rounded half to even).
 */
export function postprocessValue(x: number): number {
  let y = Math.fround(x / 2 + 0.5);
  if (y < 0) y = 0;
  else if (y > 1) y = 1;
  else if (Number.isNaN(y)) return 0; // unreachable for checked decoder output; never a NaN byte
  return roundHalfEven(Math.fround(y * 255));
}

/** `[B, 3, H, W]` decoder output in [-1, 1] -> B RGBA pictures. */
export function postprocessImages(decoded: Float32Tensor): PipelineImage[] {
  const [batch, , height, width] = decoded.dims;
  const plane = width * height;
  const src = decoded.data;
  const images: PipelineImage[] = [];
  for (let b = 0; b < batch; b++) {
    const rgba = new Uint8ClampedArray(plane * 4);
    const base = b * 3 * plane;
    for (let p = 0; p < plane; p++) {
      rgba[p * 4] = postprocessValue(src[base + p]);
      rgba[p * 4 + 1] = postprocessValue(src[base + plane + p]);
      rgba[p * 4 + 2] = postprocessValue(src[base + 2 * plane + p]);
      rgba[p * 4 + 3] = 255;
    }
    images.push(makeImage(width, height, rgba));
  }
  return images;
}

/** An `ImageData` where the runtime has one (browsers, workers), else a plain object of its shape. */
function makeImage(width: number, height: number, data: Uint8ClampedArray): PipelineImage {
  const ImageDataClass = (
    globalThis as { ImageData?: new (d: Uint8ClampedArray, w: number, h: number) => PipelineImage }
  ).ImageData;
  return typeof ImageDataClass === 'function'
    ? new ImageDataClass(data, width, height)
    : { width, height, data };
}

/** The multiples of `factor` nearest `size` from below and above, for messages ("64 or 72"). */
export function nearestMultiples(size: number, factor: number): string {
  const below = Math.floor(size / factor) * factor;
  const above = below + factor;
  return below >= factor ? `${below} or ${above}` : `${above}`;
}
