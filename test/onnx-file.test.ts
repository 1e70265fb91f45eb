/**
 * The ONNX file walk (onnx-file.ts): which external data files a model names, from the model's
 * own entries: the two public layouts (tiny-sd-external), tensors in initializers, Constant nodes
 * and subgraphs, the size each file must have, and the LoadErrors for files that are not models or
 * that point outside the model's folder.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import onnxProto, { type onnx as Onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import {
  type ByteReader,
  bytesReader,
  externalDataPath,
  inspectOnnxModel,
} from '../src/loading/onnx-file.js';
import { loadError } from './helpers/hub-server.js';
import { TINY_SD, TINY_SD_EXTERNAL, UNET_WEIGHTS_BYTES, VAE_DATA_BYTES } from './helpers/model-repo.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const EXTERNAL = onnx.TensorProto.DataLocation.EXTERNAL;

function externalTensor(name: string, location: string, offset: number, length?: number): Onnx.ITensorProto {
  const entries = [
    { key: 'location', value: location },
    { key: 'offset', value: String(offset) },
  ];
  if (length !== undefined) entries.push({ key: 'length', value: String(length) });
  return { name, dataType: FLOAT, dims: [2, 3], dataLocation: EXTERNAL, externalData: entries };
}

function model(graph: Onnx.IGraphProto): Uint8Array {
  return onnx.ModelProto.encode(
    onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph }),
  ).finish();
}

const scan = async (bytes: Uint8Array) =>
  (await inspectOnnxModel(bytesReader(bytes), 'unet/model.onnx', '/x/unet/model.onnx')).externalFiles;

describe('inspectOnnxModel', () => {
  it("finds the two public layouts' files and the bytes their tensors need", async () => {
    const unet = readFileSync(path.join(TINY_SD_EXTERNAL, 'unet', 'model.onnx'));
    expect(await scan(unet)).toEqual([
      { location: 'weights.pb', minBytes: UNET_WEIGHTS_BYTES, tensors: 127 },
    ]);
    const vae = readFileSync(path.join(TINY_SD_EXTERNAL, 'vae_decoder', 'model.onnx'));
    expect(await scan(vae)).toEqual([{ location: 'model.onnx_data', minBytes: VAE_DATA_BYTES, tensors: 20 }]);
    for (const m of ['unet', 'text_encoder', 'vae_decoder', 'vae_encoder']) {
      expect(await scan(readFileSync(path.join(TINY_SD, m, 'model.onnx')))).toEqual([]);
    }
    expect(externalDataPath('unet/model.onnx', 'weights.pb')).toBe('unet/weights.pb');
    expect(externalDataPath('model.onnx', 'w/a.bin')).toBe('w/a.bin');
  });

  it('finds tensors in Constant nodes, subgraphs and sparse initializers; sizes from dims without a length', async () => {
    const bytes = model({
      name: 'g',
      initializer: [externalTensor('a', 'one.bin', 0, 24), externalTensor('b', 'one.bin', 24)],
      sparseInitializer: [
        { values: externalTensor('s', 'sparse.bin', 8, 8), indices: { dims: [0], dataType: 7 } },
      ],
      node: [
        {
          opType: 'Constant',
          output: ['c'],
          attribute: [{ name: 'value', type: 4, t: externalTensor('c', 'const.bin', 100, 24) }],
        },
        {
          opType: 'If',
          input: ['cond'],
          output: ['y'],
          attribute: [
            {
              name: 'then_branch',
              type: 5,
              g: { name: 'then', initializer: [externalTensor('d', 'sub/deep.bin', 0, 4)] },
            },
          ],
        },
      ],
    });
    // In the order the file holds them (nodes are field 1 of the graph, initializers field 5).
    expect(await scan(bytes)).toEqual([
      { location: 'const.bin', minBytes: 124, tensors: 1 },
      { location: 'sub/deep.bin', minBytes: 4, tensors: 1 },
      // b has no length: 2 x 3 float32 = 24 bytes from offset 24.
      { location: 'one.bin', minBytes: 48, tensors: 2 },
      { location: 'sparse.bin', minBytes: 16, tensors: 1 },
    ]);
  });

  it('skips embedded weights by their length: a 48 MB initializer costs a few kilobytes of reads', async () => {
    const bytes = model({
      name: 'g',
      initializer: [
        { name: 'big', dataType: FLOAT, dims: [12 * 1024 * 1024], rawData: new Uint8Array(48 * 1024 * 1024) },
        externalTensor('w', 'weights.pb', 0, 24),
      ],
    });
    let read = 0;
    const inner = bytesReader(bytes);
    const counting: ByteReader = {
      size: inner.size,
      read: async (offset, length) => {
        const got = await inner.read(offset, length);
        read += got.byteLength;
        return got;
      },
    };
    expect((await inspectOnnxModel(counting, 'm.onnx')).externalFiles).toEqual([
      { location: 'weights.pb', minBytes: 24, tensors: 1 },
    ]);
    expect(read).toBeLessThan(256 * 1024);
  });

  it('refuses locations outside the model folder', async () => {
    for (const location of ['../../etc/passwd', '/etc/passwd', 'a/../../b', 'C:\\\\w.bin', 'a\\\\b', '']) {
      const error = await loadError(
        scan(model({ name: 'g', initializer: [externalTensor('a', location, 0, 4)] })),
      );
      expect(error.field).toBe('unet/model.onnx');
      expect(error.message).toMatch(/not a plain path inside the model's folder|names no location/);
    }
  });

  it('files that are not models are LoadErrors naming the file', async () => {
    const unet = readFileSync(path.join(TINY_SD_EXTERNAL, 'unet', 'model.onnx'));
    const truncated = await loadError(scan(unet.subarray(0, unet.byteLength - 1000)));
    expect(truncated.message).toContain('the file is truncated');
    const empty = await loadError(scan(new Uint8Array(0)));
    expect(empty.message).toContain('it is empty');
    const pointer = new TextEncoder().encode(
      'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3438167540\n',
    );
    expect((await loadError(scan(pointer))).message).toContain('Git LFS pointer');
    const html = new TextEncoder().encode('<!doctype html><html><body>Not Found</body></html>');
    expect((await loadError(scan(html))).message).toContain('is not an ONNX model');
    const json = new TextEncoder().encode('{"_class_name": "UNet2DConditionModel"}');
    expect((await loadError(scan(json))).message).toContain('is not an ONNX model');
    // A valid protobuf that is not a model: no graph.
    const noGraph = onnx.ModelProto.encode({ irVersion: 8 }).finish();
    expect((await loadError(scan(noGraph))).message).toContain('holds no graph');
  });
});
