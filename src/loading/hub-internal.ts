/**
 * The pieces of config loading shared by the core (browser-safe, `fetch` only) and the Node
 * source in `node/hub.ts`: one deadline per load, a fetch with a size cap enforced while the body
 * streams, typed errors for every HTTP outcome, a JSON parser that refuses prototype-polluting
 * keys, and validation of repo ids, subfolders and revisions before they become URLs or paths.
 *
 * Not exported from the package entry: these are building blocks, `hub.ts` is the API.
 */
import { AbortError, DdimError, defaultWarningHandler, describeValue, LoadError } from '../errors.js';
import { assertNoForbiddenKeys, isPlainObject } from '../guard.js';

/** The file a diffusers scheduler's config is saved as (diffusers' `SCHEDULER_CONFIG_NAME`). */
export const CONFIG_NAME = 'scheduler_config.json';
/** The Hugging Face Hub, where a repo id is looked up unless `endpoint` (or HF_ENDPOINT) says otherwise. */
export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';
/** Whole-load bound: every request, redirect and body read of one `loadSchedulerConfig` call. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** A scheduler_config.json is under 2 KB (under 30 KB with 1000 trained_betas); 1 MiB is plenty. */
export const DEFAULT_MAX_BYTES = 1024 * 1024;
/** Redirect hops followed when we follow them ourselves (fetch's own limit is 20). */
export const MAX_REDIRECTS = 10;
/** Nesting deeper than this is not a scheduler config; refusing it keeps the key walk bounded. */
const MAX_JSON_DEPTH = 64;

/** The part of `fetch` the loader uses: give your own for proxies, custom agents or tests. */
export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

// ---------------------------------------------------------------------------------------------
// Deadline and cancellation

/**
 * One load's deadline and cancellation. `race` wraps every await that could hang (fetch, body
 * reads), so the bound holds even for an injected `fetch` that ignores `signal`.
 */
export class LoadContext {
  /** Aborted when the deadline passes or the caller's signal aborts; handed to fetch. */
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  /**
   * Idle mode (model downloads): the bound is on silence, not on the whole load; every awaited
   * step that settles (a response, a body chunk) restarts it. A multi-GB file takes minutes, and
   * only a stalled transfer should fail.
   */
  readonly idle: boolean;
  private readonly controller = new AbortController();
  private readonly userSignal: AbortSignal | undefined;
  private timer: ReturnType<typeof setTimeout>;
  private timedOut = false;
  private disposed = false;
  private readonly onUserAbort = (): void => this.controller.abort();
  private readonly onTimeout = (): void => {
    this.timedOut = true;
    this.controller.abort();
  };

  constructor(timeoutMs: number, userSignal?: AbortSignal, mode: { idle?: boolean } = {}) {
    this.timeoutMs = timeoutMs;
    this.idle = mode.idle === true;
    this.signal = this.controller.signal;
    this.userSignal = userSignal;
    if (userSignal?.aborted) this.controller.abort();
    else userSignal?.addEventListener('abort', this.onUserAbort, { once: true });
    this.timer = setTimeout(this.onTimeout, timeoutMs);
  }

  /** The typed error for the reason the load stopped. */
  stopError(what: string): DdimError {
    if (this.timedOut) {
      return new LoadError({
        field: 'timeoutMs',
        value: this.timeoutMs,
        problem: this.idle ? `passed with no data from ${what}` : `ran out before ${what} answered`,
        fix: 'check that the server or endpoint is reachable, or pass a larger timeoutMs.',
      });
    }
    return new AbortError({
      field: 'signal',
      problem: `aborted loading ${what}`,
      fix: 'this is the caller cancelling; retry without aborting to load.',
      cause: this.userSignal?.reason,
    });
  }

  /** Await `promise`, or throw the typed stop error as soon as the load is aborted or times out. */
  async race<T>(promise: Promise<T>, what: string): Promise<T> {
    if (this.signal.aborted) {
      promise.catch(() => {});
      throw this.stopError(what);
    }
    // A promise per call, dropped when the call settles. Racing one long-lived "aborted" promise
    // instead would add a reaction to it per call, each holding its call's result: a download of
    // N chunks would keep all N chunks alive until the load ends (measured: a 256 MiB file, +282 MiB).
    let onAbort = (): void => {};
    const stopped = new Promise<never>((_, reject) => {
      onAbort = () => reject(this.signal.reason);
    });
    stopped.catch(() => {});
    this.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const value = await Promise.race([promise, stopped]);
      if (this.idle) this.restart();
      return value;
    } catch (error) {
      if (this.signal.aborted) throw this.stopError(what);
      throw error;
    } finally {
      this.signal.removeEventListener('abort', onAbort);
    }
  }

  /** Idle mode: progress was made, so the silence bound starts again. */
  private restart(): void {
    if (this.signal.aborted || this.disposed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(this.onTimeout, this.timeoutMs);
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.timer);
    this.userSignal?.removeEventListener('abort', this.onUserAbort);
  }
}

// ---------------------------------------------------------------------------------------------
// Fetch with limits

/**
 * Errors after which a cached copy may stand in (network down, timeout, 5xx), as huggingface_hub
 * falls back to its cache; not 401/404, which say the request itself is wrong.
 */
const transientErrors = new WeakSet<object>();

export function isTransientLoadError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && transientErrors.has(error);
}

function transient<E extends object>(error: E): E {
  transientErrors.add(error);
  return error;
}

/** What the request was for, to word 401/404 messages. */
export interface RequestTarget {
  repoId?: string;
  revision?: string;
  subfolder?: string;
  /** A file of a model folder (not a scheduler config): a 404 then names it rather than suggesting a subfolder. */
  file?: string;
  /** The fix a plain 404 suggests, when neither of the above fits (an API route). */
  notFoundFix?: string;
  hasToken: boolean;
}

export interface FetchFileOptions {
  fetch: FetchLike;
  headers: Record<string, string>;
  maxBytes: number;
  context: LoadContext;
  target: RequestTarget;
  /**
   * Follow redirects here rather than in fetch, to read the Hub's `X-Repo-Commit` and `ETag` from
   * the response that redirects to the CDN (Node only: browsers hide manual redirects).
   */
  manualRedirects?: boolean;
  /**
   * With manualRedirects: stop at a redirect to another origin and hand back that response (the
   * Hub's metadata for an LFS file is on its redirect to the CDN), as huggingface_hub's HEAD does.
   */
  stopAtOtherOrigin?: boolean;
  /** Statuses handed back to the caller instead of becoming errors (416 when resuming a download). */
  acceptStatus?: readonly number[];
  /** The error for a body past maxBytes (default: worded for a scheduler config). */
  tooLarge?: (source: string, maxBytes: number, got: string) => LoadError;
}

/** A response whose body is not read yet, with the Hub's metadata gathered along the redirects. */
export interface OpenedResponse {
  response: Response;
  /** The URL the body comes from, after redirects. */
  url: string;
  /** `X-Repo-Commit` of the Hub's response (same origin as the request), if sent. */
  commit?: string;
  /** `X-Linked-Etag` or `ETag` of the Hub's response, if sent (raw, not normalized). */
  etag?: string;
  /** `X-Linked-Size` of the Hub's response: the size of the file behind a redirect to the CDN. */
  linkedSize?: number;
}

export interface FetchedFile {
  bytes: Uint8Array;
  /** The URL the body came from, after redirects. */
  url: string;
  /** `X-Repo-Commit` of the Hub's response (same origin as the request), if sent. */
  commit?: string;
  /** `X-Linked-Etag` or `ETag` of the Hub's response, if sent (raw, not normalized). */
  etag?: string;
}

export async function fetchFile(url: string, options: FetchFileOptions): Promise<FetchedFile> {
  const opened = await openResponse(url, options);
  const bytes = await readBody(opened.response, {
    maxBytes: options.maxBytes,
    context: options.context,
    url: opened.url,
    tooLarge: options.tooLarge,
  });
  return { bytes, url: opened.url, commit: opened.commit, etag: opened.etag };
}

/**
 * Send the request and follow redirects (ourselves with `manualRedirects`), up to a response with
 * a body to read: 2xx, or a status in `acceptStatus`. Every other status is a typed LoadError.
 * The caller reads or cancels the body.
 */
export async function openResponse(url: string, options: FetchFileOptions): Promise<OpenedResponse> {
  const { context, target } = options;
  const doFetch = options.fetch;
  const origin = new URL(url).origin;
  const headers: Record<string, string> = { ...options.headers };
  let current = url;
  let commit: string | undefined;
  let etag: string | undefined;
  let linkedSize: number | undefined;
  for (let hop = 0; ; hop++) {
    let response: Response;
    try {
      response = await context.race(
        doFetch(current, {
          headers,
          redirect: options.manualRedirects ? 'manual' : 'follow',
          signal: context.signal,
        }),
        current,
      );
    } catch (error) {
      if (error instanceof DdimError) throw error;
      throw transient(
        new LoadError({
          field: 'source',
          value: current,
          problem: `could not be fetched (${networkReason(error)})`,
          fix: 'check the address and the network; under Node, a config already in the Hugging Face cache loads offline with localFilesOnly: true.',
          cause: error,
        }),
      );
    }
    if (!isResponseLike(response)) {
      // An injected fetch that resolves to something else would fail below with an engine TypeError.
      throw new LoadError({
        field: 'fetch',
        value: response,
        problem: `resolved to something that is not a Response for ${current}`,
        fix: 'pass a fetch that resolves to a Response (status, headers.get, body or arrayBuffer), like globalThis.fetch.',
      });
    }
    // Metadata comes from the Hub's own responses (same origin), as huggingface_hub reads it
    // before following a redirect to the CDN; the CDN's headers describe its copy, not the repo.
    if (new URL(response.url || current).origin === origin) {
      commit = response.headers.get('x-repo-commit') ?? commit;
      etag = response.headers.get('x-linked-etag') ?? response.headers.get('etag') ?? etag;
      const size = response.headers.get('x-linked-size');
      if (size !== null && /^\d{1,16}$/.test(size.trim())) linkedSize = Number(size.trim());
    }
    if (options.manualRedirects && response.status >= 300 && response.status < 400) {
      const location = response.headers.get('location');
      if (!location) {
        discardBody(response);
        throw new LoadError({
          field: 'source',
          value: current,
          problem: `answered HTTP ${response.status} without a Location header`,
          fix: 'the server is not a Hub-compatible endpoint; check the URL or endpoint.',
        });
      }
      if (hop >= MAX_REDIRECTS) {
        discardBody(response);
        throw new LoadError({
          field: 'source',
          value: url,
          problem: `redirected more than ${MAX_REDIRECTS} times`,
          fix: 'the server is redirecting in a loop; check the URL or endpoint.',
        });
      }
      let next: URL;
      try {
        next = new URL(location, current);
      } catch (error) {
        discardBody(response);
        throw new LoadError({
          field: 'source',
          value: location,
          problem: `is not a valid redirect target (from ${current})`,
          fix: 'the server is not a Hub-compatible endpoint; check the URL or endpoint.',
          cause: error,
        });
      }
      if (options.stopAtOtherOrigin && next.origin !== new URL(current).origin) {
        return { response, url: current, commit, etag, linkedSize };
      }
      discardBody(response);
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw new LoadError({
          field: 'source',
          value: next.href,
          problem: `is a redirect target of ${current} that is not http(s)`,
          fix: 'check the URL or endpoint.',
        });
      }
      // Never carry the token to another host (the CDN), as fetch itself does on redirects.
      if (next.origin !== new URL(current).origin) delete headers.authorization;
      current = next.href;
      continue;
    }
    if (!response.ok && !options.acceptStatus?.includes(response.status)) {
      discardBody(response);
      throw httpError(response, current, target);
    }
    return { response, url: response.url || current, commit, etag, linkedSize };
  }
}

function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export function discardBody(response: Response): void {
  // Frees the connection; never awaited, so a stalled body cannot hold up the error.
  response.body?.cancel().catch(() => {});
}

/** Server text for a message: one line, printable, short. */
function serverText(text: string | null): string {
  if (!text) return '';
  const clean = text.replace(/[^\x20-\x7e]+/g, ' ').trim();
  return clean.length > 160 ? `${clean.slice(0, 157)}...` : clean;
}

function httpError(response: Response, url: string, target: RequestTarget): LoadError {
  const status = response.status;
  const code = response.headers.get('x-error-code') ?? '';
  const said = serverText(response.headers.get('x-error-message'));
  const server = said ? `; the server says: ${said}` : '';
  const repo = target.repoId ? `"${target.repoId}"` : 'the repository';

  if (code === 'GatedRepo') {
    return new LoadError({
      field: 'token',
      value: target.hasToken ? '(set)' : undefined,
      problem: `cannot read ${url}: ${repo} is gated (HTTP ${status})${server}`,
      fix: 'accept the conditions on the model page on the Hub, then pass { token } (or set HF_TOKEN under Node) with a token of that account.',
    });
  }
  if (code === 'RevisionNotFound') {
    return new LoadError({
      field: 'revision',
      value: target.revision,
      problem: `does not exist in ${repo} (HTTP ${status})${server}`,
      fix: 'use a branch, tag or commit hash of the repository (default "main").',
    });
  }
  if (status === 401 || status === 403 || code === 'RepoNotFound') {
    // The Hub answers 401 for private, gated and missing repos alike, so as not to reveal which.
    return new LoadError({
      field: 'token',
      value: target.hasToken ? '(set)' : undefined,
      problem: target.hasToken
        ? `was refused for ${url} (HTTP ${status})${server}`
        : `is needed for ${url} (HTTP ${status})${server}`,
      fix: target.hasToken
        ? `check the repo id, and that the token has read access to ${repo} and has not expired.`
        : `check the repo id; if ${repo} is private or gated, pass { token } (or set the HF_TOKEN environment variable under Node) with a token that can read it.`,
    });
  }
  if (status === 404) {
    let fix: string;
    if (target.notFoundFix !== undefined) {
      fix = target.notFoundFix;
    } else if (target.file !== undefined) {
      fix =
        target.repoId === undefined
          ? `the folder at this URL has no ${target.file}: check the base URL (it must be the model folder holding model_index.json).`
          : `${repo} has no ${target.file} at revision "${target.revision}": check the repo id and revision, and that it is a diffusers ONNX model repository.`;
    } else if (target.repoId === undefined) {
      fix = `check the URL: it must be ${CONFIG_NAME} itself, or a folder holding it (with { subfolder } if it sits in one).`;
    } else if (target.subfolder === undefined) {
      fix = `a diffusers model repository keeps this file in a subfolder: pass { subfolder: "scheduler" }; also check the revision ("${target.revision}").`;
    } else {
      fix = `check subfolder "${target.subfolder}" and revision "${target.revision}" against the repository's files.`;
    }
    return new LoadError({
      field: 'source',
      value: url,
      problem: `was not found (HTTP 404)${server}`,
      fix,
    });
  }
  const error = new LoadError({
    field: 'source',
    value: url,
    problem: `answered HTTP ${status}${server}`,
    fix:
      status >= 500 || status === 429
        ? 'the server failed or is rate limiting; try again later (under Node, localFilesOnly: true loads a cached copy).'
        : 'check the URL, revision and token.',
  });
  return status >= 500 || status === 429 ? transient(error) : error;
}

/** The LoadError for a config past `maxBytes`; `got` says how much there was ("it declares 5242880 bytes"). */
export function tooLarge(source: string, maxBytes: number, got: string): LoadError {
  return new LoadError({
    field: 'maxBytes',
    value: maxBytes,
    problem: `was exceeded by ${source} (${got}; a scheduler config is a few kilobytes)`,
    fix: `check that ${source} is a ${CONFIG_NAME}; raise maxBytes only if the file really is that large.`,
  });
}

function isResponseLike(value: unknown): value is Response {
  try {
    const r = value as Response;
    return (
      r !== null &&
      typeof r === 'object' &&
      typeof r.status === 'number' &&
      r.headers !== null &&
      typeof r.headers === 'object' &&
      typeof r.headers.get === 'function'
    );
  } catch {
    return false;
  }
}

/** The connection failed while the body streamed: transient (a retry, or a Range request, may finish it). */
export function bodyError(url: string, received: number, error: unknown): LoadError {
  return transient(
    new LoadError({
      field: 'source',
      value: url,
      problem: `broke off after ${received} bytes of the body (${networkReason(error)})`,
      fix: 'the connection dropped; try again.',
      cause: error,
    }),
  );
}

/**
 * Read a body, stopping as soon as it passes maxBytes: a huge or endless body is never buffered.
 * With a Content-Length (no Content-Encoding, so it counts the bytes we get) the buffer is
 * allocated once, so a model file of N bytes takes N bytes of memory, not 2N; a body that ends
 * short of it is a truncated transfer, a LoadError.
 */
export interface ReadBodyOptions {
  maxBytes: number;
  context: LoadContext;
  /** The URL, for messages. */
  url: string;
  tooLarge?: (source: string, maxBytes: number, got: string) => LoadError;
  /** Bytes so far and the declared size (null when not declared), after every chunk. */
  onProgress?: (loaded: number, total: number | null) => void;
}

export async function readBody(response: Response, options: ReadBodyOptions): Promise<Uint8Array> {
  const { maxBytes, context, url, onProgress } = options;
  const tooLargeError = options.tooLarge ?? tooLarge;
  const declared = response.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    discardBody(response);
    throw tooLargeError(url, maxBytes, `it declares ${declared} bytes`);
  }
  if (!response.body) {
    // Only an injected fetch returns a Response without a stream; it has the bytes in memory already.
    const buffer = new Uint8Array(await context.race(response.arrayBuffer(), url));
    if (buffer.byteLength > maxBytes) throw tooLargeError(url, maxBytes, `${buffer.byteLength} bytes`);
    onProgress?.(buffer.byteLength, buffer.byteLength);
    return buffer;
  }
  const encoded =
    (response.headers.get('content-encoding') ?? 'identity').trim().toLowerCase() !== 'identity';
  const expected =
    declared !== null && /^\d{1,16}$/.test(declared.trim()) && !encoded ? Number(declared) : -1;
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  const whole = expected >= 0 ? new Uint8Array(expected) : undefined;
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await context.race(reader.read(), url);
      if (done) break;
      if (total + value.byteLength > maxBytes) {
        throw tooLargeError(url, maxBytes, `more than ${maxBytes} bytes arrived`);
      }
      if (whole) {
        if (total + value.byteLength > whole.byteLength) {
          throw new LoadError({
            field: 'source',
            value: url,
            problem: `sent more than the ${whole.byteLength} bytes its Content-Length declares`,
            fix: 'the server or a proxy is misbehaving; try again, or another mirror.',
          });
        }
        whole.set(value, total);
      } else {
        chunks.push(value);
      }
      total += value.byteLength;
      onProgress?.(total, whole ? whole.byteLength : null);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    if (error instanceof DdimError) throw error;
    throw bodyError(url, total, error);
  }
  if (whole) {
    if (total !== whole.byteLength) {
      throw transient(
        new LoadError({
          field: 'source',
          value: url,
          problem: `ended after ${total} of the ${whole.byteLength} bytes its Content-Length declares (a truncated transfer)`,
          fix: 'the connection dropped; try again.',
        }),
      );
    }
    return whole;
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// JSON

function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value} (${describeValue(value)})`;
}

/** Decode UTF-8 (a BOM is dropped) and parse; see parseConfigText. */
export function parseConfigBytes(bytes: Uint8Array, where: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new LoadError({
      field: 'source',
      value: where,
      problem: 'is not UTF-8 text',
      fix: `point at the ${CONFIG_NAME} file itself.`,
      cause: error,
    });
  }
  return parseConfigText(text, where);
}

/**
 * Parse a scheduler config: it must be a JSON object, with no `__proto__`, `constructor` or
 * `prototype` key at any depth (JSON.parse makes such keys plain own properties, but any later
 * merge by assignment would write through them into a prototype). Values are passed through
 * unchecked: their types and ranges are the config layer's to judge.
 */
export function parseConfigText(text: string, where: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const html = /^\s*</.test(text);
    throw new LoadError({
      field: 'source',
      value: where,
      problem: html ? 'is an HTML page, not JSON' : `is not valid JSON (${(error as Error).message})`,
      fix: html
        ? 'use the raw file: a Hub URL with /resolve/<revision>/, not /blob/<revision>/.'
        : `point at a ${CONFIG_NAME} file.`,
      cause: error,
    });
  }
  if (!isPlainObject(value)) {
    throw new LoadError({
      field: 'source',
      value: where,
      problem: `holds ${jsonKind(value)} where a JSON object was expected`,
      fix: `a ${CONFIG_NAME} is an object such as {"_class_name": "DDIMScheduler", "beta_end": 0.012, ...}.`,
    });
  }
  assertNoForbiddenKeys(value, 'config', { error: LoadError, where, maxDepth: MAX_JSON_DEPTH });
  return value;
}

// ---------------------------------------------------------------------------------------------
// Sources: URLs, repo ids, subfolders, revisions

export function isHttpUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}

/**
 * A Hub repo id, checked as huggingface_hub's `validate_repo_id` does (one optional "/", parts of
 * letters, digits, "_", "-", "." that start and end with a letter, digit or "_", no "--" or "..", at
 * most 96 characters). This is also what keeps `../x` or `a/../../b` from becoming a URL path or a
 * cache folder outside the cache.
 */
export function checkRepoId(source: string): string {
  const fail = (problem: string): never => {
    throw new LoadError({
      field: 'source',
      value: source,
      problem,
      fix: 'pass a Hub repo id such as "stabilityai/stable-diffusion-2-1", an http(s) URL, or (under Node) a path to a local folder or file.',
    });
  };
  if (source.length === 0 || source.length > 96) fail('is not a Hub repo id (1 to 96 characters)');
  const parts = source.split('/');
  if (parts.length > 2) fail('is not a Hub repo id (at most one "/"), nor an existing local path');
  for (const part of parts) {
    if (
      !/^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(part) ||
      part.includes('..') ||
      part.includes('--')
    ) {
      fail(
        'is not a Hub repo id (letters, digits, "_", "-", "." only; no "..", "--", or leading or trailing "-" / "."), nor an existing local path',
      );
    }
  }
  if (source.endsWith('.git')) fail('is not a Hub repo id (it cannot end in ".git")');
  return source;
}

/**
 * Check a file path inside a model folder ("unet/model.onnx"): relative, '/'-separated, without
 * empty, "." or ".." segments, backslashes or control characters, so that no source can be led
 * outside its folder (or repo) by a path. Returns its segments.
 */
export function checkModelFilePath(path: unknown): string[] {
  if (typeof path !== 'string' || path.length === 0) {
    throw new LoadError({
      field: 'path',
      value: path,
      problem: 'must be a non-empty relative file path',
      fix: 'pass a path inside the model folder, such as "unet/model.onnx".',
    });
  }
  return checkRelativePath('path', path, '"unet/model.onnx"');
}

/** Split a relative path; reject anything that could leave the folder it is joined to. */
/** A relative path with '/' separators and no empty, '.' or '..' segment (repo subfolders, revisions, model-folder files). */
export function checkRelativePath(field: string, value: string, example: string): string[] {
  const fail = (problem: string): never => {
    throw new LoadError({
      field,
      value,
      problem,
      fix: `use a relative path inside the repository with forward slashes, such as ${example}.`,
    });
  };
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f\\]/.test(value)) fail('holds a backslash or a control character');
  if (value.startsWith('/') || /^[A-Za-z]:/.test(value)) fail('is an absolute path');
  const parts = value.split('/');
  for (const part of parts) {
    if (part === '' || part === '.' || part === '..') fail('has an empty, "." or ".." segment');
  }
  return parts;
}

/** A subfolder inside a repo or model folder (trailing slashes dropped; "" means none). */
export function checkSubfolder(subfolder: unknown): string | undefined {
  if (subfolder === undefined || subfolder === null) return undefined;
  if (typeof subfolder !== 'string') {
    throw new LoadError({
      field: 'subfolder',
      value: subfolder,
      problem: 'must be a string',
      fix: 'pass the folder holding the config, such as "scheduler".',
    });
  }
  const trimmed = subfolder.replace(/\/+$/, '');
  if (trimmed === '') return undefined;
  checkRelativePath('subfolder', trimmed, '"scheduler"');
  return trimmed;
}

/** A branch, tag or commit. May hold "/" (refs/pr/1); never "..", a leading "/", or a backslash. */
export function checkRevision(revision: unknown): string {
  if (revision === undefined || revision === null) return DEFAULT_REVISION;
  if (typeof revision !== 'string' || revision.length === 0 || revision.length > 255) {
    throw new LoadError({
      field: 'revision',
      value: revision,
      problem: 'must be a non-empty string of at most 255 characters',
      fix: 'pass a branch, tag or commit hash, such as "main".',
    });
  }
  checkRelativePath('revision', revision, '"main", "v1.0" or "refs/pr/1"');
  return revision;
}

/** `${endpoint}/${repo}/resolve/${revision}/${path}`, as huggingface_hub's `hf_hub_url` builds it. */
export function hubFileUrl(endpoint: string, repoId: string, revision: string, filePath: string): string {
  const encodedPath = filePath.split('/').map(encodeURIComponent).join('/');
  return `${endpoint.replace(/\/+$/, '')}/${repoId}/resolve/${encodeURIComponent(revision)}/${encodedPath}`;
}

/** The URL of the config for a URL source: the file itself, or a folder (+ subfolder) holding it. */
export function configUrlFor(source: string, subfolder: string | undefined): string {
  let url: URL;
  try {
    url = new URL(source);
  } catch (error) {
    throw new LoadError({
      field: 'source',
      value: source,
      problem: 'is not a valid URL',
      fix: `pass a URL of ${CONFIG_NAME} or of the folder holding it.`,
      cause: error,
    });
  }
  if (url.pathname.endsWith('.json')) return url.href;
  const folder = url.pathname.replace(/\/+$/, '');
  const sub = subfolder ? `/${subfolder.split('/').map(encodeURIComponent).join('/')}` : '';
  url.pathname = `${folder}${sub}/${CONFIG_NAME}`;
  return url.href;
}

export function checkEndpoint(endpoint: unknown): string | undefined {
  if (endpoint === undefined || endpoint === null) return undefined;
  if (typeof endpoint === 'string' && isHttpUrl(endpoint)) {
    try {
      const url = new URL(endpoint);
      return url.href.replace(/\/+$/, '');
    } catch {
      // reported below
    }
  }
  throw new LoadError({
    field: 'endpoint',
    value: endpoint,
    problem: 'must be an http(s) URL',
    fix: `omit it for ${DEFAULT_ENDPOINT}, or pass a mirror such as "https://hf-mirror.example".`,
  });
}

export function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/** A string that can only be meant as a local path (never a repo id or URL). */
export function looksLikeLocalPath(source: string): boolean {
  return (
    source.startsWith('.') ||
    source.startsWith('/') ||
    source.startsWith('~') ||
    source.startsWith('file:') ||
    /^[A-Za-z]:[\\/]/.test(source) ||
    source.includes('\\')
  );
}

/** The config's path inside a repo or folder: `scheduler_config.json` or `${subfolder}/scheduler_config.json`. */
export function configFilePath(subfolder: string | undefined): string {
  return subfolder ? `${subfolder}/${CONFIG_NAME}` : CONFIG_NAME;
}

export function authHeaders(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

// ---------------------------------------------------------------------------------------------
// Options every load from the Hub or a URL shares

/** A LoadError for an option: loading options are part of the load's description. */
export function optionError(field: string, value: unknown, problem: string, fix: string): LoadError {
  return new LoadError({ field, value, problem, fix });
}

/** The options of reaching the Hub or a URL, as the caller wrote them. */
export interface HubAccessInput {
  revision?: unknown;
  token?: unknown;
  endpoint?: unknown;
  fetch?: unknown;
  localFilesOnly?: unknown;
  cacheDir?: unknown;
  onWarning?: unknown;
  signal?: unknown;
  timeoutMs?: unknown;
}

/** Those options checked (each a LoadError naming it), defaults filled where the core has one. */
export interface HubAccess {
  revision: string;
  token: string | false | undefined;
  endpoint: string | undefined;
  fetch: FetchLike;
  localFilesOnly: boolean | undefined;
  cacheDir: string | undefined;
  warn: (message: string) => void;
  signal: AbortSignal | undefined;
  timeoutMs: number;
}

/** Check the options shared by scheduler-config loads and model-folder loads, once, in one place. */
export function checkHubAccess(o: HubAccessInput): HubAccess {
  const token = o.token;
  if (token !== undefined && token !== false && (typeof token !== 'string' || token.length === 0)) {
    throw optionError(
      'token',
      typeof token === 'string' ? token : typeof token,
      'must be a non-empty string, or false for no token',
      'pass a Hugging Face access token ("hf_...").',
    );
  }
  if (o.fetch !== undefined && typeof o.fetch !== 'function') {
    throw optionError(
      'fetch',
      o.fetch,
      'must be a function like globalThis.fetch',
      'omit it to use globalThis.fetch.',
    );
  }
  const fetchImpl: FetchLike =
    (o.fetch as FetchLike | undefined) ??
    ((input, init) => {
      if (typeof globalThis.fetch !== 'function') {
        throw optionError(
          'fetch',
          undefined,
          'is not available in this runtime',
          'pass { fetch } explicitly.',
        );
      }
      return globalThis.fetch(input, init);
    });
  if (o.localFilesOnly !== undefined && typeof o.localFilesOnly !== 'boolean') {
    throw optionError(
      'localFilesOnly',
      o.localFilesOnly,
      'must be true or false',
      'omit it to go online when needed.',
    );
  }
  if (o.cacheDir !== undefined && (typeof o.cacheDir !== 'string' || o.cacheDir.length === 0)) {
    throw optionError(
      'cacheDir',
      o.cacheDir,
      'must be a folder path',
      'omit it for the Hugging Face default cache.',
    );
  }
  if (o.onWarning !== undefined && typeof o.onWarning !== 'function') {
    throw optionError('onWarning', o.onWarning, 'must be a function', 'pass (message) => ... or omit it.');
  }
  if (
    o.signal !== undefined &&
    (o.signal === null || typeof (o.signal as AbortSignal).addEventListener !== 'function')
  ) {
    throw optionError('signal', o.signal, 'must be an AbortSignal', 'pass controller.signal.');
  }
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // setTimeout fires at once past 2^31 - 1 ms, so larger bounds are refused rather than broken.
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > 2 ** 31 - 1) {
    throw optionError(
      'timeoutMs',
      timeoutMs,
      'must be a number of milliseconds between 1 and 2147483647',
      `omit it for ${DEFAULT_TIMEOUT_MS} ms.`,
    );
  }
  return {
    revision: checkRevision(o.revision),
    token: token as string | false | undefined,
    endpoint: checkEndpoint(o.endpoint),
    fetch: fetchImpl,
    localFilesOnly: o.localFilesOnly as boolean | undefined,
    cacheDir: o.cacheDir as string | undefined,
    warn: (o.onWarning as ((message: string) => void) | undefined) ?? defaultWarningHandler,
    signal: o.signal as AbortSignal | undefined,
    timeoutMs,
  };
}

// ---------------------------------------------------------------------------------------------
// Source registries

/**
 * Where loads look, in order: the sources registered (the Node entry's file system and cache, a
 * user's own), latest first. Registering a source with the name of one already registered
 * replaces it; `add` returns a function that removes it again. One mechanism for scheduler-config
 * sources (hub.ts) and model-folder sources (model-files.ts).
 */
export class SourceRegistry<S extends { readonly name: string }> {
  private readonly sources: S[] = [];

  /** Register `source` (replacing one of the same name); returns its removal. */
  add(source: S): () => void {
    const existing = this.sources.findIndex((s) => s.name === source.name);
    if (existing >= 0) this.sources.splice(existing, 1);
    this.sources.push(source);
    return () => {
      const index = this.sources.indexOf(source);
      if (index >= 0) this.sources.splice(index, 1);
    };
  }

  /** The sources, latest registered first. */
  latestFirst(): S[] {
    return this.sources.slice().reverse();
  }
}
