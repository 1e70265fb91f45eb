/**
 * Image grids as PNG files: tiles of NCHW tensors in [-1, 1] laid out in rows, upscaled with
 * nearest-neighbour so 32-pixel images stay crisp, encoded with pngjs.
 */

import { ShapeError, type TensorLike } from 'ddim';
import { PNG } from 'pngjs';

export interface GridRow {
  /** Images [N, 3, H, W] (or [N, 1, H, W]) with values in [-1, 1]. */
  images: TensorLike;
  /** Which images of the tensor to show, in order (default: all). */
  indices?: ArrayLike<number>;
}

export interface GridOptions {
  /** Tiles per row; longer rows wrap. */
  columns: number;
  /** Integer upscaling factor. Default 3. */
  scale?: number;
  /** Gap between tiles in output pixels. Default 4. */
  gap?: number;
  /** Extra gap between row groups (each GridRow starts a new group). Default 3 * gap. */
  groupGap?: number;
  /** Background colour, RGB 0..255. Default mid-grey (so black and white tiles both show their edges). */
  background?: [number, number, number];
}

export interface RgbaImage {
  width: number;
  height: number;
  /** RGBA bytes, row-major. */
  data: Uint8Array;
}

function toByte(v: number): number {
  // [-1, 1] -> [0, 255], clamped: a sample may overshoot slightly.
  const b = Math.round((v + 1) * 127.5);
  return b < 0 ? 0 : b > 255 ? 255 : b;
}

function tileDims(images: TensorLike): { channels: number; h: number; w: number } {
  const d = images.dims;
  if (d.length !== 4 || (d[1] !== 3 && d[1] !== 1)) {
    throw new ShapeError({
      field: 'images',
      value: [...d],
      problem: 'must be shaped [N, 3, H, W] or [N, 1, H, W]',
      fix: 'pass a batch of RGB or grey images in NCHW layout.',
    });
  }
  return { channels: d[1], h: d[2], w: d[3] };
}

/** Lay out groups of tiles (e.g. a group of samples, then a group of their nearest dataset images). */
export function imageGrid(groups: GridRow[], options: GridOptions): RgbaImage {
  const scale = options.scale ?? 3;
  const gap = options.gap ?? 4;
  const groupGap = options.groupGap ?? 3 * gap;
  const [br, bgG, bb] = options.background ?? [128, 128, 128];
  const columns = options.columns;
  if (groups.length === 0) {
    throw new ShapeError({
      field: 'groups',
      value: groups,
      problem: 'must not be empty',
      fix: 'pass at least one group of images to lay out.',
    });
  }
  const { h, w } = tileDims(groups[0].images);
  const tileH = h * scale;
  const tileW = w * scale;
  const layout = groups.map((g) => {
    const dims = tileDims(g.images);
    if (dims.h !== h || dims.w !== w) {
      throw new ShapeError({
        field: 'images',
        value: [...g.images.dims],
        problem: `must all have the same height and width (${h}x${w})`,
      });
    }
    const n = g.indices?.length ?? g.images.dims[0];
    return { group: g, n, rows: Math.ceil(n / columns) };
  });
  const width = gap + columns * (tileW + gap);
  let height = gap;
  for (const [i, l] of layout.entries()) height += l.rows * (tileH + gap) + (i > 0 ? groupGap - gap : 0);
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    data[4 * p] = br;
    data[4 * p + 1] = bgG;
    data[4 * p + 2] = bb;
    data[4 * p + 3] = 255;
  }
  let top = gap;
  for (const [gi, { group, n, rows }] of layout.entries()) {
    if (gi > 0) top += groupGap - gap;
    const { channels } = tileDims(group.images);
    const plane = h * w;
    const src = group.images.data;
    for (let k = 0; k < n; k++) {
      const index = group.indices ? group.indices[k] : k;
      const x0 = gap + (k % columns) * (tileW + gap);
      const y0 = top + Math.floor(k / columns) * (tileH + gap);
      const base = index * channels * plane;
      for (let y = 0; y < tileH; y++) {
        const sy = Math.floor(y / scale);
        for (let x = 0; x < tileW; x++) {
          const sx = Math.floor(x / scale);
          const o = 4 * ((y0 + y) * width + x0 + x);
          for (let c = 0; c < 3; c++) {
            data[o + c] = toByte(src[base + (channels === 3 ? c : 0) * plane + sy * w + sx]);
          }
        }
      }
    }
    top += rows * (tileH + gap);
  }
  return { width, height, data };
}

/** Encode an RGBA image as PNG bytes. */
export function encodePng(image: RgbaImage): Buffer {
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return PNG.sync.write(png);
}

/** Decode PNG bytes (used by tests and to check what was written). */
export function decodePng(bytes: Buffer): RgbaImage {
  const png = PNG.sync.read(bytes);
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}
