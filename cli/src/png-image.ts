/**
 * PNG files in and out of the Stable Diffusion pipeline (pngjs): a starting image of any PNG colour
 * type (grey, grey + alpha, RGB, RGBA, palette; 1 to 16 bits) read as the 8-bit RGBA the pipeline
 * takes, and the pipeline's RGBA images written as RGB PNGs (their alpha is always 255, and an RGB
 * file is what diffusers' PIL images save as).
 *
 * The reading follows what diffusers' users give it, `PIL.Image.open(path).convert("RGB")`:
 * - alpha is dropped, not composited (the pipeline drops it the same way), so transparent pixels
 *   keep the colour they store; the caller is told when the file has any transparency;
 * - 16-bit samples keep their high byte (`v >> 8`), as PIL reads 16-bit RGB / RGBA PNGs (pngjs would
 *   round `v * 255 / 65535` instead, which differs for some values);
 * - 1, 2 and 4-bit grey are scaled to 0..255 (x 255, 85, 17), as PIL's "1" and "L" modes give;
 * - a tRNS colour key of a grey or RGB file only marks transparency: its pixels keep their colour
 *   (pngjs would zero them), as PIL's convert("RGB") keeps them.
 * 16-bit grey is the one case where PIL differs: its "I;16" to "RGB" conversion clips at 255
 * instead of scaling (a mostly white image); here it is read as the high byte like 16-bit colour.
 */
import { LoadError } from 'ddim';
import { PNG } from 'pngjs';

/** What `readPngImage` gives: the pipeline's `image` input, and facts about the file. */
export interface PngImage {
  width: number;
  height: number;
  /** RGBA, 8 bits per sample, row-major. */
  data: Uint8Array;
  /** The file's bit depth (1, 2, 4, 8 or 16). */
  depth: number;
  /** The file's colour type, as words: 'grey', 'grey + alpha', 'RGB', 'RGBA' or 'palette'. */
  colorType: string;
  /** Whether any pixel is not fully opaque (its alpha is ignored). */
  hasTransparency: boolean;
}

const COLOR_TYPES: Record<number, string> = {
  0: 'grey',
  2: 'RGB',
  3: 'palette',
  4: 'grey + alpha',
  6: 'RGBA',
};

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/**
 * The PNG's bytes without its tRNS chunk when the colour type is grey (0) or RGB (2): there the
 * chunk is a colour key that pngjs applies by zeroing the pixels' colour, and the pipeline drops
 * alpha anyway. Palette files keep it (it gives the palette entries' alpha, the colours stay).
 */
function withoutColourKey(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 33 || SIGNATURE.some((b, i) => bytes[i] !== b)) return bytes;
  const colorType = bytes[8 + 8 + 9]; // IHDR data: width(4) height(4) depth(1) colour type(1)
  if (colorType !== 0 && colorType !== 2) return bytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kept: Uint8Array[] = [bytes.subarray(0, 8)];
  let offset = 8;
  let removed = false;
  while (offset + 12 <= bytes.length) {
    const length = view.getUint32(offset);
    const end = offset + 12 + length;
    if (end > bytes.length) break; // truncated: pngjs reports it
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    if (type === 'tRNS') removed = true;
    else kept.push(bytes.subarray(offset, end));
    offset = end;
  }
  if (!removed) return bytes;
  kept.push(bytes.subarray(offset));
  const out = new Uint8Array(kept.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of kept) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Read a PNG file's bytes as the pipeline's image input (8-bit RGBA). `name` is for messages. */
export function readPngImage(bytes: Uint8Array, name: string): PngImage {
  let png: { width: number; height: number; depth: number; colorType: number; data: ArrayLike<number> };
  try {
    // skipRescale: the samples as stored (16-bit ones in a Uint16Array), converted below.
    png = PNG.sync.read(Buffer.from(withoutColourKey(bytes)), { skipRescale: true }) as unknown as typeof png;
  } catch (cause) {
    throw new LoadError({
      field: '--image',
      value: name,
      problem: `is not a readable PNG file (${cause instanceof Error ? cause.message : String(cause)})`,
      fix: 'pass a PNG image (convert other formats first, e.g. with ImageMagick: convert in.jpg in.png).',
      cause,
    });
  }
  const { width, height, depth, colorType } = png;
  const src = png.data;
  const data = new Uint8Array(width * height * 4);
  // Palette entries are 8-bit colours already; other types are samples of `depth` bits.
  const shift = colorType !== 3 && depth === 16 ? 8 : 0;
  const scale = colorType !== 3 && depth < 8 ? 255 / (2 ** depth - 1) : 1;
  let hasTransparency = false;
  for (let i = 0; i < data.length; i++) {
    const v = src[i];
    data[i] = shift > 0 ? v >> shift : scale !== 1 ? v * scale : v;
  }
  for (let i = 3; i < data.length; i += 4) {
    if (data[i] !== 255) {
      hasTransparency = true;
      break;
    }
  }
  return {
    width,
    height,
    data,
    depth,
    colorType: COLOR_TYPES[colorType] ?? `colour type ${colorType}`,
    hasTransparency,
  };
}

/** An RGBA image (the pipeline's output) as the bytes of an 8-bit RGB PNG. */
export function encodeRgbPng(image: { width: number; height: number; data: ArrayLike<number> }): Buffer {
  const png = new PNG({
    width: image.width,
    height: image.height,
    colorType: 2,
    inputColorType: 6,
    inputHasAlpha: true,
  });
  png.data = Buffer.from(Uint8Array.from(image.data));
  return PNG.sync.write(png, { colorType: 2, inputColorType: 6, inputHasAlpha: true });
}
