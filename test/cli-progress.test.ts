/**
 * The download progress of `ddim generate` (cli/src/progress.ts): on a terminal one bar per file;
 * elsewhere (piped, captured, CI) no bars but one line per downloaded file; nothing at all with
 * --no-progress. Driven with the events a model source reports (`onProgress({ file, loaded, total })`).
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CliContext } from '../cli/src/context.js';
import { byteSize, downloadProgress } from '../cli/src/progress.js';

function context(isTTY: boolean): { ctx: CliContext; stderr: () => string } {
  const stream = Object.assign(new PassThrough(), { isTTY, columns: 120 });
  let text = '';
  stream.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  const ctx: CliContext = {
    stdout: new PassThrough(),
    stderr: stream,
    verbose: false,
    warn() {},
    print() {},
  };
  return { ctx, stderr: () => text };
}

const EVENTS = [
  { file: 'unet/model.onnx', loaded: 0, total: 3_440_000 },
  { file: 'text_encoder/model.onnx', loaded: 500, total: null },
  { file: 'unet/model.onnx', loaded: 1_000_000, total: 3_440_000 },
  { file: 'unet/model.onnx', loaded: 3_440_000, total: 3_440_000 },
  { file: 'unet/model.onnx', loaded: 3_440_000, total: 3_440_000 },
  { file: 'text_encoder/model.onnx', loaded: 1500, total: null },
];

describe('downloadProgress', () => {
  it('without a terminal: one line per file when it is complete (unknown sizes when the download ends)', async () => {
    const { ctx, stderr } = context(false);
    const progress = downloadProgress(ctx, true);
    for (const e of EVENTS.slice(0, 5)) progress.onProgress(e);
    await new Promise((resolve) => setImmediate(resolve));
    expect(stderr()).toBe('downloaded unet/model.onnx (3.44 MB)\n');
    progress.onProgress(EVENTS[5]);
    progress.stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(stderr()).toBe(
      'downloaded unet/model.onnx (3.44 MB)\ndownloaded text_encoder/model.onnx (1.50 kB)\n',
    );
  });

  it('on a terminal: a bar per file with its size; nothing with --no-progress', async () => {
    const { ctx, stderr } = context(true);
    const progress = downloadProgress(ctx, true);
    for (const e of EVENTS) progress.onProgress(e);
    progress.stop();
    await new Promise((resolve) => setImmediate(resolve));
    const text = stderr();
    expect(text).toContain('unet/model.onnx');
    expect(text).toContain('100% 3.44 MB/3.44 MB');
    expect(text).toContain('text_encoder/model.onnx');
    expect(text).toContain('1.50 kB/?');
    const quiet = context(true);
    const none = downloadProgress(quiet.ctx, false);
    for (const e of EVENTS) none.onProgress(e);
    none.stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(quiet.stderr()).toBe('');
  });

  it('byteSize: decimal units with 3 significant digits', () => {
    expect([0, 999, 1000, 1536, 3_440_000, 1_720_000_000, 2.5e12].map(byteSize)).toEqual([
      '0 B',
      '999 B',
      '1.00 kB',
      '1.54 kB',
      '3.44 MB',
      '1.72 GB',
      '2.50 TB',
    ]);
  });
});
