/**
 * The Node entry's config source: local folders and files, the Hugging Face cache in the layout
 * Python's huggingface_hub reads and writes, environment variables, and path escapes. Every
 * test runs with HF_HOME pointing at a fresh temporary folder, so the real user cache is never
 * read or written, and every network request goes to the Hub-like server on 127.0.0.1.
 */
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { saveSchedulerConfig } from '../src/loading/hub.js';
import { writeToHubCache } from '../src/loading/node/hub-cache.js';
import {
  ConfigError,
  DDIM_DEFAULTS,
  DDIMInverseScheduler,
  DDIMScheduler,
  loadSchedulerConfig,
} from '../src/node/index.js';
import {
  fixtureText,
  gitBlobSha1,
  guardNetwork,
  type HubServer,
  loadError,
  SD21_DDIM_CONFIG,
  SD21_DDIM_SAVED,
  sha256,
  startHubServer,
  startSilentServer,
} from './helpers/hub-server.js';

const COMMIT = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';
const OLD_COMMIT = '0000000000000000000000000000000000000001';
const ENV_KEYS = [
  'HF_HOME',
  'HF_HUB_CACHE',
  'HUGGINGFACE_HUB_CACHE',
  'HF_TOKEN',
  'HUGGING_FACE_HUB_TOKEN',
  'HF_TOKEN_PATH',
  'HF_ENDPOINT',
  'HF_HUB_OFFLINE',
  'XDG_CACHE_HOME',
];

let hub: HubServer;
let tmp: string;
let home: string;
let savedEnv: Record<string, string | undefined>;

let restoreFetch: () => void;

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
  tmp = mkdtempSync(path.join(tmpdir(), 'ddim-hub-'));
  home = path.join(tmp, 'hf-home');
  process.env.HF_HOME = home;
  hub.repos.clear();
  hub.requests.length = 0;
  hub.repos.set('stabilityai/stable-diffusion-2-1', {
    commit: COMMIT,
    branches: ['main', 'refs/pr/1'],
    files: { 'scheduler/scheduler_config.json': fixtureText('sd21-ddim-v.json') },
  });
});

afterEach(() => {
  for (const k of ENV_KEYS) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
  rmSync(tmp, { recursive: true, force: true });
});

async function writeFile(file: string, text: string | Uint8Array): Promise<string> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text);
  return file;
}

/**
 * Lay out a snapshot by hand the way Python's huggingface_hub does (independently of the code
 * under test): blobs named by git sha1, snapshot entries as relative symlinks (or copies), and
 * refs/<revision> holding the bare commit hash.
 */
async function pythonSnapshot(
  cacheDir: string,
  repoId: string,
  commit: string,
  files: Record<string, string>,
  refs: Record<string, string> = { main: commit },
  symlinks = true,
): Promise<string> {
  const repoDir = path.join(cacheDir, `models--${repoId.replace('/', '--')}`);
  for (const [file, text] of Object.entries(files)) {
    const blob = await writeFile(path.join(repoDir, 'blobs', gitBlobSha1(text)), text);
    const pointer = path.join(repoDir, 'snapshots', commit, ...file.split('/'));
    await fs.mkdir(path.dirname(pointer), { recursive: true });
    if (symlinks) await fs.symlink(path.relative(path.dirname(pointer), blob), pointer);
    else await fs.copyFile(blob, pointer);
  }
  for (const [revision, target] of Object.entries(refs)) {
    await writeFile(path.join(repoDir, 'refs', ...revision.split('/')), target);
  }
  return repoDir;
}

const SD21 = JSON.parse(fixtureText('sd21-ddim-v.json'));

describe('local folders and files', () => {
  it('loads a folder holding scheduler_config.json', async () => {
    const dir = path.join(tmp, 'sched');
    const file = await writeFile(path.join(dir, 'scheduler_config.json'), fixtureText('sd21-ddim-v.json'));
    const loaded = await loadSchedulerConfig(dir);
    expect(loaded).toEqual({ config: SD21, resolvedFrom: file, origin: 'file' });
  });

  it('loads a model folder plus subfolder', async () => {
    const model = path.join(tmp, 'my-model');
    await writeFile(path.join(model, 'model_index.json'), '{}');
    await writeFile(path.join(model, 'scheduler', 'scheduler_config.json'), fixtureText('sd15-pndm.json'));
    const loaded = await loadSchedulerConfig(model, { subfolder: 'scheduler' });
    expect(loaded.config._class_name).toBe('PNDMScheduler');
    expect(loaded.resolvedFrom).toBe(path.join(model, 'scheduler', 'scheduler_config.json'));
  });

  it('loads the file itself (any name; subfolder is ignored, as diffusers does)', async () => {
    const file = await writeFile(path.join(tmp, 'cog.json'), fixtureText('cogvideox-2b-ddim.json'));
    const loaded = await loadSchedulerConfig(file, { subfolder: 'scheduler' });
    expect(loaded.config.snr_shift_scale).toBe(3);
  });

  it('loads a relative path and a file: URL', async () => {
    const dir = path.join(tmp, 'rel');
    await writeFile(path.join(dir, 'scheduler_config.json'), fixtureText('sd21-ddim-v.json'));
    const relative = path.relative(process.cwd(), dir);
    expect((await loadSchedulerConfig(relative)).config).toEqual(SD21);
    expect((await loadSchedulerConfig(pathToFileURL(dir).href)).config).toEqual(SD21);
  });

  it('falls back to the folder root when the subfolder has no config (diffusers load_config)', async () => {
    const dir = path.join(tmp, 'flat');
    await writeFile(path.join(dir, 'scheduler_config.json'), fixtureText('sd21-ddim-v.json'));
    const loaded = await loadSchedulerConfig(dir, { subfolder: 'scheduler' });
    expect(loaded.resolvedFrom).toBe(path.join(dir, 'scheduler_config.json'));
  });

  it('a model folder without subfolder says to pass subfolder "scheduler"', async () => {
    const model = path.join(tmp, 'model');
    await writeFile(path.join(model, 'scheduler', 'scheduler_config.json'), fixtureText('sd15-pndm.json'));
    const error = await loadError(loadSchedulerConfig(model));
    expect(error.field).toBe('source');
    expect(error.fix).toContain('subfolder: "scheduler"');
    expect(hub.requests).toHaveLength(0);
  });

  it('a missing path is a LoadError naming the working folder, with no request', async () => {
    const error = await loadError(loadSchedulerConfig('./no-such-model', { endpoint: hub.url }));
    expect(error.problem).toContain('not an existing file or folder');
    expect(error.fix).toContain(process.cwd());
    expect(hub.requests).toHaveLength(0);
  });

  it('a local file over the size limit, non-JSON, or with __proto__ is a LoadError', async () => {
    const big = await writeFile(path.join(tmp, 'big.json'), Buffer.alloc(1024 * 1024 + 1, 0x20));
    expect((await loadError(loadSchedulerConfig(big))).field).toBe('maxBytes');
    const text = await writeFile(path.join(tmp, 'text.json'), 'not json');
    expect((await loadError(loadSchedulerConfig(text))).problem).toContain('not valid JSON');
    const proto = await writeFile(path.join(tmp, 'proto.json'), '{"__proto__": {"x": 1}}');
    expect((await loadError(loadSchedulerConfig(proto))).field).toBe('config.__proto__');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('a subfolder escaping the model folder is a LoadError before any file is read', async () => {
    const model = path.join(tmp, 'm');
    await writeFile(path.join(tmp, 'scheduler_config.json'), fixtureText('sd21-ddim-v.json'));
    await fs.mkdir(model, { recursive: true });
    const error = await loadError(loadSchedulerConfig(model, { subfolder: '../' }));
    expect(error.field).toBe('subfolder');
  });
});

describe("the Hugging Face cache Python's huggingface_hub writes", () => {
  const files = { 'scheduler/scheduler_config.json': fixtureText('sd21-ddim-v.json') };

  it('loads offline with localFilesOnly from cacheDir, with no request', async () => {
    const cacheDir = path.join(tmp, 'cache');
    const repoDir = await pythonSnapshot(cacheDir, 'stabilityai/stable-diffusion-2-1', COMMIT, files);
    const loaded = await loadSchedulerConfig('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
      localFilesOnly: true,
      cacheDir,
      endpoint: hub.url,
    });
    expect(loaded).toEqual({
      config: SD21,
      resolvedFrom: path.join(repoDir, 'snapshots', COMMIT, 'scheduler', 'scheduler_config.json'),
      origin: 'cache',
      commit: COMMIT,
    });
    expect(hub.requests).toHaveLength(0);
  });

  it('finds the cache through HF_HUB_CACHE, HF_HOME/hub, and HF_HUB_OFFLINE=1', async () => {
    await pythonSnapshot(path.join(home, 'hub'), 'stabilityai/stable-diffusion-2-1', COMMIT, files);
    process.env.HF_HUB_OFFLINE = '1';
    process.env.HF_ENDPOINT = hub.url;
    const viaHome = await loadSchedulerConfig('stabilityai/stable-diffusion-2-1', { subfolder: 'scheduler' });
    expect(viaHome.origin).toBe('cache');
    expect(viaHome.resolvedFrom.startsWith(path.join(home, 'hub'))).toBe(true);

    const other = path.join(tmp, 'elsewhere');
    await pythonSnapshot(other, 'stabilityai/stable-diffusion-2-1', COMMIT, files);
    process.env.HF_HUB_CACHE = other;
    const viaHubCache = await loadSchedulerConfig('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
    });
    expect(viaHubCache.resolvedFrom.startsWith(other)).toBe(true);
    expect(hub.requests).toHaveLength(0);
  });

  it('loads a snapshot whose entries are copies (symlinks unsupported, as on Windows)', async () => {
    const cacheDir = path.join(tmp, 'cache');
    await pythonSnapshot(
      cacheDir,
      'stabilityai/stable-diffusion-2-1',
      COMMIT,
      files,
      { main: COMMIT },
      false,
    );
    const loaded = await loadSchedulerConfig('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
      localFilesOnly: true,
      cacheDir,
    });
    expect(loaded.config).toEqual(SD21);
  });

  it('a commit-hash revision already cached is used without asking the Hub', async () => {
    const cacheDir = path.join(tmp, 'cache');
    await pythonSnapshot(cacheDir, 'stabilityai/stable-diffusion-2-1', OLD_COMMIT, files, {});
    const loaded = await loadSchedulerConfig('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
      revision: OLD_COMMIT,
      cacheDir,
      endpoint: hub.url,
    });
    expect(loaded.origin).toBe('cache');
    expect(loaded.commit).toBe(OLD_COMMIT);
    expect(hub.requests).toHaveLength(0);
  });

  it('localFilesOnly with nothing cached is a LoadError naming the cache, with no request', async () => {
    const error = await loadError(
      loadSchedulerConfig('stabilityai/stable-diffusion-2-1', {
        subfolder: 'scheduler',
        localFilesOnly: true,
        endpoint: hub.url,
      }),
    );
    expect(error.field).toBe('localFilesOnly');
    expect(error.problem).toContain(path.join(home, 'hub'));
    expect(hub.requests).toHaveLength(0);
  });

  it('localFilesOnly with a URL source is a LoadError (URLs are not cached)', async () => {
    const error = await loadError(
      loadSchedulerConfig(`${hub.url}/x/resolve/main/scheduler_config.json`, { localFilesOnly: true }),
    );
    expect(error.field).toBe('localFilesOnly');
    expect(hub.requests).toHaveLength(0);
  });
});

describe('downloads land in the cache layout Python reads', () => {
  it('writes blobs/<etag>, a relative symlink in snapshots/<commit>, and refs/main; then loads offline', async () => {
    const loaded = await loadSchedulerConfig('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
      endpoint: hub.url,
    });
    expect(loaded.origin).toBe('network');
    expect(loaded.commit).toBe(COMMIT);
    const body = fixtureText('sd21-ddim-v.json');
    const repoDir = path.join(home, 'hub', 'models--stabilityai--stable-diffusion-2-1');
    expect(await fs.readFile(path.join(repoDir, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    const blob = path.join(repoDir, 'blobs', gitBlobSha1(body));
    expect(await fs.readFile(blob, 'utf8')).toBe(body);
    const pointer = path.join(repoDir, 'snapshots', COMMIT, 'scheduler', 'scheduler_config.json');
    expect((await fs.lstat(pointer)).isSymbolicLink()).toBe(true);
    expect(await fs.readlink(pointer)).toBe(path.join('..', '..', '..', 'blobs', gitBlobSha1(body)));
    expect(await fs.realpath(pointer)).toBe(await fs.realpath(blob));
    // Nothing else: no temporary files left behind.
    expect((await fs.readdir(path.join(repoDir, 'blobs'))).length).toBe(1);
    expect(await fs.readdir(path.join(repoDir, 'snapshots', COMMIT, 'scheduler'))).toEqual([
      'scheduler_config.json',
    ]);

    hub.requests.length = 0;
    const offline = await loadSchedulerConfig('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
      localFilesOnly: true,
    });
    expect(offline.origin).toBe('cache');
    expect(offline.config).toEqual(loaded.config);
    expect(hub.requests).toHaveLength(0);
  });

  it('a new commit on main updates refs/main and adds a snapshot', async () => {
    const cacheDir = path.join(tmp, 'cache');
    await pythonSnapshot(cacheDir, 'stabilityai/stable-diffusion-2-1', OLD_COMMIT, {
      'scheduler/scheduler_config.json': fixtureText('sd15-pndm.json'),
    });
    const loaded = await loadSchedulerConfig('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
      cacheDir,
      endpoint: hub.url,
    });
    expect(loaded.config).toEqual(SD21);
    const repoDir = path.join(cacheDir, 'models--stabilityai--stable-diffusion-2-1');
    expect(await fs.readFile(path.join(repoDir, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect((await fs.readdir(path.join(repoDir, 'snapshots'))).sort()).toEqual([OLD_COMMIT, COMMIT].sort());
  });

  it('a revision with slashes is stored at refs/refs/pr/1, as Python stores it', async () => {
    await loadSchedulerConfig('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
      revision: 'refs/pr/1',
      endpoint: hub.url,
    });
    const ref = path.join(
      home,
      'hub',
      'models--stabilityai--stable-diffusion-2-1',
      'refs',
      'refs',
      'pr',
      '1',
    );
    expect(await fs.readFile(ref, 'utf8')).toBe(COMMIT);
  });

  it('a redirected (LFS-style) download is stored under X-Linked-Etag, and the token stays off the CDN', async () => {
    const body = fixtureText('cogvideox-2b-ddim.json');
    hub.repos.set('org/lfs', {
      commit: COMMIT,
      viaCdn: true,
      token: 'hf_secret',
      files: { 'scheduler/scheduler_config.json': body },
    });
    process.env.HF_TOKEN = 'hf_secret';
    const loaded = await loadSchedulerConfig('org/lfs', { subfolder: 'scheduler', endpoint: hub.url });
    expect(loaded.config._class_name).toBe('CogVideoXDDIMScheduler');
    const repoDir = path.join(home, 'hub', 'models--org--lfs');
    expect(await fs.readFile(path.join(repoDir, 'blobs', sha256(body)), 'utf8')).toBe(body);
    expect(hub.requests.map((r) => [r.server, r.authorization])).toEqual([
      ['hub', 'Bearer hf_secret'],
      ['cdn', undefined],
    ]);
  });

  it('writes a copy where symlinks are not used', async () => {
    const cacheDir = path.join(tmp, 'cache');
    const bytes = new TextEncoder().encode(fixtureText('sd21-ddim-v.json'));
    const pointer = await writeToHubCache({
      cacheDir,
      repoId: 'org/name',
      revision: 'main',
      commit: COMMIT,
      etag: `"${gitBlobSha1(bytes)}"`,
      filePath: 'scheduler/scheduler_config.json',
      bytes,
      useSymlinks: false,
    });
    const stat = await fs.lstat(pointer);
    expect(stat.isSymbolicLink()).toBe(false);
    expect(stat.isFile()).toBe(true);
    const loaded = await loadSchedulerConfig('org/name', {
      subfolder: 'scheduler',
      cacheDir,
      localFilesOnly: true,
    });
    expect(loaded.config).toEqual(SD21);
  });
});

describe('hostile servers and caches', () => {
  it('a hostile X-Repo-Commit is never used as a path: the config loads, nothing is cached, a warning says so', async () => {
    hub.repos.set('org/evil-commit', {
      commit: COMMIT,
      headers: { 'x-repo-commit': '../../../../escaped' },
      files: { 'scheduler_config.json': fixtureText('sd21-ddim-v.json') },
    });
    const warnings: string[] = [];
    const loaded = await loadSchedulerConfig('org/evil-commit', {
      endpoint: hub.url,
      onWarning: (m) => warnings.push(m),
    });
    expect(loaded.config).toEqual(SD21);
    expect(loaded.commit).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('X-Repo-Commit');
    // Nothing was written anywhere: not even the cache folder was created.
    expect(await fs.readdir(tmp)).toEqual([]);
  });

  it('a hostile ETag is never used as a path: the blob is named by its git hash', async () => {
    const body = fixtureText('sd21-ddim-v.json');
    hub.repos.set('org/evil-etag', {
      commit: COMMIT,
      headers: { etag: '"../../../../escaped"' },
      files: { 'scheduler_config.json': body },
    });
    await loadSchedulerConfig('org/evil-etag', { endpoint: hub.url });
    const blobs = await fs.readdir(path.join(home, 'hub', 'models--org--evil-etag', 'blobs'));
    expect(blobs).toEqual([gitBlobSha1(body)]);
  });

  it('hostile JSON from the Hub is refused before it reaches the cache', async () => {
    hub.repos.set('org/evil-json', {
      commit: COMMIT,
      files: { 'scheduler_config.json': '{"constructor": {"prototype": {"polluted": 1}}}' },
    });
    const error = await loadError(loadSchedulerConfig('org/evil-json', { endpoint: hub.url }));
    expect(error.field).toBe('config.constructor');
    await expect(fs.stat(path.join(home, 'hub', 'models--org--evil-json'))).rejects.toThrow();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ['repo id', '../x', {}],
    ['repo id', 'a/../../b', {}],
    ['subfolder', 'org/name', { subfolder: '../../etc' }],
    ['revision', 'org/name', { revision: '../../x' }],
  ])(
    'a %s escaping the cache (%s) is a LoadError, with nothing read or written',
    async (_what, id, options) => {
      const error = await loadError(loadSchedulerConfig(id, { endpoint: hub.url, ...options }));
      expect(['source', 'subfolder', 'revision']).toContain(error.field);
      expect(hub.requests).toHaveLength(0);
      expect(await fs.readdir(tmp)).toEqual([]);
    },
  );

  it('a refs file whose content is ../../../etc is a LoadError, not a path', async () => {
    const cacheDir = path.join(tmp, 'cache');
    await pythonSnapshot(
      cacheDir,
      'org/name',
      COMMIT,
      { 'scheduler_config.json': '{}' },
      { main: '../../../etc' },
    );
    const error = await loadError(loadSchedulerConfig('org/name', { cacheDir, localFilesOnly: true }));
    expect(error.field).toBe('revision');
    expect(error.problem).toContain('not a commit hash');
    expect(error.fix).toContain(path.join('refs', 'main'));
  });

  it('a snapshot entry that links outside the cache is a LoadError', async () => {
    const cacheDir = path.join(tmp, 'cache');
    const outside = await writeFile(path.join(tmp, 'outside.json'), fixtureText('sd21-ddim-v.json'));
    const pointer = path.join(cacheDir, 'models--org--name', 'snapshots', COMMIT, 'scheduler_config.json');
    await fs.mkdir(path.dirname(pointer), { recursive: true });
    await fs.symlink(outside, pointer);
    await writeFile(path.join(cacheDir, 'models--org--name', 'refs', 'main'), COMMIT);
    const error = await loadError(loadSchedulerConfig('org/name', { cacheDir, localFilesOnly: true }));
    expect(error.problem).toContain('outside the cache folder');
  });
});

describe('falling back to the cache when the Hub fails', () => {
  const files = { 'scheduler/scheduler_config.json': fixtureText('sd21-ddim-v.json') };

  it('a 5xx uses the cached copy, with a warning', async () => {
    await pythonSnapshot(path.join(home, 'hub'), 'org/flaky', COMMIT, files);
    hub.repos.set('org/flaky', {
      commit: COMMIT,
      files: {},
      handler: (_req, res) => {
        res.writeHead(503);
        res.end();
      },
    });
    const warnings: string[] = [];
    const loaded = await loadSchedulerConfig('org/flaky', {
      subfolder: 'scheduler',
      endpoint: hub.url,
      onWarning: (m) => warnings.push(m),
    });
    expect(loaded.origin).toBe('cache');
    expect(warnings[0]).toContain('HTTP 503');
    expect(warnings[0]).toContain('Using the cached copy');
  });

  it('a timeout uses the cached copy; without one it is the timeout LoadError', async () => {
    const silent = await startSilentServer();
    try {
      const error = await loadError(
        loadSchedulerConfig('org/slow', { subfolder: 'scheduler', endpoint: silent.url, timeoutMs: 200 }),
      );
      expect(error.field).toBe('timeoutMs');
      await pythonSnapshot(path.join(home, 'hub'), 'org/slow', COMMIT, files);
      const loaded = await loadSchedulerConfig('org/slow', {
        subfolder: 'scheduler',
        endpoint: silent.url,
        timeoutMs: 200,
        onWarning: () => {},
      });
      expect(loaded.origin).toBe('cache');
    } finally {
      await silent.close();
    }
  });

  it('a 401 does not fall back: the request itself is wrong', async () => {
    await pythonSnapshot(path.join(home, 'hub'), 'org/private', COMMIT, files);
    hub.repos.set('org/private', { commit: COMMIT, token: 'hf_right', files });
    const error = await loadError(
      loadSchedulerConfig('org/private', { subfolder: 'scheduler', endpoint: hub.url }),
    );
    expect(error.field).toBe('token');
  });
});

describe('environment: HF_TOKEN, the token file, HF_ENDPOINT', () => {
  beforeEach(() => {
    hub.repos.set('org/private', {
      commit: COMMIT,
      token: 'hf_env',
      files: { 'scheduler_config.json': fixtureText('sd15-pndm.json') },
    });
  });

  it('HF_TOKEN and HF_ENDPOINT are used for Hub ids', async () => {
    process.env.HF_TOKEN = 'hf_env';
    process.env.HF_ENDPOINT = `${hub.url}/`;
    const loaded = await loadSchedulerConfig('org/private');
    expect(loaded.config._class_name).toBe('PNDMScheduler');
    expect(hub.requests[0]!.authorization).toBe('Bearer hf_env');
  });

  it("the token file huggingface-cli login writes ($HF_HOME/token) is used when HF_TOKEN isn't set", async () => {
    await writeFile(path.join(home, 'token'), 'hf_env\n');
    const loaded = await loadSchedulerConfig('org/private', { endpoint: hub.url });
    expect(loaded.config._class_name).toBe('PNDMScheduler');
  });

  it('token: false sends nothing, even with HF_TOKEN set', async () => {
    process.env.HF_TOKEN = 'hf_env';
    const error = await loadError(loadSchedulerConfig('org/private', { endpoint: hub.url, token: false }));
    expect(error.field).toBe('token');
    expect(hub.requests[0]!.authorization).toBeUndefined();
  });

  it('the environment token goes to URLs on the Hub endpoint only, never to other hosts', async () => {
    process.env.HF_TOKEN = 'hf_env';
    const url = `${hub.url}/org/private/resolve/main/scheduler_config.json`;
    // Endpoint is the default (huggingface.co): this URL is another host, so no token goes with it.
    await loadError(loadSchedulerConfig(url));
    expect(hub.requests[0]!.authorization).toBeUndefined();
    process.env.HF_ENDPOINT = hub.url;
    expect((await loadSchedulerConfig(url)).config._class_name).toBe('PNDMScheduler');
    expect(hub.requests[1]!.authorization).toBe('Bearer hf_env');
  });

  it('a malformed HF_ENDPOINT is a LoadError on that variable', async () => {
    process.env.HF_ENDPOINT = 'huggingface.co';
    const error = await loadError(loadSchedulerConfig('org/private'));
    expect(error.field).toBe('HF_ENDPOINT');
  });
});

describe('saveSchedulerConfig (savePretrained)', () => {
  const config = SD21_DDIM_CONFIG;

  it("writes diffusers' exact text, creating the folder, and it loads back", async () => {
    const dir = path.join(tmp, 'out', 'scheduler');
    const file = await saveSchedulerConfig(dir, config);
    expect(file).toBe(path.join(dir, 'scheduler_config.json'));
    expect(await fs.readFile(file, 'utf8')).toBe(SD21_DDIM_SAVED);
    const loaded = await loadSchedulerConfig(path.join(tmp, 'out'), { subfolder: 'scheduler' });
    const { _diffusers_version, ...rest } = loaded.config;
    expect(rest).toEqual(config);
  });

  it('a path that is a file is a LoadError', async () => {
    const file = await writeFile(path.join(tmp, 'a-file'), 'x');
    const error = await loadError(saveSchedulerConfig(file, config));
    expect(error.field).toBe('dir');
    expect(error.fix).toContain('is a file');
  });

  it('a folder that cannot exist (under /proc) is a LoadError at once, not the endless loop of mkdir -p', async () => {
    // Node's fs.mkdir(..., { recursive: true }) never settles here on Linux: procfs answers ENOENT
    // for the child of an existing folder, which it reads as "create the parent and retry".
    const error = await loadError(saveSchedulerConfig('/proc/ddim-hostile/scheduler', config));
    expect(error.field).toBe('dir');
    expect(error.problem).toMatch(/could not be written/);
  });

  it('creates several missing levels, and accepts a folder that already exists', async () => {
    const dir = path.join(tmp, 'a', 'b', 'c');
    expect(await saveSchedulerConfig(dir, config)).toBe(path.join(dir, 'scheduler_config.json'));
    expect(await saveSchedulerConfig(dir, config)).toBe(path.join(dir, 'scheduler_config.json'));
  });
});

describe('DDIMScheduler.fromPretrained / savePretrained (Node)', () => {
  const UNUSED: Record<string, string[]> = {
    'sd15-pndm.json': ['skip_prk_steps'],
    'sd21-ddim-v.json': ['skip_prk_steps'],
    'sdxl-base-euler.json': ['interpolation_type', 'skip_prk_steps', 'use_karras_sigmas'],
    'zero-snr-trailing-v.json': [],
    'cogvideox-2b-ddim.json': ['snr_shift_scale'],
  };

  it.each(Object.keys(UNUSED))(
    '%s loads from a model folder as diffusers loads it; unused keys warned',
    async (file) => {
      const model = path.join(tmp, 'model');
      const raw = JSON.parse(fixtureText(file)) as Record<string, unknown>;
      await writeFile(path.join(model, 'scheduler', 'scheduler_config.json'), fixtureText(file));
      const warnings: string[] = [];
      const scheduler = await DDIMScheduler.fromPretrained(model, {
        subfolder: 'scheduler',
        onWarning: (m) => warnings.push(m),
      });
      // Every DDIM key the file has is taken as written; the rest are diffusers' defaults.
      for (const [key, value] of Object.entries(scheduler.config)) {
        const expected =
          key in raw && raw[key] !== null ? raw[key] : (DDIM_DEFAULTS as Record<string, unknown>)[key];
        expect([key, value]).toEqual([key, expected]);
      }
      const unused = UNUSED[file]!;
      if (unused.length === 0) {
        expect(warnings).toEqual([]);
      } else {
        expect(warnings).toHaveLength(1);
        for (const key of unused) expect(warnings[0]).toContain(`"${key}"`);
        expect(warnings[0]).toContain('DDIMScheduler');
      }
    },
  );

  it('loads SD 2.1 from the Hub with subfolder and revision, then again offline from the cache', async () => {
    const online = await DDIMScheduler.fromPretrained('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
      revision: 'main',
      endpoint: hub.url,
      onWarning: () => {},
    });
    expect(online.config.prediction_type).toBe('v_prediction');
    expect(online.config.steps_offset).toBe(1);
    const offline = await DDIMScheduler.fromPretrained('stabilityai/stable-diffusion-2-1', {
      subfolder: 'scheduler',
      localFilesOnly: true,
      onWarning: () => {},
    });
    expect(offline.toJSON()).toEqual(online.toJSON());
    expect(hub.requests).toHaveLength(1);
  });

  it('applies overrides over the loaded config, as from_pretrained(..., **kwargs) does', async () => {
    const model = path.join(tmp, 'model');
    await writeFile(path.join(model, 'scheduler_config.json'), fixtureText('sd21-ddim-v.json'));
    const scheduler = await DDIMScheduler.fromPretrained(model, {
      overrides: { timestep_spacing: 'trailing', rescale_betas_zero_snr: true },
      onWarning: () => {},
    });
    expect(scheduler.config.timestep_spacing).toBe('trailing');
    expect(scheduler.config.rescale_betas_zero_snr).toBe(true);
    expect(scheduler.config.prediction_type).toBe('v_prediction');
  });

  it('wrong value types surface as typed ConfigErrors naming the field', async () => {
    hub.repos.set('org/typed', {
      commit: COMMIT,
      files: { 'scheduler_config.json': '{"_class_name": "DDIMScheduler", "num_train_timesteps": "1000"}' },
    });
    const error = await DDIMScheduler.fromPretrained('org/typed', { endpoint: hub.url }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe('num_train_timesteps');
    expect((error as ConfigError).value).toBe('1000');
  });

  it('savePretrained writes the exact text diffusers writes, and fromPretrained reads it back', async () => {
    const model = path.join(tmp, 'model');
    await writeFile(path.join(model, 'scheduler', 'scheduler_config.json'), fixtureText('sd21-ddim-v.json'));
    const scheduler = await DDIMScheduler.fromPretrained(model, {
      subfolder: 'scheduler',
      onWarning: () => {},
    });
    const out = path.join(tmp, 'out', 'scheduler');
    const written = await scheduler.savePretrained(out);
    expect(written).toBe(path.join(out, 'scheduler_config.json'));
    expect(scheduler.toJSON()).toEqual(SD21_DDIM_CONFIG);
    expect(await fs.readFile(written, 'utf8')).toBe(SD21_DDIM_SAVED);
    const warnings: string[] = [];
    const reloaded = await DDIMScheduler.fromPretrained(path.join(tmp, 'out'), {
      subfolder: 'scheduler',
      onWarning: (m) => warnings.push(m),
    });
    expect(reloaded.toJSON()).toEqual(scheduler.toJSON());
    expect(warnings).toEqual([]);
  });

  it('DDIMInverseScheduler loads and saves the same way', async () => {
    const model = path.join(tmp, 'model');
    await writeFile(
      path.join(model, 'scheduler', 'scheduler_config.json'),
      fixtureText('zero-snr-trailing-v.json'),
    );
    const warnings: string[] = [];
    const inverse = await DDIMInverseScheduler.fromPretrained(model, {
      subfolder: 'scheduler',
      onWarning: (m) => warnings.push(m),
    });
    expect(inverse.config.timestep_spacing).toBe('trailing');
    expect(inverse.config.rescale_betas_zero_snr).toBe(true);
    // DDIMInverseScheduler takes no thresholding keys: a DDIMScheduler config's are dropped silently,
    // as diffusers drops them (keys of a compatible class).
    expect(warnings).toEqual([]);
    const file = await inverse.savePretrained(path.join(tmp, 'inv'));
    const text = await fs.readFile(file, 'utf8');
    expect(text).toContain('"_class_name": "DDIMInverseScheduler"');
    expect(text).toContain('"clip_sample_range": 1.0,');
    expect(text).not.toContain('thresholding');
    const back = await DDIMInverseScheduler.fromPretrained(path.join(tmp, 'inv'));
    expect(back.toJSON()).toEqual(inverse.toJSON());
  });
});
