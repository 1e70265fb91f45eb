/**
 * Model repositories downloaded from a Hub-like server on 127.0.0.1 into the Hugging Face cache
 * (the Node source): byte-identical snapshots in the layout Python reads, only the files asked
 * for, external data that onnxruntime-node loads from the snapshot, offline reuse, a dropped
 * connection resumed with Range, bytes that fail the sha256 refused with nothing kept, an abort
 * and a stall leaving nothing trusted. Every test has its own cache folder.
 */
import { createHash } from 'node:crypto';
import { promises as fs, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, LoadError } from '../src/errors.js';
import { openModelFiles } from '../src/loading/model-files.js';
import { openHubModelFiles } from '../src/loading/node/hub-model-files.js';
import { hubCacheModelFilesSource, registerNodeModelSources } from '../src/loading/node/model-sources.js';
import {
  gitBlobSha1,
  guardNetwork,
  type HubServer,
  loadError,
  sha256,
  startHubServer,
} from './helpers/hub-server.js';
import {
  isLfs,
  TINY_SD,
  tinySdFiles,
  tinySdRepo,
  UNET_WEIGHTS_BYTES,
  VAE_DATA_BYTES,
} from './helpers/model-repo.js';

const COMMIT = 'c0ffee0000000000000000000000000000000001';
const NEW_COMMIT = 'c0ffee0000000000000000000000000000000002';
const REPO = 'tiny/sd-onnx';
const ENV_KEYS = ['HF_HOME', 'HF_HUB_CACHE', 'HF_TOKEN', 'HF_ENDPOINT', 'HF_HUB_OFFLINE', 'XDG_CACHE_HOME'];

const EXTERNAL = tinySdFiles('external');
const EMBEDDED = tinySdFiles('embedded');

let hub: HubServer;
let restoreFetch: () => void;
let tmp: string;
let cacheDir: string;
let savedEnv: Record<string, string | undefined>;
let warnings: string[];

beforeAll(async () => {
  restoreFetch = guardNetwork();
  hub = await startHubServer();
});

afterAll(async () => {
  restoreFetch();
  await hub.close();
});

beforeEach(() => {
  savedEnv = Object.fromEntries(ENV_KEYS.map((k) => [k, process.env[k]]));
  for (const k of ENV_KEYS) delete process.env[k];
  tmp = mkdtempSync(path.join(tmpdir(), 'ddim-models-'));
  cacheDir = path.join(tmp, 'hub');
  // Anything that would fall back to the user's cache lands here instead.
  process.env.HF_HOME = path.join(tmp, 'hf-home');
  hub.repos.clear();
  hub.requests.length = 0;
  hub.faults.length = 0;
  hub.repos.set(REPO, tinySdRepo(COMMIT, 'external'));
  warnings = [];
});

afterEach(() => {
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  rmSync(tmp, { recursive: true, force: true });
});

const repoDir = () => path.join(cacheDir, 'models--tiny--sd-onnx');
const snapshot = (commit = COMMIT) => path.join(repoDir(), 'snapshots', commit);
const etagOf = (file: string, body: Uint8Array) => (isLfs(file) ? sha256(body) : gitBlobSha1(body));

function open(extra: Parameters<typeof openHubModelFiles>[1] = {}) {
  return openHubModelFiles(REPO, {
    endpoint: hub.url,
    cacheDir,
    onWarning: (m) => warnings.push(m),
    ...extra,
  });
}

/** What a pipeline reads of a model folder: configs, tokenizer files, the four models. */
async function readAll(files: Awaited<ReturnType<typeof open>>): Promise<void> {
  await files.readText('model_index.json');
  for (const f of ['scheduler/scheduler_config.json', 'tokenizer/vocab.json', 'tokenizer/merges.txt']) {
    await files.readText(f);
  }
  for (const m of ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'])
    await files.readModel(`${m}/model.onnx`);
}

/** Every file under `dir`, relative, with '/' (symlinks listed, not followed). */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string) => {
    for (const entry of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory()) await walk(path.join(d, entry.name), `${prefix}${entry.name}/`);
      else out.push(`${prefix}${entry.name}`);
    }
  };
  await walk(dir, '');
  return out.sort();
}

const cdnRequestsFor = (file: string) =>
  hub.requests.filter((r) => r.server === 'cdn' && r.file === file && r.method === 'GET');

async function unetOutput(
  modelPath: string | Uint8Array,
  externalData?: { path: string; data: Uint8Array }[],
) {
  const session =
    typeof modelPath === 'string'
      ? await ort.InferenceSession.create(modelPath)
      : await ort.InferenceSession.create(modelPath, externalData ? { externalData } : {});
  const n = 4 * 8 * 8;
  const sample = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + 1) * 0.8);
  const ehs = Float32Array.from({ length: 77 * 32 }, (_, i) => Math.cos(i * 0.11) * 0.5);
  const out = await session.run({
    sample: new ort.Tensor('float32', sample, [1, 4, 8, 8]),
    timestep: new ort.Tensor('int64', BigInt64Array.from([501n]), [1]),
    encoder_hidden_states: new ort.Tensor('float32', ehs, [1, 77, 32]),
  });
  await session.release();
  return out.out_sample!.data as Float32Array;
}

describe('download into the Hugging Face cache', () => {
  it('gives snapshot files byte-identical to the repository, in the layout Python reads', async () => {
    const progress: { file: string; loaded: number; total: number | null }[] = [];
    const files = await open({ onProgress: (p) => progress.push(p) });
    expect(files.commit).toBe(COMMIT);
    expect(files.snapshotDir).toBe(snapshot());
    await readAll(files);

    const wanted = Object.keys(EXTERNAL).filter(
      (f) =>
        f === 'model_index.json' ||
        /^(scheduler|tokenizer\/(vocab|merges)|.*model\.onnx|unet\/weights|vae_decoder\/model\.onnx_data)/.test(
          f,
        ),
    );
    expect(await tree(snapshot())).toEqual([...wanted].sort());
    for (const file of wanted) {
      const entry = path.join(snapshot(), ...file.split('/'));
      // A relative symlink into blobs/, named by the Hub's etag: sha256 for LFS files, git sha1 otherwise.
      const link = await fs.readlink(entry);
      expect(path.isAbsolute(link)).toBe(false);
      expect(path.resolve(path.dirname(entry), link)).toBe(
        path.join(repoDir(), 'blobs', etagOf(file, EXTERNAL[file]!)),
      );
      expect(Buffer.compare(readFileSync(entry), Buffer.from(EXTERNAL[file]!))).toBe(0);
    }
    // refs/main holds the bare commit; nothing half-written anywhere.
    expect(readFileSync(path.join(repoDir(), 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect((await tree(repoDir())).filter((f) => f.includes('incomplete'))).toEqual([]);

    // One listing, then one resolve per file (LFS ones redirected to the CDN, without the token).
    const hubGets = hub.requests.filter((r) => r.server === 'hub').map((r) => r.path);
    expect(hubGets[0]).toBe(`/api/models/${REPO}/revision/main?blobs=true`);
    expect(hubGets.slice(1).sort()).toEqual(wanted.map((f) => `/${REPO}/resolve/${COMMIT}/${f}`).sort());
    // Files the pipeline does not read are never fetched.
    expect(
      hub.requests.some((r) => /safetensors|pytorch_model|README|gitattributes|tokenizer\.json/.test(r.path)),
    ).toBe(false);

    // Progress: per model file, from 0 up to its size, with the size as total.
    const weights = progress.filter((p) => p.file === 'unet/weights.pb');
    expect(weights[0]!.loaded).toBe(0);
    expect(weights.at(-1)).toEqual({
      file: 'unet/weights.pb',
      loaded: UNET_WEIGHTS_BYTES,
      total: UNET_WEIGHTS_BYTES,
    });
    expect(weights.every((p, i) => i === 0 || p.loaded >= weights[i - 1]!.loaded)).toBe(true);
  });

  it('a second run asks only where the branch points; by commit, it asks nothing', async () => {
    await readAll(await open());
    hub.requests.length = 0;
    await readAll(await open());
    expect(hub.requests.map((r) => r.path)).toEqual([`/api/models/${REPO}/revision/main?blobs=true`]);
    hub.requests.length = 0;
    await readAll(await open({ revision: COMMIT }));
    expect(hub.requests).toEqual([]);
  });

  it('external data weights load in onnxruntime-node from the snapshot path and match the original', async () => {
    const files = await open();
    const unet = await files.readModel('unet/model.onnx');
    expect(unet).toEqual({ model: path.join(snapshot(), 'unet', 'model.onnx'), externalData: [] });
    // weights.pb came with it (the location the model names), next to the model in the snapshot.
    expect(readFileSync(path.join(snapshot(), 'unet', 'weights.pb')).byteLength).toBe(UNET_WEIGHTS_BYTES);
    const original = await unetOutput(path.join(TINY_SD, 'unet', 'model.onnx'));
    const fromCache = await unetOutput(unet.model as string);
    expect(fromCache.length).toBe(256);
    expect(Array.from(fromCache)).toEqual(Array.from(original));

    const vae = await files.readModel('vae_decoder/model.onnx');
    const session = await ort.InferenceSession.create(vae.model as string);
    expect(session.inputNames).toEqual(['latent_sample']);
    await session.release();
    expect(readFileSync(path.join(snapshot(), 'vae_decoder', 'model.onnx_data')).byteLength).toBe(
      VAE_DATA_BYTES,
    );
  });

  it('works through openModelFiles once the Node sources are registered; local folders are not claimed', async () => {
    const unregister = registerNodeModelSources();
    try {
      const files = await openModelFiles(REPO, { endpoint: hub.url, cacheDir, revision: 'main' });
      expect(files.location).toContain(COMMIT);
      expect(await files.readText('model_index.json')).toBe(
        readFileSync(path.join(TINY_SD, 'model_index.json'), 'utf8'),
      );
      // An existing folder whose name looks like a repo id is the local-folder source's.
      const local = path.join(tmp, 'org', 'name');
      await fs.mkdir(local, { recursive: true });
      const cwd = process.cwd();
      process.chdir(tmp);
      try {
        expect(await hubCacheModelFilesSource.open('org/name', {})).toBeUndefined();
      } finally {
        process.chdir(cwd);
      }
      expect(await hubCacheModelFilesSource.open('./x', {})).toBeUndefined();
      expect(await hubCacheModelFilesSource.open('https://example.org/x', {})).toBeUndefined();
      expect(await hubCacheModelFilesSource.open('file:///x', {})).toBeUndefined();
    } finally {
      unregister();
    }
  });

  it('has() answers from the listing without downloading; a missing file is a LoadError naming it', async () => {
    const files = await open();
    expect(await files.has('unet/model.onnx')).toBe(true);
    expect(await files.has('unet/model_fp16.onnx')).toBe(false);
    expect(hub.requests.filter((r) => r.path.includes('/resolve/'))).toEqual([]);
    const error = await loadError(files.readModel('safety_checker/model.onnx'));
    expect(error.field).toBe('safety_checker/model.onnx');
    expect(error.message).toContain('is not in the repository');
    const bad = await loadError(files.readText('../outside.json'));
    expect(bad.field).toBe('path');
  });

  it('uses HF_ENDPOINT, HF_HUB_CACHE and HF_TOKEN; the token goes to the Hub, never to the CDN', async () => {
    hub.repos.set('tiny/private', tinySdRepo(COMMIT, 'external', { token: 'hf_secret' }));
    process.env.HF_ENDPOINT = hub.url;
    process.env.HF_HUB_CACHE = cacheDir;
    process.env.HF_TOKEN = 'hf_secret';
    const files = await openHubModelFiles('tiny/private');
    await files.readModel('unet/model.onnx');
    expect(files.snapshotDir).toBe(path.join(cacheDir, 'models--tiny--private', 'snapshots', COMMIT));
    const hubRequests = hub.requests.filter((r) => r.server === 'hub');
    const cdnRequests = hub.requests.filter((r) => r.server === 'cdn');
    expect(hubRequests.length).toBe(3); // listing, unet/model.onnx, unet/weights.pb
    expect(hubRequests.every((r) => r.authorization === 'Bearer hf_secret')).toBe(true);
    expect(cdnRequests.length).toBe(2);
    expect(cdnRequests.every((r) => r.authorization === undefined)).toBe(true);
    // token: false sends none, and the private repo answers 401: a LoadError about the token.
    expect((await loadError(openHubModelFiles('tiny/private', { token: false }))).field).toBe('token');
  });

  it('with a listing that has no hashes (a mirror), takes them from a HEAD of each file', async () => {
    hub.repos.set(REPO, tinySdRepo(COMMIT, 'external', { noBlobMetadata: true }));
    const files = await open();
    const unet = await files.readModel('unet/model.onnx');
    expect(sha256(readFileSync(unet.model as string))).toBe(sha256(EXTERNAL['unet/model.onnx']!));
    expect(hub.requests.filter((r) => r.method === 'HEAD').map((r) => r.path)).toEqual([
      `/${REPO}/resolve/${COMMIT}/unet/model.onnx`,
      `/${REPO}/resolve/${COMMIT}/unet/weights.pb`,
    ]);
    const link = await fs.readlink(path.join(snapshot(), 'unet', 'weights.pb'));
    expect(path.basename(link)).toBe(sha256(EXTERNAL['unet/weights.pb']!));
  });

  it('reports the Hub refusing: unknown repos, revisions', async () => {
    const error = await loadError(
      openHubModelFiles('tiny/missing', { endpoint: hub.url, cacheDir, token: false }),
    );
    expect(error.field).toBe('token');
    const revision = await loadError(open({ revision: 'no-such-branch' }));
    expect(revision.field).toBe('revision');
    expect(revision.message).toContain('does not exist');
  });
});

describe('offline reuse', () => {
  it('localFilesOnly and HF_HUB_OFFLINE read the snapshot with no request', async () => {
    await readAll(await open());
    hub.requests.length = 0;
    const files = await open({ localFilesOnly: true });
    expect(files.offline).toBe(true);
    await readAll(files);
    expect((await files.readModel('unet/model.onnx')).model).toBe(
      path.join(snapshot(), 'unet', 'model.onnx'),
    );
    process.env.HF_HUB_OFFLINE = '1';
    await readAll(await open());
    expect(hub.requests).toEqual([]);
  });

  it('a file that was never downloaded is a LoadError naming it; so is a repo never cached', async () => {
    const online = await open();
    await online.readText('model_index.json');
    const files = await open({ localFilesOnly: true });
    expect(await files.has('unet/model.onnx')).toBe(false);
    const error = await loadError(files.readModel('unet/model.onnx'));
    expect(error.field).toBe('unet/model.onnx');
    expect(error.message).toContain('offline');
    // The model is cached but its external data is not: named before any session is made.
    await online.filePath('vae_decoder/model.onnx');
    const data = await loadError(files.readModel('vae_decoder/model.onnx'));
    expect(data.field).toBe('vae_decoder/model.onnx_data');
    const never = await loadError(
      openHubModelFiles('tiny/never', { cacheDir, localFilesOnly: true, endpoint: hub.url }),
    );
    expect(never.field).toBe('localFilesOnly');
    expect(hub.requests.filter((r) => r.path.includes('never'))).toEqual([]);
  });

  it("reads a snapshot laid out as Python's huggingface_hub writes it", async () => {
    // Written independently of the code under test: blobs named by etag, relative symlinks, refs.
    const dir = path.join(cacheDir, 'models--py--filled');
    for (const [file, body] of Object.entries(EMBEDDED)) {
      const blob = path.join(dir, 'blobs', etagOf(file, body));
      await fs.mkdir(path.dirname(blob), { recursive: true });
      await fs.writeFile(blob, body);
      const entry = path.join(dir, 'snapshots', NEW_COMMIT, ...file.split('/'));
      await fs.mkdir(path.dirname(entry), { recursive: true });
      await fs.symlink(path.relative(path.dirname(entry), blob), entry);
    }
    await fs.mkdir(path.join(dir, 'refs'), { recursive: true });
    await fs.writeFile(path.join(dir, 'refs', 'main'), NEW_COMMIT);
    const files = await openHubModelFiles('py/filled', { cacheDir, localFilesOnly: true });
    expect(files.commit).toBe(NEW_COMMIT);
    expect(await files.readText('tokenizer/merges.txt')).toBe(
      readFileSync(path.join(TINY_SD, 'tokenizer', 'merges.txt'), 'utf8'),
    );
    const unet = await files.readModel('unet/model.onnx');
    const out = await unetOutput(unet.model as string);
    expect(Array.from(out)).toEqual(Array.from(await unetOutput(path.join(TINY_SD, 'unet', 'model.onnx'))));
    expect(hub.requests).toEqual([]);
  });

  it('falls back to the cached snapshot, with a warning, when the Hub fails', async () => {
    await readAll(await open());
    hub.repos.set(REPO, {
      ...tinySdRepo(COMMIT, 'external'),
      handler: (_req, res) => {
        res.writeHead(503);
        res.end();
      },
    });
    const files = await open();
    expect(files.offline).toBe(true);
    await readAll(files);
    expect(warnings.some((w) => w.includes('Using the cached snapshot'))).toBe(true);
  });
});

describe('interrupted and bad downloads', () => {
  it('resumes a connection dropped mid-file with a Range request; the result is whole', async () => {
    hub.faults.push({ file: 'unet/weights.pb', kind: 'drop', afterBytes: 1_000_000 });
    const files = await open();
    const unet = await files.readModel('unet/model.onnx');
    const requests = cdnRequestsFor('unet/weights.pb');
    expect(requests.length).toBe(2);
    expect(requests[0]!.range).toBeUndefined();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(requests[1]!.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(1_000_000);
    const weights = readFileSync(path.join(snapshot(), 'unet', 'weights.pb'));
    expect(sha256(weights)).toBe(sha256(EXTERNAL['unet/weights.pb']!));
    expect(warnings.some((w) => w.includes('resuming with a Range request'))).toBe(true);
    expect(Array.from(await unetOutput(unet.model as string))).toEqual(
      Array.from(await unetOutput(path.join(TINY_SD, 'unet', 'model.onnx'))),
    );
  });

  it("resumes an earlier run's .incomplete file from where it stopped", async () => {
    const body = EXTERNAL['unet/weights.pb']!;
    const blob = path.join(repoDir(), 'blobs', sha256(body));
    await fs.mkdir(path.dirname(blob), { recursive: true });
    await fs.writeFile(`${blob}.incomplete`, body.subarray(0, 3_000_000));
    await (await open()).readModel('unet/model.onnx');
    expect(cdnRequestsFor('unet/weights.pb').map((r) => r.range)).toEqual(['bytes=3000000-']);
    expect(sha256(readFileSync(blob))).toBe(sha256(body));
    expect(await fs.stat(`${blob}.incomplete`).catch(() => 'gone')).toBe('gone');
  });

  it('a stale .incomplete that is not a prefix of the file is downloaded again from the start', async () => {
    const body = EXTERNAL['unet/weights.pb']!;
    const blob = path.join(repoDir(), 'blobs', sha256(body));
    await fs.mkdir(path.dirname(blob), { recursive: true });
    await fs.writeFile(`${blob}.incomplete`, new Uint8Array(2_000_000).fill(1));
    await (await open()).readModel('unet/model.onnx');
    expect(cdnRequestsFor('unet/weights.pb').map((r) => r.range)).toEqual(['bytes=2000000-', undefined]);
    expect(sha256(readFileSync(blob))).toBe(sha256(body));
    expect(warnings.some((w) => w.includes('did not match'))).toBe(true);
  });

  it('refuses bytes that do not match the sha256 and keeps nothing in blobs/ or snapshots/', async () => {
    hub.faults.push({ file: 'unet/weights.pb', kind: 'corrupt', afterBytes: 12345 });
    const files = await open();
    const error = await loadError(files.readModel('unet/model.onnx'));
    expect(error.field).toBe('unet/weights.pb');
    expect(error.message).toContain(`not the ${sha256(EXTERNAL['unet/weights.pb']!)} the Hub lists`);
    const blobs = await tree(path.join(repoDir(), 'blobs'));
    expect(blobs.filter((b) => b.startsWith(sha256(EXTERNAL['unet/weights.pb']!)))).toEqual([]);
    expect(await tree(path.join(snapshot(), 'unet'))).toEqual(['model.onnx']);
    // Nothing poisoned: the next try downloads it whole.
    await files.readModel('unet/model.onnx');
    expect(sha256(readFileSync(path.join(snapshot(), 'unet', 'weights.pb')))).toBe(
      sha256(EXTERNAL['unet/weights.pb']!),
    );
  });

  it('refuses a git (non-LFS) file whose bytes do not match its blob sha1', async () => {
    const spec = tinySdRepo(COMMIT, 'external');
    hub.repos.set(REPO, spec);
    const files = await open();
    // The listing (already read) is right; the file served afterwards is not: same size, one
    // byte off, under the right ETag (a header check alone would not catch it).
    const original = spec.files['model_index.json']!;
    const tampered = Buffer.from(original);
    tampered[10] = tampered[10]! ^ 1;
    spec.files['model_index.json'] = tampered;
    spec.headers = { etag: `"${gitBlobSha1(original)}"` };
    const error = await loadError(files.readText('model_index.json'));
    expect(error.field).toBe('model_index.json');
    expect(error.message).toContain('git blob sha1');
    expect(await tree(repoDir())).toEqual([]);
  });

  it('an aborted signal stops the download with AbortError and leaves no trusted file; the next run resumes', async () => {
    hub.faults.push({ file: 'unet/weights.pb', kind: 'stall', afterBytes: 2_500_000 });
    const controller = new AbortController();
    const files = await open({
      signal: controller.signal,
      onProgress: (p) => {
        if (p.file === 'unet/weights.pb' && p.loaded >= 2_000_000) controller.abort();
      },
    });
    const error = await files.readModel('unet/model.onnx').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    const sha = sha256(EXTERNAL['unet/weights.pb']!);
    const blobs = await tree(path.join(repoDir(), 'blobs'));
    expect(blobs).not.toContain(sha);
    expect(blobs).toContain(`${sha}.incomplete`);
    expect(await tree(path.join(snapshot(), 'unet'))).toEqual(['model.onnx']);
    // A later run resumes from the .incomplete and checks the whole.
    await (await open()).readModel('unet/model.onnx');
    const ranges = cdnRequestsFor('unet/weights.pb').map((r) => r.range);
    expect(ranges[0]).toBeUndefined();
    expect(ranges[1]).toMatch(/^bytes=\d+-$/);
    expect(sha256(readFileSync(path.join(repoDir(), 'blobs', sha)))).toBe(sha);
  });

  it('a stalled transfer fails after timeoutMs of silence (a LoadError), keeping only the .incomplete', async () => {
    hub.faults.push({ file: 'vae_decoder/model.onnx_data', kind: 'stall', afterBytes: 100_000 });
    const files = await open({ timeoutMs: 400 });
    const error = await loadError(files.readModel('vae_decoder/model.onnx'));
    expect(error.field).toBe('timeoutMs');
    expect(error.message).toContain('no data');
    const sha = sha256(EXTERNAL['vae_decoder/model.onnx_data']!);
    expect(await tree(path.join(repoDir(), 'blobs'))).toContain(`${sha}.incomplete`);
    expect(await tree(path.join(repoDir(), 'blobs'))).not.toContain(sha);
  });

  it('a model naming external data the repository lacks fails before downloading any weights', async () => {
    const spec = tinySdRepo(COMMIT, 'external');
    delete spec.files['unet/weights.pb'];
    hub.repos.set(REPO, spec);
    const error = await loadError((await open()).readModel('unet/model.onnx'));
    expect(error.field).toBe('unet/weights.pb');
    expect(error.message).toContain('external data');
  });

  it('external data shorter than its tensors need is a LoadError naming it', async () => {
    const spec = tinySdRepo(COMMIT, 'external');
    spec.files['unet/weights.pb'] = EXTERNAL['unet/weights.pb']!.subarray(0, 5_000_000);
    hub.repos.set(REPO, spec);
    const error = await loadError((await open()).readModel('unet/model.onnx'));
    expect(error.field).toBe('unet/weights.pb');
    expect(error.message).toContain('truncated');
  });

  it('concurrent reads of one model share one download', async () => {
    const files = await open();
    const [a, b] = await Promise.all([
      files.readModel('unet/model.onnx'),
      files.readModel('unet/model.onnx'),
    ]);
    expect(a).toEqual(b);
    expect(cdnRequestsFor('unet/weights.pb').length).toBe(1);
    expect(
      createHash('sha256')
        .update(readFileSync(a.model as string))
        .digest('hex'),
    ).toBe(sha256(EXTERNAL['unet/model.onnx']!));
  });
});

describe('errors are typed', () => {
  it('bad options and sources are LoadErrors naming the option', async () => {
    expect((await loadError(open({ revision: '../x' }))).field).toBe('revision');
    expect((await loadError(open({ onProgress: 3 as never }))).field).toBe('onProgress');
    expect((await loadError(openHubModelFiles('a/b/c', { cacheDir }))).field).toBe('source');
    await expect(open()).resolves.toBeDefined();
    expect(LoadError).toBeDefined();
  });
});
