/**
 * Python's huggingface_hub and ddim on one Hugging Face cache, both ways (not run by the tests,
 * which never start Python; run by hand):
 *
 *   npx vite-node scripts/hf_cache_interop.ts -- /path/to/python   # a python with huggingface_hub
 *
 * It serves tiny-sd (external data variant) from the tests' Hub-like server, then
 *  1. ddim downloads what a pipeline reads into cache A; huggingface_hub reads A offline
 *     (hf_hub_download, scan_cache_dir, snapshot_download with local_files_only);
 *  2. huggingface_hub's snapshot_download fills cache B from the server; ddim reads B offline, and
 *     online by branch (which must download nothing).
 * Prints a JSON summary; exit code 1 if a check fails. The CDN listens on 127.0.0.2: huggingface_hub
 * follows a redirect to the same host name (any port), so a CDN on the Hub's host would hide the
 * Hub's headers from it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { openHubModelFiles } from '../src/loading/node/hub-model-files.js';
import { sha256, startHubServer } from '../test/helpers/hub-server.js';
import { tinySdFiles, tinySdRepo } from '../test/helpers/model-repo.js';

const run = promisify(execFile);
const python = process.argv.at(-1)?.includes('python') ? process.argv.at(-1)! : 'python3';
const script = path.resolve('scripts/hf_cache_interop.py');
const REPO = 'tiny/sd-onnx';
const COMMIT = 'c0ffee0000000000000000000000000000000001';
const TEXT = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
];
const MODELS = [
  'text_encoder/model.onnx',
  'unet/model.onnx',
  'vae_decoder/model.onnx',
  'vae_encoder/model.onnx',
];
const DATA = ['unet/weights.pb', 'vae_decoder/model.onnx_data'];

const files = tinySdFiles('external');
const hub = await startHubServer({ cdnHost: '127.0.0.2' });
hub.repos.set(REPO, tinySdRepo(COMMIT, 'external'));
const tmp = mkdtempSync(path.join(tmpdir(), 'hf-interop-'));
const env = { ...process.env, HF_HOME: path.join(tmp, 'home') };
const summary: Record<string, unknown> = {};
let ok = true;
try {
  // 1. ddim fills, Python reads.
  const a = path.join(tmp, 'a');
  const ours = await openHubModelFiles(REPO, { endpoint: hub.url, cacheDir: a });
  for (const f of TEXT) await ours.readText(f);
  for (const f of MODELS) await ours.readModel(f);
  const all = [...TEXT, ...MODELS, ...DATA];
  const read = JSON.parse((await run(python, [script, 'read', a, REPO, ...all], { env })).stdout);
  const sameBytes = all.every(
    (f) =>
      read.files[f].sha256 === sha256(files[f]!) && read.files[f].path === path.join(ours.snapshotDir, f),
  );
  summary.pythonReadsDdim = { ...read, files: undefined, sameBytes };
  ok &&= read.ok && sameBytes && read.snapshot === ours.snapshotDir;

  // 2. Python fills, ddim reads.
  const b = path.join(tmp, 'b');
  hub.requests.length = 0;
  await run(
    python,
    [
      script,
      'fill',
      b,
      REPO,
      hub.url,
      'model_index.json',
      'scheduler/*',
      'tokenizer/*',
      '*/model.onnx',
      ...DATA,
    ],
    { env },
  );
  summary.pythonRequests = hub.requests.map((r) => `${r.server} ${r.method} ${r.path}`);
  hub.requests.length = 0;
  const offline = await openHubModelFiles(REPO, { cacheDir: b, localFilesOnly: true });
  const same: Record<string, boolean> = {};
  for (const f of TEXT) same[f] = (await offline.readText(f)) === new TextDecoder().decode(files[f]);
  for (const f of MODELS)
    same[f] = sha256(readFileSync((await offline.readModel(f)).model as string)) === sha256(files[f]!);
  const online = await openHubModelFiles(REPO, { cacheDir: b, endpoint: hub.url });
  for (const f of MODELS) await online.readModel(f);
  summary.ddimReadsPython = {
    same,
    requestsOnline: hub.requests.map((r) => `${r.server} ${r.method} ${r.path}`),
  };
  ok &&= Object.values(same).every(Boolean) && hub.requests.length === 1;
} finally {
  await hub.close();
  rmSync(tmp, { recursive: true, force: true });
}
summary.ok = ok;
console.log(JSON.stringify(summary, null, 1));
process.exit(ok ? 0 : 1);
