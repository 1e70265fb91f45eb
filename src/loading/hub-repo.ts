/**
 * A Hub repository at one commit: which files it has, their sizes and the hashes they must have.
 *
 * One request, `GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true`, the route
 * huggingface_hub's `model_info(repo_id, revision=..., files_metadata=True)` calls, answers both
 * questions a download needs: `sha`, the commit the revision points at (every file is then fetched
 * at that commit, so a branch that moves mid-download cannot mix two versions), and `siblings`,
 * one `{ rfilename, size, blobId, lfs?: { sha256, size, pointerSize } }` per file. (huggingface_hub
 * 1.22's `snapshot_download` takes the commit from the same route and the files from the paginated
 * tree API, `/api/models/{repo}/tree/{commit}?recursive=true`; both list the same files with the
 * same hashes, and this is one request instead of two or more.)
 *
 * A file's hash names its blob in the Hugging Face cache, as the Hub's `ETag` / `X-Linked-Etag`
 * headers do: the sha256 of the content for LFS files, the git blob sha1 for the rest.
 */
import { LoadError } from '../errors.js';
import {
  authHeaders,
  DEFAULT_ENDPOINT,
  type FetchLike,
  fetchFile,
  isCommitHash,
  type LoadContext,
  type RequestTarget,
} from './hub-internal.js';
import { MAX_LISTING_BYTES } from './model-files-options.js';

/** What the Hub says about one file of a repository. */
export interface RepoFile {
  path: string;
  /** Size in bytes (the real file's, for LFS files). */
  size?: number;
  /** The git blob sha1 (for LFS files, the pointer's). */
  gitOid?: string;
  /** The content's sha256, for LFS files. */
  sha256?: string;
}

export interface RepoListing {
  /** The commit the revision points at. */
  commit: string;
  files: Map<string, RepoFile>;
}

/** The hash a file's bytes must have, which is also its blob's name in the cache. */
export interface ExpectedHash {
  algorithm: 'sha256' | 'git-sha1';
  hex: string;
}

const SHA256 = /^[0-9a-f]{64}$/;
const SHA1 = /^[0-9a-f]{40}$/;

/** The hash to check `file` against: its LFS sha256, else its git blob sha1; undefined when the listing gave neither. */
export function expectedHash(file: RepoFile): ExpectedHash | undefined {
  if (file.sha256 !== undefined) return { algorithm: 'sha256', hex: file.sha256 };
  if (file.gitOid !== undefined) return { algorithm: 'git-sha1', hex: file.gitOid };
  return undefined;
}

/**
 * The hash an ETag names (huggingface_hub's `_normalize_etag`: weak prefix and quotes dropped): a
 * 64-hex ETag is an LFS sha256, a 40-hex one a git blob sha1, anything else names no hash.
 */
export function hashFromEtag(etag: string | undefined): ExpectedHash | undefined {
  if (!etag) return undefined;
  const hex = etag
    .trim()
    .replace(/^W\//, '')
    .replace(/^"+|"+$/g, '');
  if (SHA256.test(hex)) return { algorithm: 'sha256', hex };
  if (SHA1.test(hex)) return { algorithm: 'git-sha1', hex };
  return undefined;
}

/** `{endpoint}/api/models/{repo}/revision/{revision}?blobs=true`, the revision quoted as a whole ("refs%2Fpr%2F1"). */
export function repoInfoUrl(endpoint: string, repoId: string, revision: string): string {
  return `${endpoint.replace(/\/+$/, '')}/api/models/${repoId}/revision/${encodeURIComponent(revision)}?blobs=true`;
}

function isSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function badListing(url: string, problem: string): LoadError {
  return new LoadError({
    field: 'source',
    value: url,
    problem,
    fix: 'the endpoint is not a Hugging Face Hub API (check endpoint / HF_ENDPOINT), or it misbehaved; try again.',
  });
}

/**
 * Read a model_info answer. Only `sha` and `siblings` are read, copied field by field into fresh
 * objects (the answer also carries the model card's free-form data, never merged anywhere).
 * Entries that are not well-formed are left out, so they can never be fetched.
 */
export function parseRepoInfo(bytes: Uint8Array, url: string): RepoListing {
  let data: unknown;
  try {
    data = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw badListing(url, `is not a JSON answer (${(error as Error).message})`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw badListing(url, 'did not answer with a JSON object');
  }
  const { sha, siblings } = data as { sha?: unknown; siblings?: unknown };
  if (typeof sha !== 'string' || !isCommitHash(sha)) {
    throw badListing(url, `answered without a commit hash in "sha" (got ${JSON.stringify(sha ?? null)})`);
  }
  if (!Array.isArray(siblings)) throw badListing(url, 'answered without a "siblings" list of files');
  const files = new Map<string, RepoFile>();
  for (const entry of siblings as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { rfilename, size, blobId, lfs } = entry as Record<string, unknown>;
    if (typeof rfilename !== 'string' || rfilename.length === 0) continue;
    const file: RepoFile = { path: rfilename };
    if (isSize(size)) file.size = size;
    if (typeof blobId === 'string' && SHA1.test(blobId)) file.gitOid = blobId;
    if (typeof lfs === 'object' && lfs !== null) {
      const { sha256, size: lfsSize } = lfs as Record<string, unknown>;
      if (typeof sha256 === 'string' && SHA256.test(sha256)) file.sha256 = sha256;
      if (isSize(lfsSize)) file.size = lfsSize;
    }
    files.set(rfilename, file);
  }
  return { commit: sha, files };
}

export interface ListingRequest {
  endpoint: string | undefined;
  repoId: string;
  revision: string;
  token: string | undefined;
  fetch: FetchLike;
  context: LoadContext;
  manualRedirects?: boolean;
}

/** Fetch the listing of `repoId` at `revision`; 401 / 404 / RevisionNotFound are the usual typed LoadErrors. */
export async function fetchRepoListing(request: ListingRequest): Promise<RepoListing> {
  const url = repoInfoUrl(request.endpoint ?? DEFAULT_ENDPOINT, request.repoId, request.revision);
  const target: RequestTarget = {
    repoId: request.repoId,
    revision: request.revision,
    notFoundFix: `check the repo id "${request.repoId}" and revision "${request.revision}"; if endpoint (or HF_ENDPOINT) is a mirror, it must serve the Hub's /api/models routes.`,
    hasToken: request.token !== undefined,
  };
  const fetched = await fetchFile(url, {
    fetch: request.fetch,
    headers: authHeaders(request.token),
    maxBytes: MAX_LISTING_BYTES,
    context: request.context,
    target,
    manualRedirects: request.manualRedirects,
    tooLarge: (source, maxBytes, got) =>
      badListing(source, `sent a file listing larger than ${maxBytes} bytes (${got})`),
  });
  return parseRepoInfo(fetched.bytes, url);
}
