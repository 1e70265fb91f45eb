/**
 * A Hub model repository under Node, through the Hugging Face cache Python's huggingface_hub
 * fills (layout in hub-cache.ts): each file the pipeline asks for is downloaded on first use into
 * `blobs/<hash>` (blob-download.ts), linked from `snapshots/<commit>/<path>`, and handed back as
 * that snapshot path, so onnxruntime-node opens the model and finds its external data next to it
 * without the bytes passing through JavaScript.
 *
 * What is downloaded: only what is read. `readText` and `readModel` fetch their file (and a
 * model's external data files, from the locations the model names); `has` answers from the
 * listing. A repository's safetensors / PyTorch weights, README and images are never fetched.
 *
 * Requests: one listing (`/api/models/{repo}/revision/{revision}?blobs=true`) at open, for the
 * commit the revision points at and every file's size and hash; then one `resolve` request per
 * file not yet in the cache. A revision that is a commit hash whose files are all cached makes no
 * request at all (a commit never changes); a branch or tag makes the one listing request, as
 * huggingface_hub asks the Hub where the branch points now.
 *
 * Offline (`localFilesOnly`, or HF_HUB_OFFLINE=1): the commit comes from `refs/<revision>`, files
 * from the snapshot, and anything missing is a LoadError naming it. When the Hub cannot be reached
 * (network, 5xx, timeout) the cached snapshot is used the same way, with a warning, as
 * huggingface_hub falls back to its cache.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DdimError, LoadError } from '../../errors.js';
import {
  authHeaders,
  checkModelFilePath,
  checkRepoId,
  hubFileUrl,
  isCommitHash,
  isTransientLoadError,
} from '../hub-internal.js';
import { expectedHash, fetchRepoListing, type RepoListing } from '../hub-repo.js';
import type { ModelFiles, OnnxModelFile } from '../model-files.js';
import {
  MAX_TEXT_BYTES,
  type RemoteModelFilesOptions,
  type ResolvedModelFilesOptions,
  resolveModelFilesOptions,
  withContext,
} from '../model-files-options.js';
import {
  type ByteReader,
  type ExternalDataFile,
  externalDataPath,
  inspectOnnxModel,
  shortExternalData,
} from '../onnx-file.js';
import { decodeText } from '../remote-model-files.js';
import { downloadBlob } from './blob-download.js';
import {
  commitForRevision,
  envEndpoint,
  envFlag,
  envToken,
  escapeError,
  expandHome,
  hubCacheDir,
  isInside,
  linkSnapshotEntry,
  type RepoCache,
  repoCache,
  statOrUndefined,
  writeRef,
} from './hub-cache.js';

type Env = Record<string, string | undefined>;

/** A ByteReader over a file on disk (the model scan reads a few windows, never the whole file). */
async function openFileReader(file: string): Promise<ByteReader & { close(): Promise<void> }> {
  const handle = await fs.open(file, 'r');
  const { size } = await handle.stat();
  return {
    size,
    async read(offset, length) {
      const buffer = new Uint8Array(Math.max(0, Math.min(length, size - offset)));
      let got = 0;
      while (got < buffer.byteLength) {
        const { bytesRead } = await handle.read(buffer, got, buffer.byteLength - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buffer.subarray(0, got);
    },
    close: () => handle.close(),
  };
}

/** Read a text file of at most `maxBytes` (the size is checked on the open handle). */
async function readTextFile(file: string, name: string, maxBytes: number): Promise<string> {
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) {
      throw new LoadError({
        field: name,
        value: file,
        problem: `is ${size} bytes, more than any text file of a model folder (${maxBytes})`,
        fix: 'the file is not the expected text file; delete it from the cache and load again.',
      });
    }
    const buffer = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await handle.read(buffer, got, size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return decodeText(buffer.subarray(0, got), name, file);
  } finally {
    await handle.close();
  }
}

/** A Hub repository at one commit, in the Hugging Face cache. */
export class HubModelFiles implements ModelFiles {
  readonly location: string;
  /** The snapshot folder: `<cache>/models--org--name/snapshots/<commit>`. */
  readonly snapshotDir: string;
  private listing: Promise<RepoListing> | undefined;
  private readonly endpoint: string;

  private constructor(
    readonly repoId: string,
    readonly commit: string,
    private readonly repo: RepoCache,
    private readonly options: ResolvedModelFilesOptions,
    /** No network: the cache only (localFilesOnly, HF_HUB_OFFLINE, or the Hub unreachable at open). */
    readonly offline: boolean,
    private readonly token: string | undefined,
    endpoint: string,
    listing: RepoListing | undefined,
  ) {
    this.snapshotDir = path.join(repo.repoDir, 'snapshots', commit);
    this.endpoint = endpoint;
    this.listing = listing ? Promise.resolve(listing) : undefined;
    this.location = `${repoId} (revision "${options.revision}", commit ${commit}${offline ? ', from the cache' : ''})`;
  }

  /** Resolve the revision (a listing request online; refs/ offline) and check the cache folder's paths. */
  static async open(source: string, options: ResolvedModelFilesOptions, env: Env): Promise<HubModelFiles> {
    const repoId = checkRepoId(source);
    const revision = options.revision;
    const cacheDir = options.cacheDir ? expandHome(options.cacheDir) : hubCacheDir(env);
    const repo = repoCache(cacheDir, repoId);
    const endpoint = options.endpoint ?? envEndpoint(env);
    const offline = options.localFilesOnly ?? envFlag(env.HF_HUB_OFFLINE);
    const make = (commit: string, isOffline: boolean, token: string | undefined, listing?: RepoListing) =>
      new HubModelFiles(repoId, commit, repo, options, isOffline, token, endpoint, listing);

    if (offline) {
      const commit = await HubModelFiles.cachedCommit(repo, revision, repoId);
      if (commit === undefined) {
        throw new LoadError({
          field: 'localFilesOnly',
          value: true,
          problem: `${options.localFilesOnly === undefined ? '(HF_HUB_OFFLINE) ' : ''}is set, and ${repoId} (revision "${revision}") is not in the Hugging Face cache at ${repo.cacheDir}`,
          fix: "load it once online (or with Python's huggingface_hub), or point cacheDir / HF_HUB_CACHE at the cache that holds it.",
        });
      }
      return make(commit, true, undefined);
    }
    const token = options.token === false ? undefined : (options.token ?? (await envToken(env)));
    // A commit never changes: its files are taken from the cache without asking, and the listing
    // is fetched only if a file is missing.
    if (isCommitHash(revision)) return make(revision, false, token);
    try {
      const listing = await withContext(options, false, (context) =>
        fetchRepoListing({
          endpoint,
          repoId,
          revision,
          token,
          fetch: options.fetch,
          context,
          manualRedirects: true,
        }),
      );
      return make(listing.commit, false, token, listing);
    } catch (error) {
      // Like huggingface_hub: when the Hub cannot be reached (or fails), the cached snapshot stands in.
      const unreachable =
        isTransientLoadError(error) || (error instanceof LoadError && error.field === 'timeoutMs');
      if (!unreachable) throw error;
      const commit = await HubModelFiles.cachedCommit(repo, revision, repoId).catch(() => undefined);
      if (commit === undefined) throw error;
      options.warn(
        `${(error as Error).message} Using the cached snapshot of ${repoId} (revision "${revision}", commit ${commit}).`,
      );
      return make(commit, true, undefined);
    }
  }

  /** The commit refs/<revision> records, if its snapshot folder exists. */
  private static async cachedCommit(repo: RepoCache, revision: string, repoId: string) {
    const commit = await commitForRevision(repo, revision);
    if (commit === undefined) return undefined;
    const dir = path.join(repo.repoDir, 'snapshots', commit);
    if (!(await statOrUndefined(dir))?.isDirectory()) {
      if (isCommitHash(revision)) return undefined;
      throw new LoadError({
        field: 'revision',
        value: revision,
        problem: `of ${repoId} is recorded in the cache as commit ${commit}, whose snapshot folder ${dir} does not exist`,
        fix: 'load it online once more (it downloads the snapshot again), or delete the refs file.',
      });
    }
    return commit;
  }

  /** The snapshot path of `file`, checked to stay inside the snapshot folder. */
  private snapshotPath(file: string): string {
    const p = path.join(this.snapshotDir, ...file.split('/'));
    if (!isInside(this.snapshotDir, p))
      throw escapeError('path', file, `the snapshot folder ${this.snapshotDir}`);
    return p;
  }

  private getListing(): Promise<RepoListing> {
    if (!this.listing) {
      const listing = withContext(this.options, false, (context) =>
        fetchRepoListing({
          endpoint: this.endpoint,
          repoId: this.repoId,
          revision: this.commit,
          token: this.token,
          fetch: this.options.fetch,
          context,
          manualRedirects: true,
        }),
      );
      // A failed listing is not remembered: a later call tries again.
      listing.catch(() => {
        if (this.listing === listing) this.listing = undefined;
      });
      this.listing = listing;
    }
    return this.listing;
  }

  private missing(file: string): LoadError {
    if (this.offline) {
      return new LoadError({
        field: file,
        value: this.snapshotDir,
        problem: `is not in the Hugging Face cache's snapshot of ${this.repoId} (commit ${this.commit}), and the Hub is not used (offline)`,
        fix: "load the model once online (or download it with Python's huggingface_hub), then again offline.",
      });
    }
    return new LoadError({
      field: file,
      value: this.location,
      problem: 'is not in the repository',
      fix: 'check the repo id and revision: a diffusers ONNX repository has model_index.json and one folder per component (unet/model.onnx, ...).',
    });
  }

  async has(path: string): Promise<boolean> {
    return this.guard(path, async (file) => {
      if ((await statOrUndefined(this.snapshotPath(file)))?.isFile()) return true;
      if (this.offline) return false;
      return (await this.getListing()).files.has(file);
    });
  }

  /**
   * The snapshot path of `path`, downloading it first if the cache lacks it; a LoadError naming
   * it when the repository has no such file (or, offline, the cache does not).
   */
  async filePath(path: string): Promise<string> {
    return this.guard(path, (file) => this.ensure(file));
  }

  async readText(path: string): Promise<string> {
    return this.guard(path, async (file) => readTextFile(await this.ensure(file), file, MAX_TEXT_BYTES));
  }

  async readModel(path: string): Promise<OnnxModelFile> {
    return this.guard(path, async (file) => {
      const local = await this.ensure(file);
      const reader = await openFileReader(local);
      let externals: ExternalDataFile[];
      try {
        externals = (await inspectOnnxModel(reader, file, local)).externalFiles;
      } finally {
        await reader.close();
      }
      const dataFiles = externals.map((e) => externalDataPath(file, e.location));
      // Every external data file must exist before any is downloaded: a model naming a file the
      // repository lacks fails at once, not after gigabytes.
      for (const dataFile of dataFiles) {
        if (!(await this.has(dataFile))) {
          throw new LoadError({
            field: dataFile,
            value: this.offline ? this.snapshotDir : this.location,
            problem: `is named by ${file} as its external data, but ${this.offline ? 'the cached snapshot' : 'the repository'} has no such file`,
            fix: this.offline
              ? 'load the model once online so that its external data is downloaded too.'
              : 'the repository is incomplete or the model was exported with another external data name; re-upload or re-export it.',
          });
        }
      }
      for (let i = 0; i < externals.length; i++) {
        const dataPath = await this.ensure(dataFiles[i]!);
        const { size } = await fs.stat(dataPath);
        if (size < externals[i]!.minBytes) {
          throw shortExternalData(file, dataFiles[i]!, dataPath, externals[i]!.minBytes, size);
        }
      }
      return { model: local, externalData: [] };
    });
  }

  /** Check the path, run `work`, and type anything untyped that escapes it (file-system errors). */
  private async guard<T>(path: string, work: (file: string) => Promise<T>): Promise<T> {
    const file = checkModelFilePath(path).join('/');
    try {
      return await work(file);
    } catch (error) {
      if (error instanceof DdimError) throw error;
      const code = (error as { code?: string }).code;
      throw new LoadError({
        field: file,
        value: this.snapshotDir,
        problem: `could not be read from the Hugging Face cache (${code ?? (error as Error)?.message ?? String(error)})`,
        fix: 'check that the cache folder is readable and writable (cacheDir / HF_HUB_CACHE).',
        cause: error,
      });
    }
  }

  /** The file's snapshot path, downloaded into the cache first when it is not there. */
  private async ensure(file: string): Promise<string> {
    const local = this.snapshotPath(file);
    const stat = await statOrUndefined(local);
    if (this.offline) {
      if (stat?.isFile()) return local;
      throw this.missing(file);
    }
    // The listing is known when the revision was a branch; for a commit it is fetched only if needed.
    const known = this.listing ? await this.listing : undefined;
    const info = known?.files.get(file);
    if (stat?.isFile()) {
      if (info?.size === undefined || stat.size === info.size) return local;
      this.options.warn(
        `${local} holds ${stat.size} bytes where the Hub lists ${info.size} for ${file}; downloading it again.`,
      );
    }
    const listing = known ?? (await this.getListing());
    const entry = info ?? listing.files.get(file);
    if (!entry) throw this.missing(file);
    const blob = await downloadBlob({
      url: hubFileUrl(this.endpoint, this.repoId, this.commit, file),
      headers: authHeaders(this.token),
      fetch: this.options.fetch,
      blobsDir: path.join(this.repo.repoDir, 'blobs'),
      file,
      expected: expectedHash(entry),
      size: entry.size,
      target: { repoId: this.repoId, revision: this.commit, file, hasToken: this.token !== undefined },
      options: this.options,
    });
    await linkSnapshotEntry(local, blob);
    // As hf_hub_download: the ref is written once a file of the commit is in the cache.
    const refsDir = path.join(this.repo.repoDir, 'refs');
    const ref = path.join(refsDir, ...this.options.revision.split('/'));
    if (!isInside(refsDir, ref)) throw escapeError('revision', this.options.revision, refsDir);
    await writeRef(ref, this.options.revision, this.commit);
    return local;
  }
}

/** Open a Hub repository through the Hugging Face cache (Node). */
export async function openHubModelFiles(
  repoId: string,
  options?: RemoteModelFilesOptions,
  env: Env = process.env,
): Promise<HubModelFiles> {
  return HubModelFiles.open(repoId, resolveModelFilesOptions(options), env);
}
