/**
 * The Node config source: local folders and files, and the Hugging Face cache that Python's
 * `huggingface_hub` reads and writes, so a config Python downloaded loads here offline and one
 * downloaded here is found by Python.
 *
 * Cache layout (huggingface_hub's `hf_hub_download`):
 *
 *   <cache>/models--<org>--<name>/
 *     refs/<revision>                      the commit hash the revision pointed at (no newline)
 *     blobs/<etag>                         file contents, named by the Hub's ETag (git sha1, or sha256 for LFS)
 *     snapshots/<commit>/<path>            relative symlink to ../../blobs/<etag> (a copy where symlinks fail)
 *
 * Why not `@huggingface/hub` (its `downloadFileToCacheDir`)? We evaluated 2.17: it asks the
 * `/api/models/.../paths-info` endpoint before downloading (a second request, and an API that
 * Hub mirrors and plain resolve servers lack), files each download under the snapshot of the
 * file's *last commit* rather than the commit the revision points at, and never writes
 * `refs/<revision>`, so Python's offline lookup of "main" does not find what it downloaded. It
 * also has no offline read, no size or time limit of its own, and pulls in a WASM dependency. The
 * layout above is small, and writing it ourselves keeps every path under our validation.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs, type Stats } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadError } from '../../errors.js';
import type { ConfigSource, LoadedConfig, ResolvedLoadOptions } from '../hub.js';
import {
  authHeaders,
  CONFIG_NAME,
  checkEndpoint,
  checkRepoId,
  configFilePath,
  configUrlFor,
  DEFAULT_ENDPOINT,
  fetchFile,
  hubFileUrl,
  isCommitHash,
  isHttpUrl,
  isTransientLoadError,
  type LoadContext,
  looksLikeLocalPath,
  parseConfigBytes,
  sameOrigin,
  tooLarge,
} from '../hub-internal.js';

type Env = Record<string, string | undefined>;

/** `~` and `~/...` as the home folder, as Python's `os.path.expanduser` (other paths unchanged). */
export function expandHome(p: string): string {
  return p === '~' || p.startsWith('~/') || p.startsWith('~\\') ? path.join(homedir(), p.slice(1)) : p;
}

/** HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface (huggingface_hub's constants). */
function hfHome(env: Env): string {
  if (env.HF_HOME) return expandHome(env.HF_HOME);
  const xdg = env.XDG_CACHE_HOME ? expandHome(env.XDG_CACHE_HOME) : path.join(homedir(), '.cache');
  return path.join(xdg, 'huggingface');
}

/** The hub cache folder Python's huggingface_hub uses: HF_HUB_CACHE, else $HF_HOME/hub. */
export function hubCacheDir(env: Env = process.env): string {
  const explicit = env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE;
  return path.resolve(explicit ? expandHome(explicit) : path.join(hfHome(env), 'hub'));
}

/** HF_ENDPOINT, checked like the endpoint option. */
export function envEndpoint(env: Env): string {
  const value = env.HF_ENDPOINT?.trim();
  if (!value) return DEFAULT_ENDPOINT;
  try {
    return checkEndpoint(value) ?? DEFAULT_ENDPOINT;
  } catch {
    throw new LoadError({
      field: 'HF_ENDPOINT',
      value,
      problem: 'must be an http(s) URL',
      fix: 'unset it for https://huggingface.co, or set it to a Hub mirror URL.',
    });
  }
}

export function envFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

/** huggingface_hub's `get_token`: HF_TOKEN, the legacy HUGGING_FACE_HUB_TOKEN, then the login token file. */
export async function envToken(env: Env): Promise<string | undefined> {
  const fromEnv = env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
  if (fromEnv?.trim()) return fromEnv.trim();
  const file = env.HF_TOKEN_PATH ? expandHome(env.HF_TOKEN_PATH) : path.join(hfHome(env), 'token');
  try {
    const stat = await fs.stat(file);
    if (!stat.isFile() || stat.size > 4096) return undefined;
    const token = (await fs.readFile(file, 'utf8')).trim();
    return token || undefined;
  } catch {
    return undefined;
  }
}

/** True when `child` is `parent` or lies inside it (both absolute, already resolved). */
export function isInside(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

export function escapeError(field: string, value: unknown, where: string): LoadError {
  return new LoadError({
    field,
    value,
    problem: `leads outside ${where}`,
    fix: 'use a plain repo id, subfolder and revision; if the cache itself holds such a link, delete that entry and load again.',
  });
}

export async function statOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(p);
  } catch {
    return undefined;
  }
}

/** Read a regular file of at most maxBytes (checked on the open handle, so a growing file cannot slip past). */
async function readBounded(file: string, maxBytes: number): Promise<Uint8Array> {
  const handle = await fs.open(file, 'r');
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) {
      throw new LoadError({
        field: 'source',
        value: file,
        problem: 'is not a regular file',
        fix: `point at ${CONFIG_NAME} or at the folder holding it.`,
      });
    }
    if (stat.size > maxBytes) throw tooLarge(file, maxBytes, `${stat.size} bytes`);
    const buffer = new Uint8Array(maxBytes + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > maxBytes) throw tooLarge(file, maxBytes, `it grew past ${maxBytes} bytes while read`);
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

async function readConfigFile(
  file: string,
  options: ResolvedLoadOptions,
  context: LoadContext,
): Promise<LoadedConfig> {
  const bytes = await context.race(readBounded(file, options.maxBytes), file);
  return { config: parseConfigBytes(bytes, file), resolvedFrom: file, origin: 'file' };
}

// ---------------------------------------------------------------------------------------------
// Local files and folders

async function loadLocal(
  p: string,
  stat: Stats,
  options: ResolvedLoadOptions,
  context: LoadContext,
): Promise<LoadedConfig> {
  if (stat.isFile()) return readConfigFile(p, options, context); // the file itself; subfolder ignored, as diffusers does
  if (!stat.isDirectory()) {
    throw new LoadError({
      field: 'source',
      value: p,
      problem: 'is neither a file nor a folder',
      fix: `point at ${CONFIG_NAME} or at the folder holding it.`,
    });
  }
  // diffusers' load_config: <folder>/<subfolder>/scheduler_config.json, else <folder>/scheduler_config.json.
  const candidates = options.subfolder
    ? [path.join(p, ...options.subfolder.split('/'), CONFIG_NAME), path.join(p, CONFIG_NAME)]
    : [path.join(p, CONFIG_NAME)];
  for (const candidate of candidates) {
    if ((await statOrUndefined(candidate))?.isFile()) return readConfigFile(candidate, options, context);
  }
  const looked = candidates.map((c) => path.dirname(c)).join(' or ');
  const modelFolder =
    !options.subfolder && (await statOrUndefined(path.join(p, 'scheduler', CONFIG_NAME)))?.isFile();
  throw new LoadError({
    field: options.subfolder ? 'subfolder' : 'source',
    value: options.subfolder ?? p,
    problem: `leads to no ${CONFIG_NAME} (looked in ${looked})`,
    fix: modelFolder
      ? 'this is a diffusers model folder: pass { subfolder: "scheduler" }.'
      : `point at a folder holding ${CONFIG_NAME}, a model folder with { subfolder }, or the file itself.`,
  });
}

// ---------------------------------------------------------------------------------------------
// The Hugging Face cache

export interface RepoCache {
  cacheDir: string;
  repoDir: string;
}

export function repoCache(cacheDir: string, repoId: string): RepoCache {
  const root = path.resolve(cacheDir);
  // huggingface_hub's repo_folder_name: "models--" + the id's parts joined by "--".
  const repoDir = path.join(root, `models--${repoId.split('/').join('--')}`);
  if (!isInside(root, repoDir) || repoDir === root)
    throw escapeError('source', repoId, `the cache folder ${root}`);
  return { cacheDir: root, repoDir };
}

/** huggingface_hub's `_normalize_etag`: drop a weak-validator prefix and the quotes. */
function normalizeEtag(etag: string | undefined): string | undefined {
  if (!etag) return undefined;
  return etag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"+|"+$/g, '');
}

/** The Hub's ETag of a file stored in git (not LFS): the git blob hash. */
function gitBlobSha1(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');
}

/** Resolve a revision to a commit through refs/<revision>; undefined when the cache does not know it. */
export async function commitForRevision(repo: RepoCache, revision: string): Promise<string | undefined> {
  if (isCommitHash(revision)) return revision;
  const refsDir = path.join(repo.repoDir, 'refs');
  const refFile = path.join(refsDir, ...revision.split('/'));
  if (!isInside(refsDir, refFile))
    throw escapeError('revision', revision, `the cache folder ${repo.repoDir}`);
  const stat = await statOrUndefined(refFile);
  if (!stat?.isFile()) return undefined;
  const commit = stat.size <= 256 ? (await fs.readFile(refFile, 'utf8')).trim() : '(a large file)';
  if (!isCommitHash(commit)) {
    // A ref holds a commit hash; anything else (say "../../../etc") must never become a path.
    throw new LoadError({
      field: 'revision',
      value: revision,
      // Echo the content only when it is short printable text: the ref could be a link to any file.
      problem: `is recorded in ${refFile} as ${/^[\x20-\x7e]{1,60}$/.test(commit) ? JSON.stringify(commit) : 'something'}, which is not a commit hash`,
      fix: `delete ${refFile}; the next online load writes it again.`,
    });
  }
  return commit;
}

/** The cached config for (repo, revision, subfolder), or undefined if the cache does not have it. */
async function readFromCache(
  repo: RepoCache,
  revision: string,
  filePath: string,
  maxBytes: number,
): Promise<LoadedConfig | undefined> {
  const commit = await commitForRevision(repo, revision);
  if (commit === undefined) return undefined;
  const snapshotDir = path.join(repo.repoDir, 'snapshots', commit);
  const file = path.join(snapshotDir, ...filePath.split('/'));
  if (!isInside(snapshotDir, file))
    throw escapeError('subfolder', filePath, `the snapshot folder ${snapshotDir}`);
  if (!(await statOrUndefined(file))?.isFile()) return undefined;
  // Snapshot entries are symlinks into blobs/; one that resolves elsewhere is not ours to read.
  const [realRepo, realFile] = await Promise.all([fs.realpath(repo.repoDir), fs.realpath(file)]);
  if (!isInside(realRepo, realFile)) {
    throw new LoadError({
      field: 'source',
      value: file,
      problem: `resolves to ${realFile}, outside the cache folder of this repo (${realRepo})`,
      fix: `delete ${file} and load again online.`,
    });
  }
  const bytes = await readBounded(realFile, maxBytes);
  return { config: parseConfigBytes(bytes, file), resolvedFrom: file, origin: 'cache', commit };
}

export interface CacheWrite {
  cacheDir: string;
  repoId: string;
  revision: string;
  /** The commit the revision points at (the Hub's X-Repo-Commit). */
  commit: string;
  /** The Hub's ETag / X-Linked-Etag (raw); the git blob hash of `bytes` is used when absent or not a hash. */
  etag: string | undefined;
  /** Path of the file inside the repo, e.g. "scheduler/scheduler_config.json". */
  filePath: string;
  bytes: Uint8Array;
  /** Try a symlink from the snapshot to the blob (default true); a copy is written where that fails. */
  useSymlinks?: boolean;
}

/**
 * `mkdir -p`, without Node's `{ recursive: true }`: that reads every ENOENT as "a parent is
 * missing", creates the parent (EEXIST) and retries, forever, where a parent exists but cannot
 * hold the child (procfs: `/proc/x`; a dangling symlink). Measured on Node 20: it never settles.
 * Here the walk goes up once to the first existing folder, then creates each missing level once,
 * so such a path fails with its ENOENT at once.
 */
export async function makeDirectory(folder: string): Promise<void> {
  const missing: string[] = [];
  let current = path.resolve(folder);
  for (;;) {
    try {
      await fs.mkdir(current);
      break;
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'EEXIST') {
        await requireDirectory(current, error);
        break;
      }
      const parent = path.dirname(current);
      if (code !== 'ENOENT' || parent === current) throw error;
      missing.push(current);
      current = parent;
    }
  }
  for (let i = missing.length - 1; i >= 0; i--) {
    try {
      await fs.mkdir(missing[i]);
    } catch (error) {
      // The parent exists now, so any error (ENOENT included) is final.
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
      await requireDirectory(missing[i], error);
    }
  }
}

/** An existing path (followed through symlinks) must be a folder; else mkdir's own EEXIST stands. */
async function requireDirectory(folder: string, original: unknown): Promise<void> {
  if (!(await fs.stat(folder)).isDirectory()) throw original;
}

/** Make `file` by `create(temp)` under a temporary name, then rename it into place: never half-written. */
export async function createAtomically(file: string, create: (temp: string) => Promise<void>): Promise<void> {
  const temp = `${file}.${randomBytes(6).toString('hex')}.incomplete`;
  try {
    await create(temp);
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
}

/**
 * Store a downloaded file in the layout huggingface_hub writes: the blob named by ETag, the
 * snapshot entry as a relative symlink to it (a copy where the file system refuses symlinks, as
 * on Windows without developer mode — huggingface_hub falls back the same way), and
 * refs/<revision> holding the commit. Every write lands in a temporary name first and is
 * renamed into place, so Python never sees a half-written file. Returns the snapshot path.
 */
export async function writeToHubCache(write: CacheWrite): Promise<string> {
  checkRepoId(write.repoId);
  if (!isCommitHash(write.commit)) {
    throw new LoadError({
      field: 'commit',
      value: write.commit,
      problem: 'is not a commit hash',
      fix: 'the server sent a malformed X-Repo-Commit header; nothing was cached.',
    });
  }
  const repo = repoCache(write.cacheDir, write.repoId);
  const normalized = normalizeEtag(write.etag);
  // A hostile server's ETag must not become a path: only hashes are used, else the git blob hash
  // (which is what the Hub sends for a file stored in git).
  const etag =
    normalized && /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(normalized) ? normalized : gitBlobSha1(write.bytes);
  const blobsDir = path.join(repo.repoDir, 'blobs');
  const blob = path.join(blobsDir, etag);
  const snapshotDir = path.join(repo.repoDir, 'snapshots', write.commit);
  const pointer = path.join(snapshotDir, ...write.filePath.split('/'));
  const refsDir = path.join(repo.repoDir, 'refs');
  const ref = path.join(refsDir, ...write.revision.split('/'));
  if (!isInside(snapshotDir, pointer)) throw escapeError('subfolder', write.filePath, snapshotDir);
  if (!isInside(refsDir, ref)) throw escapeError('revision', write.revision, refsDir);

  await makeDirectory(blobsDir);
  if (!(await statOrUndefined(blob))?.isFile()) {
    await createAtomically(blob, (temp) => fs.writeFile(temp, write.bytes));
  }

  await linkSnapshotEntry(pointer, blob, write.useSymlinks !== false);
  await writeRef(ref, write.revision, write.commit);
  return pointer;
}

/**
 * The snapshot entry `pointer` for `blob`: a relative symlink (what huggingface_hub writes), or a
 * copy where the file system refuses symlinks (Windows without developer mode; huggingface_hub
 * falls back the same way). Made under a temporary name and renamed into place.
 */
export async function linkSnapshotEntry(pointer: string, blob: string, useSymlinks = true): Promise<void> {
  await makeDirectory(path.dirname(pointer));
  await createAtomically(pointer, async (temp) => {
    if (useSymlinks) {
      try {
        await fs.symlink(path.relative(path.dirname(pointer), blob), temp);
        return;
      } catch {
        // the file system refuses symlinks: a copy, below
      }
    }
    await fs.copyFile(blob, temp);
  });
}

/** refs/<revision> = commit (nothing for a revision that is the commit itself). */
export async function writeRef(ref: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  await makeDirectory(path.dirname(ref));
  const current = await fs.readFile(ref, 'utf8').catch(() => undefined);
  // huggingface_hub writes the bare hash, no newline, and only when it changed.
  if (current !== commit) await createAtomically(ref, (temp) => fs.writeFile(temp, commit));
}

async function loadFromHub(
  source: string,
  options: ResolvedLoadOptions,
  context: LoadContext,
  env: Env,
): Promise<LoadedConfig> {
  const repoId = checkRepoId(source);
  const { revision, subfolder } = options;
  const filePath = configFilePath(subfolder);
  const repo = repoCache(options.cacheDir ? expandHome(options.cacheDir) : hubCacheDir(env), repoId);
  const offline = options.localFilesOnly ?? envFlag(env.HF_HUB_OFFLINE);
  const what = `${repoId} (revision "${revision}", ${filePath})`;

  // A commit never changes, so a cached snapshot of one is used without asking the Hub.
  if (offline || isCommitHash(revision)) {
    const cached = await readFromCache(repo, revision, filePath, options.maxBytes);
    if (cached) return cached;
    if (offline) {
      throw new LoadError({
        field: 'localFilesOnly',
        value: true,
        problem: `${options.localFilesOnly === undefined ? '(HF_HUB_OFFLINE) ' : ''}is set, and ${what} is not in the Hugging Face cache at ${repo.cacheDir}`,
        fix: "load it once online (or with Python's huggingface_hub), or point cacheDir / HF_HUB_CACHE at the cache that holds it.",
      });
    }
  }

  const endpoint = options.endpoint ?? envEndpoint(env);
  const token = options.token === false ? undefined : (options.token ?? (await envToken(env)));
  const url = hubFileUrl(endpoint, repoId, revision, filePath);
  let fetched: Awaited<ReturnType<typeof fetchFile>>;
  try {
    fetched = await fetchFile(url, {
      fetch: options.fetch,
      headers: authHeaders(token),
      maxBytes: options.maxBytes,
      context,
      target: { repoId, revision, subfolder, hasToken: token !== undefined },
      manualRedirects: true,
    });
  } catch (error) {
    // Like huggingface_hub: when the Hub cannot be reached (or fails), a cached copy stands in.
    if (isTransientLoadError(error) || (error instanceof LoadError && error.field === 'timeoutMs')) {
      const cached = await readFromCache(repo, revision, filePath, options.maxBytes).catch(() => undefined);
      if (cached) {
        options.warn(`${(error as Error).message} Using the cached copy at ${cached.resolvedFrom}.`);
        return cached;
      }
    }
    throw error;
  }
  // Parse (and refuse hostile JSON) before anything reaches the cache.
  const config = parseConfigBytes(fetched.bytes, url);
  // The commit the Hub names, else the revision when it is one; a malformed header is never a path.
  const named = fetched.commit ?? revision;
  const commit = isCommitHash(named) ? named : undefined;
  if (commit === undefined) {
    options.warn(
      `${url} sent no valid X-Repo-Commit header (got ${JSON.stringify(fetched.commit ?? null)}), so the config was not stored in the Hugging Face cache.`,
    );
  } else {
    try {
      await writeToHubCache({
        cacheDir: repo.cacheDir,
        repoId,
        revision,
        commit,
        etag: fetched.etag,
        filePath,
        bytes: fetched.bytes,
      });
    } catch (error) {
      options.warn(
        `could not store ${filePath} in the Hugging Face cache at ${repo.cacheDir} (${(error as Error).message}); the config was loaded anyway.`,
      );
    }
  }
  return { config, resolvedFrom: url, origin: 'network', ...(commit !== undefined ? { commit } : {}) };
}

async function loadUrl(
  source: string,
  options: ResolvedLoadOptions,
  context: LoadContext,
  env: Env,
): Promise<LoadedConfig> {
  const url = configUrlFor(source, options.subfolder);
  // An explicit token goes wherever the caller sends it; a token from the environment only to the
  // Hub endpoint, never to an arbitrary host named in a URL.
  const endpoint = options.endpoint ?? envEndpoint(env);
  let token: string | undefined;
  if (typeof options.token === 'string') token = options.token;
  else if (options.token === undefined && sameOrigin(url, endpoint)) token = await envToken(env);
  const fetched = await fetchFile(url, {
    fetch: options.fetch,
    headers: authHeaders(token),
    maxBytes: options.maxBytes,
    context,
    target: { hasToken: token !== undefined },
  });
  return { config: parseConfigBytes(fetched.bytes, url), resolvedFrom: url, origin: 'network' };
}

/**
 * What the Node entry registers. Order of resolution follows diffusers: an existing local file or
 * folder first, then a Hub repo id (cache, then network); `file:` and http(s) URLs directly.
 */
export const nodeConfigSource: ConfigSource = {
  name: 'node',
  async load(source, options, context) {
    const env = process.env;
    if (source.startsWith('file:')) {
      let file: string;
      try {
        file = fileURLToPath(source);
      } catch (error) {
        throw new LoadError({
          field: 'source',
          value: source,
          problem: 'is not a valid file: URL',
          fix: 'pass a path or a file:///absolute/path URL.',
          cause: error,
        });
      }
      const stat = await statOrUndefined(file);
      if (!stat) {
        throw new LoadError({
          field: 'source',
          value: source,
          problem: 'does not exist',
          fix: 'check the path.',
        });
      }
      return loadLocal(file, stat, options, context);
    }
    if (isHttpUrl(source)) {
      if (options.localFilesOnly ?? envFlag(env.HF_HUB_OFFLINE)) {
        throw new LoadError({
          field: 'localFilesOnly',
          value: true,
          problem: `is set, and ${source} is a URL (only Hub repo ids are cached)`,
          fix: 'drop localFilesOnly (and HF_HUB_OFFLINE), or load the repo by id.',
        });
      }
      return loadUrl(source, options, context, env);
    }
    const local = expandHome(source);
    const stat = await statOrUndefined(local);
    if (stat) return loadLocal(path.resolve(local), stat, options, context);
    if (looksLikeLocalPath(source)) {
      throw new LoadError({
        field: 'source',
        value: source,
        problem: `is not an existing file or folder (resolved to ${path.resolve(local)})`,
        fix: `check the path; relative paths are resolved against the working folder ${process.cwd()}.`,
      });
    }
    return loadFromHub(source, options, context, env);
  },

  async save(dir, text) {
    const folder = path.resolve(expandHome(dir));
    const file = path.join(folder, CONFIG_NAME);
    try {
      await makeDirectory(folder);
      await fs.writeFile(file, text, 'utf8');
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new LoadError({
        field: 'dir',
        value: dir,
        problem: `could not be written (${code ?? (error as Error).message})`,
        fix:
          code === 'EEXIST' || code === 'ENOTDIR'
            ? 'the path (or a parent) is a file: pass a folder path.'
            : 'check that the folder is writable.',
        cause: error,
      });
    }
    return file;
  },
};
