/**
 * Model folders over `fetch`, with no file system: a folder served over http(s), and a Hub
 * repository read into memory. This is what `openModelFiles` does in browsers (and under Node for
 * URLs); the Node entry adds the Hub with the Hugging Face cache, tried first.
 *
 *   openModelFiles('https://example.org/sd15-onnx')   // ${base}/model_index.json, ${base}/unet/model.onnx, ...
 *   openModelFiles('org/name', { revision: 'onnx' })  // ${endpoint}/org/name/resolve/<commit>/unet/model.onnx
 *
 * External data: a model's weights may sit in files next to it (`weights.pb`, `model.onnx_data`, or
 * one file per tensor). Rather than probing conventional names, `readModel` reads the locations the
 * model itself names (see onnx-file.ts) and fetches exactly those, relative to the model,
 * checking each is at least as long as the tensors in it need.
 *
 * Hub files are checked against the sha256 (LFS files) or git blob sha1 (the rest) the Hub lists,
 * with WebCrypto; where that is missing (a page served over plain http), one warning per folder says
 * the bytes were not checked. Plain URLs have no listing, so nothing to check against beyond sizes.
 */
import { DdimError, LoadError } from '../errors.js';
import {
  authHeaders,
  checkModelFilePath,
  checkRepoId,
  DEFAULT_ENDPOINT,
  discardBody,
  hubFileUrl,
  isHttpUrl,
  type LoadContext,
  looksLikeLocalPath,
  openResponse,
  type RequestTarget,
  readBody,
} from './hub-internal.js';
import { type ExpectedHash, expectedHash, fetchRepoListing, type RepoListing } from './hub-repo.js';
import type { ModelFiles, ModelFilesSource, OnnxModelFile } from './model-files.js';
import {
  MAX_TEXT_BYTES,
  type RemoteModelFilesOptions,
  type ResolvedModelFilesOptions,
  resolveModelFilesOptions,
  withContext,
} from './model-files-options.js';
import { checkExternalSize, externalDataPath, inspectOnnxModel } from './onnx-file.js';

// ---------------------------------------------------------------------------------------------
// Shared

/** UTF-8 text of a model folder file; a LoadError naming it when it is not UTF-8. */
export function decodeText(bytes: Uint8Array, file: string, where: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new LoadError({
      field: file,
      value: where,
      problem: 'is not UTF-8 text',
      fix: 'the file is damaged or not the expected text file; download or export it again.',
      cause: error,
    });
  }
}

export function hashMismatch(
  file: string,
  where: string,
  expected: ExpectedHash,
  got: string,
  kept: string,
): LoadError {
  const name = expected.algorithm === 'sha256' ? 'sha256' : 'git blob sha1';
  return new LoadError({
    field: file,
    value: where,
    problem: `arrived with ${name} ${got}, not the ${expected.hex} the Hub lists for it; the bytes were refused`,
    fix: `${kept} Try again; if it repeats, the server (or a proxy or mirror on the way) is serving wrong bytes.`,
  });
}

function hex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The WebCrypto digest, or undefined where there is none (a page served over plain http). */
async function digest(algorithm: 'SHA-256' | 'SHA-1', data: Uint8Array): Promise<string | undefined> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) return undefined;
  return hex(await subtle.digest(algorithm, data as Uint8Array<ArrayBuffer>));
}

/** The hash of `bytes` as `expected` names it; undefined when this runtime cannot compute it. */
async function hashOf(bytes: Uint8Array, expected: ExpectedHash): Promise<string | undefined> {
  if (expected.algorithm === 'sha256') return digest('SHA-256', bytes);
  // Git's blob id: sha1 of "blob <size>\0" then the content. Non-LFS files are small (the Hub moves
  // anything over 10 MB to LFS), so the copy is cheap.
  const header = new TextEncoder().encode(`blob ${bytes.byteLength}\0`);
  const whole = new Uint8Array(header.byteLength + bytes.byteLength);
  whole.set(header);
  whole.set(bytes, header.byteLength);
  return digest('SHA-1', whole);
}

// ---------------------------------------------------------------------------------------------
// A folder over http(s)

function parseBaseUrl(source: string): URL {
  let url: URL;
  try {
    url = new URL(source);
  } catch (error) {
    throw new LoadError({
      field: 'source',
      value: source,
      problem: 'is not a valid URL',
      fix: 'pass the URL of the model folder (the one holding model_index.json).',
      cause: error,
    });
  }
  // The folder's own URL, or that of its model_index.json: both mean the folder.
  url.pathname = url.pathname.replace(/\/model_index\.json$/, '').replace(/\/+$/, '');
  url.hash = '';
  return url;
}

function urlOf(base: URL, path: string): string {
  const url = new URL(base.href);
  url.pathname = `${base.pathname}/${path.split('/').map(encodeURIComponent).join('/')}`;
  return url.href;
}

/** A model folder served over http(s): `${base}/${path}` for every file. */
export class UrlModelFiles implements ModelFiles {
  readonly location: string;
  private readonly base: URL;
  private readonly headers: Record<string, string>;

  constructor(
    source: string,
    private readonly options: ResolvedModelFilesOptions,
  ) {
    this.base = parseBaseUrl(source);
    this.location = this.base.href;
    // Only a token the caller gave goes to a URL's host; this source never reads one from elsewhere.
    this.headers = authHeaders(typeof options.token === 'string' ? options.token : undefined);
  }

  private target(file: string): RequestTarget {
    return { file, hasToken: this.headers.authorization !== undefined };
  }

  async has(path: string): Promise<boolean> {
    const file = checkModelFilePath(path).join('/');
    const url = urlOf(this.base, file);
    return withContext(this.options, false, async (context) => {
      for (const method of ['HEAD', 'GET'] as const) {
        const opened = await openResponse(url, {
          fetch: (input, init) => this.options.fetch(input, { ...init, method }),
          headers: method === 'GET' ? { ...this.headers, range: 'bytes=0-0' } : this.headers,
          maxBytes: 0,
          context,
          target: this.target(file),
          acceptStatus: [404, 405, 410, 501],
        });
        discardBody(opened.response);
        const status = opened.response.status;
        if (status === 404 || status === 410) return false;
        // A server that does not do HEAD: ask for one byte instead.
        if ((status === 405 || status === 501) && method === 'HEAD') continue;
        if (status === 405 || status === 501) break;
        return true;
      }
      throw new LoadError({
        field: file,
        value: url,
        problem: 'cannot be checked: the server answers neither HEAD nor GET',
        fix: 'serve the model folder with a static file server.',
      });
    });
  }

  private async fetchBytes(file: string, maxBytes: number, idle: boolean): Promise<Uint8Array> {
    const url = urlOf(this.base, file);
    return withContext(this.options, idle, async (context) => {
      const opened = await openResponse(url, {
        fetch: this.options.fetch,
        headers: this.headers,
        maxBytes,
        context,
        target: this.target(file),
      });
      return readBody(opened.response, {
        maxBytes,
        context,
        url,
        tooLarge: textTooLarge(file),
        onProgress: idle ? (loaded, total) => this.options.progress(file, loaded, total) : undefined,
      });
    });
  }

  async readText(path: string): Promise<string> {
    const file = checkModelFilePath(path).join('/');
    return decodeText(await this.fetchBytes(file, MAX_TEXT_BYTES, false), file, urlOf(this.base, file));
  }

  async readModel(path: string): Promise<OnnxModelFile> {
    const file = checkModelFilePath(path).join('/');
    const model = await this.fetchBytes(file, Number.POSITIVE_INFINITY, true);
    const { externalFiles: externals } = await inspectOnnxModel(model, file, urlOf(this.base, file));
    const externalData: OnnxModelFile['externalData'] = [];
    for (const external of externals) {
      const dataFile = externalDataPath(file, external.location);
      const data = await this.fetchBytes(dataFile, Number.POSITIVE_INFINITY, true);
      checkExternalSize(file, dataFile, urlOf(this.base, dataFile), external, data.byteLength);
      externalData.push({ path: external.location, data });
    }
    return { model, externalData };
  }
}

function textTooLarge(file: string) {
  return (source: string, maxBytes: number, got: string): LoadError =>
    new LoadError({
      field: file,
      value: source,
      problem: `is larger than ${maxBytes} bytes (${got}), more than any text file of a model folder`,
      fix: 'check the URL: it must be the model folder holding model_index.json.',
    });
}

// ---------------------------------------------------------------------------------------------
// A Hub repository, in memory

/** A Hub repository at one commit, each file fetched into memory and checked against the Hub's hash. */
export class FetchHubModelFiles implements ModelFiles {
  readonly location: string;
  private readonly headers: Record<string, string>;
  private warnedUnchecked = false;

  private constructor(
    readonly repoId: string,
    readonly listing: RepoListing,
    private readonly endpoint: string,
    private readonly options: ResolvedModelFilesOptions,
  ) {
    this.location = `${repoId} (revision "${options.revision}", commit ${listing.commit})`;
    this.headers = authHeaders(typeof options.token === 'string' ? options.token : undefined);
  }

  /** List the repository (one request): its commit, files, sizes and hashes. */
  static async open(repoId: string, options: ResolvedModelFilesOptions): Promise<FetchHubModelFiles> {
    const endpoint = options.endpoint ?? DEFAULT_ENDPOINT;
    const token = typeof options.token === 'string' ? options.token : undefined;
    const listing = await withContext(options, false, (context) =>
      fetchRepoListing({
        endpoint,
        repoId,
        revision: options.revision,
        token,
        fetch: options.fetch,
        context,
      }),
    );
    return new FetchHubModelFiles(repoId, listing, endpoint, options);
  }

  private missing(file: string): LoadError {
    return new LoadError({
      field: file,
      value: this.location,
      problem: 'is not in the repository',
      fix: 'check the repo id and revision: a diffusers ONNX repository has model_index.json and one folder per component (unet/model.onnx, ...).',
    });
  }

  async has(path: string): Promise<boolean> {
    return this.listing.files.has(checkModelFilePath(path).join('/'));
  }

  private async fetchChecked(file: string, maxBytes: number, idle: boolean): Promise<Uint8Array> {
    const info = this.listing.files.get(file);
    if (!info) throw this.missing(file);
    const url = hubFileUrl(this.endpoint, this.repoId, this.listing.commit, file);
    const bytes = await withContext(this.options, idle, async (context: LoadContext) => {
      const opened = await openResponse(url, {
        fetch: this.options.fetch,
        headers: this.headers,
        maxBytes,
        context,
        target: {
          repoId: this.repoId,
          revision: this.listing.commit,
          file,
          hasToken: this.headers.authorization !== undefined,
        },
      });
      return readBody(opened.response, {
        maxBytes,
        context,
        url,
        tooLarge: textTooLarge(file),
        // The listing's size is the total when the server declares none (compressed or chunked).
        onProgress: idle
          ? (loaded, declared) => this.options.progress(file, loaded, declared ?? info.size ?? null)
          : undefined,
      });
    });
    if (info.size !== undefined && bytes.byteLength !== info.size) {
      throw new LoadError({
        field: file,
        value: url,
        problem: `arrived with ${bytes.byteLength} bytes, not the ${info.size} the Hub lists for it`,
        fix: 'the transfer was cut or altered; nothing was kept. Try again.',
      });
    }
    const expected = expectedHash(info);
    if (expected) {
      const got = await hashOf(bytes, expected);
      if (got === undefined) {
        if (!this.warnedUnchecked) {
          this.warnedUnchecked = true;
          this.options.warn(
            `${this.repoId}: this page has no WebCrypto (crypto.subtle needs https or localhost), so downloaded files are not checked against the Hub's hashes.`,
          );
        }
      } else if (got !== expected.hex) {
        throw hashMismatch(file, url, expected, got, 'Nothing was kept.');
      }
    }
    return bytes;
  }

  async readText(path: string): Promise<string> {
    const file = checkModelFilePath(path).join('/');
    const bytes = await this.fetchChecked(file, MAX_TEXT_BYTES, false);
    return decodeText(bytes, file, `${this.location}: ${file}`);
  }

  async readModel(path: string): Promise<OnnxModelFile> {
    const file = checkModelFilePath(path).join('/');
    const model = await this.fetchModelFile(file);
    const { externalFiles: externals } = await inspectOnnxModel(model, file, `${this.location}: ${file}`);
    // Every external file must be listed before any is fetched: a model naming a file the
    // repository lacks fails at once, not after gigabytes.
    const paths = externals.map((e) => externalDataPath(file, e.location));
    for (const dataFile of paths) {
      if (!this.listing.files.has(dataFile)) {
        throw new LoadError({
          field: dataFile,
          value: this.location,
          problem: `is named by ${file} as its external data, but the repository has no such file`,
          fix: 'the repository is incomplete or the model was exported with another external data name; re-upload or re-export it.',
        });
      }
    }
    const externalData: OnnxModelFile['externalData'] = [];
    for (let i = 0; i < externals.length; i++) {
      const data = await this.fetchModelFile(paths[i]!);
      checkExternalSize(file, paths[i]!, this.location, externals[i]!, data.byteLength);
      externalData.push({ path: externals[i]!.location, data });
    }
    return { model, externalData };
  }

  private async fetchModelFile(file: string): Promise<Uint8Array> {
    return this.fetchChecked(file, Number.POSITIVE_INFINITY, true);
  }
}

// ---------------------------------------------------------------------------------------------
// The source the core registers

/** Open a model folder served over http(s). */
export async function openUrlModelFiles(
  source: string,
  options?: RemoteModelFilesOptions,
): Promise<ModelFiles> {
  return new UrlModelFiles(source, resolveModelFilesOptions(options));
}

/** Open a Hub repository over fetch, files read into memory (no cache): what browsers use. */
export async function openHubModelFilesOverFetch(
  repoId: string,
  options?: RemoteModelFilesOptions,
): Promise<ModelFiles> {
  const resolved = resolveModelFilesOptions(options);
  if (resolved.localFilesOnly) {
    throw new LoadError({
      field: 'localFilesOnly',
      value: true,
      problem: `is set, and this build has no local cache to open ${repoId} from`,
      fix: "drop localFilesOnly to download it, or under Node import from the package's Node entry, which reads the Hugging Face cache.",
    });
  }
  return FetchHubModelFiles.open(checkRepoId(repoId), resolved);
}

/**
 * URLs and Hub repo ids over fetch. Local paths are left to the sources that read a file system
 * (registered under Node); in a browser, nothing opens them and openModelFiles says so.
 */
export const fetchModelFilesSource: ModelFilesSource = {
  name: 'fetch',
  async open(source, options) {
    try {
      if (isHttpUrl(source)) return await openUrlModelFiles(source, options);
      if (looksLikeLocalPath(source)) return undefined;
      return await openHubModelFilesOverFetch(source, options);
    } catch (error) {
      if (error instanceof DdimError) throw error;
      throw new LoadError({
        field: 'source',
        value: source,
        problem: `could not be opened (${error instanceof Error ? `${error.name}: ${error.message}` : String(error)})`,
        fix: 'check the source and the fetch function if you passed one; the original error is the cause.',
        cause: error,
      });
    }
  },
};
