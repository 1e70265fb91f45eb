/**
 * `ddim generate`'s PNG files (cli/src/png-image.ts): a starting image of every PNG colour type and
 * bit depth read as diffusers' users give it (`PIL.Image.open(path).convert("RGB")`), checked
 * against PNG files written byte by byte here (an encoder independent of pngjs, so palette, tRNS and
 * 1 / 2 / 4 / 16-bit files can be made), and the output written as an 8-bit RGB PNG.
 */
import { crc32, deflateSync } from 'node:zlib';
import { LoadError } from 'ddim';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { encodeRgbPng, readPngImage } from '../cli/src/png-image.js';

interface PngSpec {
  width: number;
  height: number;
  depth: 1 | 2 | 4 | 8 | 16;
  /** 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. */
  colorType: 0 | 2 | 3 | 4 | 6;
  /** Samples row by row (channels interleaved), unpacked. */
  samples: number[];
  palette?: [number, number, number][];
  trns?: number[];
}

const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as const;

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A PNG file from its samples: filter 0 on every row, samples packed MSB first (PNG spec 7.2). */
function pngFile(spec: PngSpec): Buffer {
  const perRow = spec.width * CHANNELS[spec.colorType];
  const rowBytes = Math.ceil((perRow * spec.depth) / 8);
  const raw = Buffer.alloc(spec.height * (rowBytes + 1));
  for (let y = 0; y < spec.height; y++) {
    const row = raw.subarray(y * (rowBytes + 1) + 1, (y + 1) * (rowBytes + 1));
    for (let i = 0; i < perRow; i++) {
      const v = spec.samples[y * perRow + i];
      if (spec.depth === 16) row.writeUInt16BE(v, 2 * i);
      else if (spec.depth === 8) row[i] = v;
      else {
        const bit = i * spec.depth;
        row[bit >> 3] |= v << (8 - spec.depth - (bit & 7));
      }
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(spec.width, 0);
  ihdr.writeUInt32BE(spec.height, 4);
  ihdr[8] = spec.depth;
  ihdr[9] = spec.colorType;
  const parts = [Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr)];
  if (spec.palette) parts.push(chunk('PLTE', Buffer.from(spec.palette.flat())));
  if (spec.trns) parts.push(chunk('tRNS', Buffer.from(spec.trns)));
  parts.push(chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}

/** The RGB triples of an RGBA buffer. */
function rgb(data: Uint8Array): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < data.length; i += 4) out.push([data[i], data[i + 1], data[i + 2]]);
  return out;
}

describe('readPngImage: PNG colour types and depths as PIL convert("RGB") gives them', () => {
  it('8-bit RGB and RGBA: the samples; alpha kept in the RGBA, transparency reported', () => {
    const rgbFile = readPngImage(
      pngFile({ width: 2, height: 1, depth: 8, colorType: 2, samples: [1, 2, 3, 250, 128, 0] }),
      'a.png',
    );
    expect(rgb(rgbFile.data)).toEqual([
      [1, 2, 3],
      [250, 128, 0],
    ]);
    expect([rgbFile.width, rgbFile.height, rgbFile.colorType, rgbFile.depth]).toEqual([2, 1, 'RGB', 8]);
    expect(rgbFile.hasTransparency).toBe(false);
    const rgba = readPngImage(
      pngFile({ width: 2, height: 1, depth: 8, colorType: 6, samples: [9, 8, 7, 255, 6, 5, 4, 0] }),
      'b.png',
    );
    // A fully transparent pixel keeps the colour it stores (alpha is dropped, not composited).
    expect(Array.from(rgba.data)).toEqual([9, 8, 7, 255, 6, 5, 4, 0]);
    expect(rgba.hasTransparency).toBe(true);
    expect(rgba.colorType).toBe('RGBA');
  });

  it('grey at 1, 2, 4 and 8 bits: scaled to 0..255 (x 255, 85, 17, 1) and repeated in R, G, B', () => {
    const cases: [1 | 2 | 4 | 8, number[], number[]][] = [
      [1, [0, 1, 1, 0], [0, 255, 255, 0]],
      [2, [0, 1, 2, 3], [0, 85, 170, 255]],
      [4, [0, 1, 7, 15], [0, 17, 119, 255]],
      [8, [0, 1, 127, 255], [0, 1, 127, 255]],
    ];
    for (const [depth, samples, want] of cases) {
      const image = readPngImage(pngFile({ width: 4, height: 1, depth, colorType: 0, samples }), 'g.png');
      expect(rgb(image.data)).toEqual(want.map((v) => [v, v, v]));
      expect(image.hasTransparency).toBe(false);
      expect(image.colorType).toBe('grey');
    }
    const ga = readPngImage(
      pngFile({ width: 2, height: 1, depth: 8, colorType: 4, samples: [10, 255, 200, 30] }),
      'ga.png',
    );
    expect(Array.from(ga.data)).toEqual([10, 10, 10, 255, 200, 200, 200, 30]);
    expect(ga.colorType).toBe('grey + alpha');
  });

  it('16-bit: the high byte of each sample, as PIL reads 16-bit RGB (pngjs would round v * 255 / 65535)', () => {
    // 511 = 0x01FF: high byte 1, where 511 * 255 / 65535 = 1.99 rounds to 2.
    const samples = [511, 0xffff, 0x8000, 0x00ff, 0x7fff, 0x0100];
    const image = readPngImage(pngFile({ width: 2, height: 1, depth: 16, colorType: 2, samples }), 'c.png');
    expect(rgb(image.data)).toEqual([
      [1, 255, 128],
      [0, 127, 1],
    ]);
    expect(image.depth).toBe(16);
    const grey = readPngImage(
      pngFile({ width: 2, height: 1, depth: 16, colorType: 4, samples: [511, 0xffff, 0x1234, 0x00ff] }),
      'd.png',
    );
    expect(Array.from(grey.data)).toEqual([1, 1, 1, 255, 0x12, 0x12, 0x12, 0]);
  });

  it('palette at 8 and 2 bits: the palette colours; tRNS gives entries alpha and the colours stay', () => {
    const palette: [number, number, number][] = [
      [255, 0, 0],
      [0, 255, 0],
      [0, 0, 255],
      [7, 8, 9],
    ];
    for (const depth of [8, 2] as const) {
      const image = readPngImage(
        pngFile({ width: 4, height: 1, depth, colorType: 3, samples: [3, 2, 1, 0], palette, trns: [255, 0] }),
        'p.png',
      );
      expect(rgb(image.data)).toEqual([
        [7, 8, 9],
        [0, 0, 255],
        [0, 255, 0],
        [255, 0, 0],
      ]);
      // Entry 1 (green) is transparent; entries past the tRNS list are opaque.
      expect([image.data[3], image.data[7], image.data[11], image.data[15]]).toEqual([255, 255, 0, 255]);
      expect(image.hasTransparency).toBe(true);
      expect(image.colorType).toBe('palette');
    }
  });

  it("a tRNS colour key of a grey or RGB file keeps the keyed pixels' colour (pngjs alone zeroes them)", () => {
    const keyed = pngFile({
      width: 2,
      height: 1,
      depth: 8,
      colorType: 2,
      samples: [10, 20, 30, 40, 50, 60],
      trns: [0, 10, 0, 20, 0, 30],
    });
    const image = readPngImage(keyed, 'k.png');
    expect(rgb(image.data)).toEqual([
      [10, 20, 30],
      [40, 50, 60],
    ]);
    expect(image.hasTransparency).toBe(false);
    // What pngjs gives on its own for the same bytes: the keyed pixel zeroed.
    expect(Array.from(PNG.sync.read(keyed).data.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    const grey = readPngImage(
      pngFile({ width: 2, height: 1, depth: 8, colorType: 0, samples: [77, 78], trns: [0, 77] }),
      'kg.png',
    );
    expect(rgb(grey.data)).toEqual([
      [77, 77, 77],
      [78, 78, 78],
    ]);
  });

  it('a file that is not a PNG, or a truncated one, is a LoadError naming --image and the file', () => {
    const good = pngFile({ width: 2, height: 2, depth: 8, colorType: 2, samples: new Array(12).fill(5) });
    for (const bytes of [Buffer.from('GIF89a not a png'), good.subarray(0, good.length - 20)]) {
      let error: unknown;
      try {
        readPngImage(bytes, 'in.gif');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(LoadError);
      expect((error as LoadError).field).toBe('--image');
      expect((error as LoadError).message).toContain('in.gif');
    }
  });
});

describe('encodeRgbPng', () => {
  it('writes an 8-bit RGB PNG (colour type 2) of the RGBA pixels', () => {
    const data = new Uint8ClampedArray([1, 2, 3, 255, 200, 100, 0, 255, 9, 9, 9, 255, 255, 255, 255, 255]);
    const bytes = encodeRgbPng({ width: 2, height: 2, data });
    expect([bytes[24], bytes[25]]).toEqual([8, 2]); // IHDR bit depth, colour type
    const back = readPngImage(bytes, 'out.png');
    expect(Array.from(back.data)).toEqual(Array.from(data));
    expect(back.colorType).toBe('RGB');
  });
});
