/**
 * One file of a Hub repository downloaded into the cache's `blobs/` folder: streamed to disk,
 * resumed with a Range request after a dropped connection, checked against the hash the Hub gives
 * for it, and only then renamed into place. Nothing under `blobs/<hash>` is ever half-written or
 * unchecked, so Python's huggingface_hub and later runs can trust whatever is there.
 *
 * What huggingface_hub does, matched: the bytes go to `blobs/<etag>.incomplete` first; a
 * dropped connection is resumed with `Range: bytes=<written>-` (up to 5 times without progress);
 * an `.incomplete` left by an earlier run (ours or Python's) is resumed the same way; a server that
 * ignores the Range (200 instead of 206) restarts the file; `Accept-Encoding: identity`, so sizes
 * and ranges count the file's own bytes.
 *
 * What it adds: huggingface_hub only compares the size. Here the content's sha256 (LFS files: the
 * Hub's `X-Linked-Etag` and its listing's `lfs.sha256`) or git blob sha1 (other files: `ETag`,
 * `blobId`) must match too; bytes that do not are deleted, `.incomplete` included, and the load
 * fails with a LoadError saying so. If they came partly from an earlier run's `.incomplete`, the
 * file is downloaded once more from the start before giving up, since the stale part may be the
 * culprit.
 *
 * No cross-process lock: huggingface_hub's `.locks/` use `flock`, which Node cannot take. Two
 * processes writing one `.incomplete` at once produce bytes that fail the hash check, so the worst
 * outcome is a failed load, never a trusted bad file. Within one process, downloads of one blob
 * are shared.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { DdimError, LoadError } from '../../errors.js';
import {
  discardBody,
  type FetchLike,
  isTransientLoadError,
  type LoadContext,
  openResponse,
  type RequestTarget,
} from '../hub-internal.js';
import { type ExpectedHash, hashFromEtag } from '../hub-repo.js';
import { type ResolvedModelFilesOptions, withContext } from '../model-files-options.js';
import { hashMismatch } from '../remote-model-files.js';
import { makeDirectory } from './hub-cache.js';

/** Tries without a single new byte before a dropped download is given up (huggingface_hub's 5). */
const MAX_STALLED_RETRIES = 5;
/** Wait before retry n: 250 ms times n (huggingface_hub waits 1 s). */
const RETRY_DELAY_MS = 250;

export interface BlobRequest {
  /** The file's resolve URL at the commit. */
  url: string;
  /** Authorization for the Hub (dropped on the redirect to another host). */
  headers: Record<string, string>;
  fetch: FetchLike;
  blobsDir: string;
  /** The path in the repository, for messages and progress. */
  file: string;
  /** The hash the listing gives; when it gives none, the Hub's response headers must. */
  expected: ExpectedHash | undefined;
  /** The size the listing gives. */
  size: number | undefined;
  target: RequestTarget;
  options: ResolvedModelFilesOptions;
}

/** Downloads in progress in this process, by blob path: a second request for a blob joins the first. */
const inFlight = new Map<string, Promise<string>>();

/** Download `request.file` into `blobs/<hash>` (if not already there); returns the blob's path. */
export async function downloadBlob(request: BlobRequest): Promise<string> {
  let expected = request.expected;
  let size = request.size;
  if (expected === undefined) {
    // A listing without hashes (a mirror that ignores ?blobs=true): ask the Hub for the file's
    // metadata, as huggingface_hub's HEAD does.
    const meta = await headMetadata(request);
    expected = meta.expected;
    size ??= meta.size;
  }
  const blob = path.join(request.blobsDir, expected.hex);
  const existing = inFlight.get(blob);
  if (existing) return existing;
  const job = (async () => {
    const stat = await fs.stat(blob).catch(() => undefined);
    if (stat?.isFile() && (size === undefined || stat.size === size)) return blob;
    await makeDirectory(request.blobsDir);
    await download(request, blob, expected, size, true);
    return blob;
  })();
  inFlight.set(blob, job);
  try {
    return await job;
  } finally {
    inFlight.delete(blob);
  }
}

async function headMetadata(request: BlobRequest): Promise<{ expected: ExpectedHash; size?: number }> {
  return withContext(request.options, false, async (context) => {
    const opened = await openResponse(request.url, {
      fetch: (input, init) => request.fetch(input, { ...init, method: 'HEAD' }),
      headers: { ...request.headers, 'accept-encoding': 'identity' },
      maxBytes: 0,
      context,
      target: request.target,
      manualRedirects: true,
      stopAtOtherOrigin: true,
    });
    discardBody(opened.response);
    const expected = hashFromEtag(opened.etag);
    if (!expected) {
      throw new LoadError({
        field: request.file,
        value: request.url,
        problem: `has no hash in the Hub's listing nor in its ETag (got ${JSON.stringify(opened.etag ?? null)}), so its bytes cannot be checked`,
        fix: 'the endpoint is not a Hugging Face Hub (check endpoint / HF_ENDPOINT); nothing was downloaded.',
      });
    }
    // huggingface_hub's rule: X-Linked-Size, else the Content-Length of a response that is not a redirect.
    const redirected = opened.response.status >= 300 && opened.response.status < 400;
    const declared = redirected ? null : opened.response.headers.get('content-length');
    const size =
      opened.linkedSize ?? (declared !== null && /^\d{1,16}$/.test(declared) ? Number(declared) : undefined);
    return { expected, ...(size !== undefined ? { size } : {}) };
  });
}

/** A body that ended early or broke off: resumed with a Range request. */
class Dropped extends Error {}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The start of `bytes a-b/c` in a Content-Range header, and the total when given. */
function contentRange(header: string | null): { start: number; total: number | undefined } | undefined {
  const m = header === null ? null : /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header.trim());
  if (!m) return undefined;
  return { start: Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) };
}

/** The server sent what cannot be this file (more bytes than it has): the partial file is deleted. */
class Refused extends Error {
  constructor(readonly loadError: LoadError) {
    super(loadError.message);
  }
}

/** A disk write failed: not a network problem, so never retried. */
class WriteFailed extends Error {
  constructor(readonly loadError: LoadError) {
    super(loadError.message);
  }
}

/** The state of one `.incomplete` file: its handle, how much it holds, and the hash of that much. */
class Partial {
  offset = 0;
  hash: Hash | undefined;
  private constructor(
    readonly file: string,
    readonly handle: fs.FileHandle,
    private readonly algorithm: ExpectedHash['algorithm'],
  ) {}

  /** Open `file` to continue it (its bytes so far hashed from disk), or from zero. */
  static async open(file: string, algorithm: ExpectedHash['algorithm'], size: number | undefined) {
    let offset = (await fs.stat(file).catch(() => undefined))?.size ?? 0;
    if (size !== undefined && offset > size) offset = 0; // longer than the file: not a prefix of it
    const handle = await fs.open(file, offset > 0 ? 'r+' : 'w');
    const partial = new Partial(file, handle, algorithm);
    try {
      if (offset > 0) {
        await handle.truncate(offset);
        if (algorithm === 'sha256') {
          partial.hash = createHash('sha256');
          for await (const chunk of createReadStream(file, { start: 0, end: offset - 1 })) {
            partial.hash.update(chunk as Buffer);
          }
        }
        partial.offset = offset;
      } else if (algorithm === 'sha256') {
        partial.hash = createHash('sha256');
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    return partial;
  }

  async restart(): Promise<void> {
    await this.handle.truncate(0);
    this.offset = 0;
    this.hash = this.algorithm === 'sha256' ? createHash('sha256') : undefined;
  }

  async append(chunk: Uint8Array): Promise<void> {
    let written = 0;
    try {
      while (written < chunk.byteLength) {
        const { bytesWritten } = await this.handle.write(
          chunk,
          written,
          chunk.byteLength - written,
          this.offset + written,
        );
        written += bytesWritten;
      }
    } catch (error) {
      const code = (error as { code?: string }).code;
      throw new WriteFailed(
        new LoadError({
          field: 'cacheDir',
          value: path.dirname(this.file),
          problem: `could not be written (${code ?? (error as Error).message}) while downloading into ${this.file}`,
          fix:
            code === 'ENOSPC'
              ? 'free disk space, or point cacheDir (or HF_HUB_CACHE) at a disk with room.'
              : 'check that the cache folder is writable, or point cacheDir (or HF_HUB_CACHE) elsewhere.',
          cause: error,
        }),
      );
    }
    this.hash?.update(chunk);
    this.offset += chunk.byteLength;
  }

  /** The content's hash, as `expected` names it (git blobs are hashed from disk: they are small). */
  async digest(): Promise<string> {
    if (this.hash) return this.hash.digest('hex');
    const git = createHash('sha1').update(`blob ${this.offset}\0`);
    for await (const chunk of createReadStream(this.file)) git.update(chunk as Buffer);
    return git.digest('hex');
  }
}

async function download(
  request: BlobRequest,
  blob: string,
  expected: ExpectedHash,
  size: number | undefined,
  mayRetryFromZero: boolean,
): Promise<void> {
  const incomplete = `${blob}.incomplete`;
  const partial = await Partial.open(incomplete, expected.algorithm, size);
  const resumedFromDisk = partial.offset > 0;
  let digest: string;
  try {
    await withContext(request.options, true, (context) =>
      transfer(request, partial, expected, size, context),
    );
    digest = await partial.digest();
  } catch (error) {
    if (error instanceof WriteFailed) throw error.loadError;
    if (!(error instanceof Refused)) throw error; // a drop, abort or stall: the .incomplete stays, to resume
    await partial.handle.close();
    await fs.rm(incomplete, { force: true });
    throw error.loadError;
  } finally {
    await partial.handle.close().catch(() => {});
  }
  if (digest !== expected.hex) {
    await fs.rm(incomplete, { force: true });
    if (resumedFromDisk && mayRetryFromZero) {
      request.options.warn(
        `${request.file}: the bytes resumed from ${incomplete} did not match the Hub's hash; downloading it again from the start.`,
      );
      return download(request, blob, expected, size, false);
    }
    throw hashMismatch(request.file, request.url, expected, digest, 'Nothing was kept in the cache.');
  }
  await fs.rename(incomplete, blob);
}

/** Fill `partial` up to the end of the file, resuming with Range after drops. */
async function transfer(
  request: BlobRequest,
  partial: Partial,
  expected: ExpectedHash,
  size: number | undefined,
  context: LoadContext,
): Promise<void> {
  const { options, file } = request;
  let retries = MAX_STALLED_RETRIES;
  let attempt = 0;
  for (;;) {
    if (size !== undefined && partial.offset === size) return;
    const from = partial.offset;
    try {
      const headers: Record<string, string> = { ...request.headers, 'accept-encoding': 'identity' };
      if (from > 0) headers.range = `bytes=${from}-`;
      const opened = await openResponse(request.url, {
        fetch: request.fetch,
        headers,
        maxBytes: Number.POSITIVE_INFINITY,
        context,
        target: request.target,
        manualRedirects: true,
        acceptStatus: [416],
      });
      const { response } = opened;
      const told = hashFromEtag(opened.etag);
      if (told && told.hex !== expected.hex && told.algorithm === expected.algorithm) {
        discardBody(response);
        throw new LoadError({
          field: file,
          value: request.url,
          problem: `is served as ${told.hex}, but the Hub's listing says ${expected.hex}`,
          fix: 'the repository changed while loading, or the endpoint is inconsistent; try again.',
        });
      }
      if (response.status === 416) {
        // "Range not satisfiable": we asked past the end, so what is on disk is not a prefix of the file.
        discardBody(response);
        await partial.restart();
        if (--retries < 0) throw gaveUp(request, 'the server refused every Range request');
        continue;
      }
      if (from > 0) {
        const range = contentRange(response.headers.get('content-range'));
        if (response.status !== 206 || range?.start !== from) {
          // The server ignored the Range (or answered another one): take the whole file from the start.
          if (response.status === 206) {
            discardBody(response);
            await partial.restart();
            continue;
          }
          await partial.restart();
        }
      }
      let total: number | null = size ?? null;
      if (total === null) {
        const range = contentRange(response.headers.get('content-range'));
        const length = response.headers.get('content-length');
        if (range?.total !== undefined) total = range.total;
        else if (length !== null && /^\d{1,16}$/.test(length)) total = partial.offset + Number(length);
      }
      options.progress(file, partial.offset, total);
      if (!response.body) {
        const bytes = new Uint8Array(await context.race(response.arrayBuffer(), file));
        await partial.append(bytes);
      } else {
        const reader = response.body.getReader();
        try {
          for (;;) {
            const { done, value } = await context.race(reader.read(), file);
            if (done) break;
            if (size !== undefined && partial.offset + value.byteLength > size) {
              throw new Refused(
                new LoadError({
                  field: file,
                  value: request.url,
                  problem: `arrived with more than the ${size} bytes the Hub lists for it; the bytes were refused`,
                  fix: 'Nothing was kept in the cache. The server is inconsistent with its listing; try again.',
                }),
              );
            }
            await partial.append(value);
            retries = MAX_STALLED_RETRIES;
            options.progress(file, partial.offset, total);
          }
        } catch (error) {
          reader.cancel().catch(() => {});
          throw error;
        }
      }
      // The body ended. Without a known size, that is the end of the file; with one, a short body
      // is a connection closed early, resumed below like any drop.
      if (size === undefined || partial.offset === size) return;
      throw new Dropped(`the body ended after ${partial.offset} of ${size} bytes`);
    } catch (error) {
      if (context.signal.aborted) throw context.stopError(file); // abort or stall: keep the .incomplete
      // Retried: a body that ended early, a connection that broke (fetch's own TypeError), and
      // the transient LoadErrors (network down, 5xx, 429). Anything else stands.
      if (error instanceof Refused || error instanceof WriteFailed) throw error;
      const retryable =
        error instanceof Dropped || (error instanceof DdimError ? isTransientLoadError(error) : true);
      if (!retryable) throw error;
      if (partial.offset > from) retries = MAX_STALLED_RETRIES;
      if (--retries < 0) throw gaveUp(request, (error as Error).message, error);
      attempt++;
      options.warn(
        `${file}: the download broke off at byte ${partial.offset} (${(error as Error).message}); resuming with a Range request.`,
      );
      await context.race(sleep(RETRY_DELAY_MS * Math.min(attempt, 8)), file);
    }
  }
}

function gaveUp(request: BlobRequest, why: string, cause?: unknown): LoadError {
  return new LoadError({
    field: request.file,
    value: request.url,
    problem: `could not be downloaded: ${MAX_STALLED_RETRIES} tries in a row brought no new bytes (${why})`,
    fix: 'check the network and try again: the bytes so far are kept in the cache (as .incomplete, never trusted) and the next try resumes from them.',
    cause,
  });
}
