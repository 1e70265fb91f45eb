/**
 * The pipeline over a model repository downloaded from a Hub-like server on 127.0.0.1 (the Node
 * entry's Hub source, through a fresh Hugging Face cache), with the UNet's and VAE decoder's
 * weights in external data files: it generates diffusers' reference latents and image, offline
 * reuse generates them again with no request, and the same repository served as a plain http
 * folder (models as bytes with externalData) generates them too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/node/pipeline.js';
import { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { guardNetwork, type HubServer, startHubServer, startStaticServer } from './helpers/hub-server.js';
import { tinySdFiles, tinySdRepo, UNET_WEIGHTS_BYTES, VAE_DATA_BYTES } from './helpers/model-repo.js';
import {
  checkCase,
  describeMeasure,
  loadCase,
  type RecordedCall,
  recordingOrt,
  runCase,
  tinySdDir,
} from './helpers/sd-pipeline.js';

const COMMIT = '5d00000000000000000000000000000000000001';
const REPO = 'tiny/sd-onnx';

let hub: HubServer;
let restoreFetch: () => void;
let cacheDir: string;

beforeAll(async () => {
  restoreFetch = guardNetwork();
  hub = await startHubServer();
  hub.repos.set(REPO, tinySdRepo(COMMIT, 'external'));
  cacheDir = mkdtempSync(path.join(tmpdir(), 'ddim-pipeline-hub-'));
});

afterAll(async () => {
  restoreFetch();
  await hub.close();
  rmSync(cacheDir, { recursive: true, force: true });
});

async function generates(
  pipe: StableDiffusionPipeline,
  calls: RecordedCall[],
  name: string,
): Promise<string> {
  const c = loadCase(path.join(tinySdDir, 'pipeline'), name);
  const warnings: string[] = [];
  const run = await runCase(pipe, c, calls, warnings);
  return describeMeasure(checkCase(c, run));
}

describe('StableDiffusionPipeline.fromPretrained of a Hub repository', () => {
  it("downloads what it reads and generates diffusers' latents and image (txt2img, img2img)", async () => {
    const calls: RecordedCall[] = [];
    const progress = new Map<string, number>();
    const pipe = await StableDiffusionPipeline.fromPretrained(REPO, {
      ort: recordingOrt(calls),
      endpoint: hub.url,
      cacheDir,
      onProgress: ({ file, loaded }) => progress.set(file, loaded),
    });
    // Streamed with progress: the models and their external weights, in full.
    expect(progress.get('unet/weights.pb')).toBe(UNET_WEIGHTS_BYTES);
    expect(progress.get('vae_decoder/model.onnx_data')).toBe(VAE_DATA_BYTES);
    // The weights of other frameworks in the same repository are never fetched.
    expect(hub.requests.some((r) => /safetensors|pytorch_model|README/.test(r.path))).toBe(false);
    console.log(`a_txt2img from the Hub: ${await generates(pipe, calls, 'a_txt2img')}`);
    console.log(`e_img2img from the Hub: ${await generates(pipe, calls, 'e_img2img')}`);
  });

  it('offline (localFilesOnly) from the same cache: the same latents, no request', async () => {
    hub.requests.length = 0;
    const calls: RecordedCall[] = [];
    const pipe = await StableDiffusionPipeline.fromPretrained(REPO, {
      ort: recordingOrt(calls),
      cacheDir,
      localFilesOnly: true,
    });
    console.log(`a_txt2img offline: ${await generates(pipe, calls, 'a_txt2img')}`);
    expect(hub.requests).toEqual([]);
  });

  it('the same folder served over http (models as bytes with externalData) generates them too', async () => {
    const server = await startStaticServer(tinySdFiles('external'));
    try {
      const calls: RecordedCall[] = [];
      const pipe = await StableDiffusionPipeline.fromPretrained(server.url, { ort: recordingOrt(calls) });
      console.log(`a_txt2img over http: ${await generates(pipe, calls, 'a_txt2img')}`);
    } finally {
      await server.close();
    }
  });
});
