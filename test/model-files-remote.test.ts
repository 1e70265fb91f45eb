/**
 * The core's model folder sources over fetch (what browsers use): a folder served over http from a
 * static server on 127.0.0.1, and a Hub repository read into memory, checked against the Hub's
 * hashes. Only the core is imported: no Node source is registered here.
 */
import { getEventListeners } from 'node:events';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LoadError } from '../src/errors.js';
import { LoadContext } from '../src/loading/hub-internal.js';
import { openModelFiles } from '../src/loading/model-files.js';
import { openHubModelFilesOverFetch, openUrlModelFiles } from '../src/loading/remote-model-files.js';
import {
  guardNetwork,
  type HubServer,
  loadError,
  sha256,
  startHubServer,
  startStaticServer,
} from './helpers/hub-server.js';
import { TINY_SD, tinySdFiles, tinySdRepo, UNET_WEIGHTS_BYTES } from './helpers/model-repo.js';

const COMMIT = 'feed000000000000000000000000000000000001';
const EXTERNAL = tinySdFiles('external');

let hub: HubServer;
let files: Awaited<ReturnType<typeof startStaticServer>>;
let restoreFetch: () => void;

beforeAll(async () => {
  restoreFetch = guardNetwork();
  hub = await startHubServer();
  files = await startStaticServer(EXTERNAL);
});

afterAll(async () => {
  restoreFetch();
  await hub.close();
  await files.close();
});

beforeEach(() => {
  hub.repos.clear();
  hub.requests.length = 0;
  hub.faults.length = 0;
  files.requests.length = 0;
  hub.repos.set('tiny/sd-onnx', tinySdRepo(COMMIT, 'external'));
});

const text = (file: string) => new TextDecoder().decode(EXTERNAL[file]);

async function unetOutput(
  model: string | Uint8Array,
  externalData: { path: string; data: Uint8Array }[] = [],
) {
  const session =
    typeof model === 'string'
      ? await ort.InferenceSession.create(model)
      : await ort.InferenceSession.create(model, { externalData });
  const sample = Float32Array.from({ length: 256 }, (_, i) => Math.sin(i * 0.37 + 1) * 0.8);
  const ehs = Float32Array.from({ length: 77 * 32 }, (_, i) => Math.cos(i * 0.11) * 0.5);
  const out = await session.run({
    sample: new ort.Tensor('float32', sample, [1, 4, 8, 8]),
    timestep: new ort.Tensor('int64', BigInt64Array.from([501n]), [1]),
    encoder_hidden_states: new ort.Tensor('float32', ehs, [1, 77, 32]),
  });
  await session.release();
  return Array.from(out.out_sample!.data as Float32Array);
}

describe('a model folder served over http', () => {
  it('reads the same files, and the external data the model names', async () => {
    const progress: { file: string; loaded: number; total: number | null }[] = [];
    const folder = await openModelFiles(files.url, { onProgress: (p) => progress.push(p) });
    expect(folder.location).toBe(files.url);
    expect(await folder.readText('model_index.json')).toBe(text('model_index.json'));
    expect(await folder.readText('tokenizer/merges.txt')).toBe(text('tokenizer/merges.txt'));
    expect(await folder.has('unet/model.onnx')).toBe(true);
    expect(await folder.has('unet/model_fp16.onnx')).toBe(false);

    const unet = await folder.readModel('unet/model.onnx');
    expect(sha256(unet.model as Uint8Array)).toBe(sha256(EXTERNAL['unet/model.onnx']!));
    expect(unet.externalData.map((e) => [e.path, sha256(e.data)])).toEqual([
      ['weights.pb', sha256(EXTERNAL['unet/weights.pb']!)],
    ]);
    // onnxruntime-node takes the bytes with externalData and computes what the embedded model does.
    expect(await unetOutput(unet.model, unet.externalData)).toEqual(
      await unetOutput(path.join(TINY_SD, 'unet', 'model.onnx')),
    );
    const vae = await folder.readModel('vae_decoder/model.onnx');
    expect(vae.externalData.map((e) => e.path)).toEqual(['model.onnx_data']);
    const embedded = await folder.readModel('text_encoder/model.onnx');
    expect(embedded.externalData).toEqual([]);

    // Exactly the files asked for, fetched once each (no probing of other names).
    const gets = files.requests
      .filter((r) => r.method === 'GET')
      .map((r) => r.path.slice(r.path.indexOf('tiny-sd/') + 8));
    expect(gets).toEqual([
      'model_index.json',
      'tokenizer/merges.txt',
      'unet/model.onnx',
      'unet/weights.pb',
      'vae_decoder/model.onnx',
      'vae_decoder/model.onnx_data',
      'text_encoder/model.onnx',
    ]);
    expect(progress.filter((p) => p.file === 'unet/weights.pb').at(-1)).toEqual({
      file: 'unet/weights.pb',
      loaded: UNET_WEIGHTS_BYTES,
      total: UNET_WEIGHTS_BYTES,
    });
  });

  it("takes the URL of the folder's model_index.json as the folder", async () => {
    const folder = await openUrlModelFiles(`${files.url}/model_index.json`);
    expect(await folder.readText('scheduler/scheduler_config.json')).toBe(
      text('scheduler/scheduler_config.json'),
    );
  });

  it('missing files and folders are LoadErrors naming the file and the fix', async () => {
    const folder = await openUrlModelFiles(files.url);
    const error = await loadError(folder.readText('scheduler/missing.json'));
    expect(error.message).toContain('404');
    expect(error.message).toContain('scheduler/missing.json');
    const wrong = await openUrlModelFiles(`${files.url}/nope`);
    const e2 = await loadError(wrong.readText('model_index.json'));
    expect(e2.message).toContain('model folder');
    // A text file that is not a model.
    const notModel = await loadError(folder.readModel('tokenizer/merges.txt'));
    expect(notModel.field).toBe('tokenizer/merges.txt');
    expect(notModel.message).toContain('is not an ONNX model');
  });
});

describe('a Hub repository over fetch (browsers)', () => {
  it('reads files at the commit the revision points at, checked against the listed hashes', async () => {
    const repo = await openModelFiles('tiny/sd-onnx', { endpoint: hub.url });
    expect(repo.location).toContain(COMMIT);
    expect(await repo.has('unet/weights.pb')).toBe(true);
    expect(await repo.has('unet/nothing.onnx')).toBe(false);
    expect(await repo.readText('tokenizer/vocab.json')).toBe(text('tokenizer/vocab.json'));
    const unet = await repo.readModel('unet/model.onnx');
    expect(unet.externalData.map((e) => [e.path, sha256(e.data)])).toEqual([
      ['weights.pb', sha256(EXTERNAL['unet/weights.pb']!)],
    ]);
    expect(hub.requests[0]!.path).toBe('/api/models/tiny/sd-onnx/revision/main?blobs=true');
    expect(
      hub.requests.filter((r) => r.server === 'hub' && r.path.includes('/resolve/')).map((r) => r.path),
    ).toEqual([
      `/tiny/sd-onnx/resolve/${COMMIT}/tokenizer/vocab.json`,
      `/tiny/sd-onnx/resolve/${COMMIT}/unet/model.onnx`,
      `/tiny/sd-onnx/resolve/${COMMIT}/unet/weights.pb`,
    ]);
  });

  it('refuses bytes that do not match the sha256', async () => {
    hub.faults.push({ file: 'unet/weights.pb', kind: 'corrupt', afterBytes: 99 });
    const repo = await openHubModelFilesOverFetch('tiny/sd-onnx', { endpoint: hub.url });
    const error = await loadError(repo.readModel('unet/model.onnx'));
    expect(error.field).toBe('unet/weights.pb');
    expect(error.message).toContain('sha256');
  });

  it('a file the repository lacks, localFilesOnly, and a bad repo id are LoadErrors', async () => {
    const repo = await openHubModelFilesOverFetch('tiny/sd-onnx', { endpoint: hub.url });
    const missing = await loadError(repo.readText('feature_extractor/preprocessor_config.json'));
    expect(missing.field).toBe('feature_extractor/preprocessor_config.json');
    expect(
      (await loadError(openHubModelFilesOverFetch('tiny/sd-onnx', { localFilesOnly: true }))).field,
    ).toBe('localFilesOnly');
    expect((await loadError(openModelFiles('a/b/c'))).field).toBe('source');
    const unknown = await loadError(openModelFiles('tiny/unknown', { endpoint: hub.url }));
    expect(unknown.field).toBe('token');
  });

  it('a local path is not opened by the core (no file system there)', async () => {
    const error = await openModelFiles('./sd15-onnx').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).problem).toContain('not a model folder this runtime can open');
  });
});

describe('LoadContext', () => {
  it('holds nothing per awaited step once it settles (a download of N chunks must not keep N chunks)', async () => {
    const context = new LoadContext(1000, undefined, { idle: true });
    for (let i = 0; i < 100; i++) await context.race(Promise.resolve(new Uint8Array(16)), 'x');
    // Each step's abort listener is removed when the step settles.
    expect(getEventListeners(context.signal, 'abort')).toHaveLength(0);
    context.dispose();
  });

  it('idle mode restarts its bound on every settled step; silence past it is the timeout LoadError', async () => {
    const context = new LoadContext(400, undefined, { idle: true });
    // 12 steps of 50 ms: 600 ms in all, past the 400 ms bound, which each step restarts.
    for (let i = 0; i < 12; i++) await context.race(new Promise((r) => setTimeout(r, 50)), 'a chunk');
    const error = await context.race(new Promise(() => {}), 'the CDN').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).message).toContain('passed with no data from the CDN');
    context.dispose();
  });
});
