/**
 * A Hub-like HTTP server on 127.0.0.1 for the loader tests: `/{repo}/resolve/{revision}/{path}`
 * with the Hub's headers (`X-Repo-Commit`, `ETag`, `X-Linked-Etag`, `X-Linked-Size`,
 * `X-Error-Code`), the model_info API (`/api/models/{repo}/revision/{revision}`, siblings with
 * `?blobs=true` metadata), private repos answering 401 without `Authorization: Bearer <token>`,
 * 404s, redirects to a "CDN" (a second server, so a different origin) that honours Range
 * requests, per-repo handlers and per-file faults (a dropped connection, wrong bytes, a stall) for
 * hostile behaviour. Nothing here touches any address but 127.0.0.1.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DIFFUSERS_VERSION, LoadError } from '../../src/index.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/configs/', import.meta.url));

export function fixtureText(name: string): string {
  return readFileSync(path.join(FIXTURES, name), 'utf8');
}

/**
 * The rejection of `promise`, which must be a LoadError (checked without vitest's expect, so that
 * scripts/hf_cache_interop.ts can use this server outside a test run).
 */
export async function loadError(promise: Promise<unknown>): Promise<LoadError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof LoadError)) {
    throw new Error(`expected a LoadError, got ${error === undefined ? 'success' : String(error)}`, {
      cause: error,
    });
  }
  return error;
}

/** The DDIM config of sd21-ddim-v.json, as `DDIMScheduler.toJSON()` gives it. */
export const SD21_DDIM_CONFIG = {
  _class_name: 'DDIMScheduler',
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  trained_betas: null,
  clip_sample: false,
  set_alpha_to_one: false,
  steps_offset: 1,
  prediction_type: 'v_prediction',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  clip_sample_range: 1,
  sample_max_value: 1,
  timestep_spacing: 'leading',
  rescale_betas_zero_snr: false,
};

/**
 * What diffusers' `save_config` writes for SD21_DDIM_CONFIG, written out by hand: keys sorted,
 * indent 2, `_diffusers_version` added, floats as Python's repr (`1.0`), a final newline.
 */
export const SD21_DDIM_SAVED = [
  '{',
  '  "_class_name": "DDIMScheduler",',
  `  "_diffusers_version": "${DIFFUSERS_VERSION}",`,
  '  "beta_end": 0.012,',
  '  "beta_schedule": "scaled_linear",',
  '  "beta_start": 0.00085,',
  '  "clip_sample": false,',
  '  "clip_sample_range": 1.0,',
  '  "dynamic_thresholding_ratio": 0.995,',
  '  "num_train_timesteps": 1000,',
  '  "prediction_type": "v_prediction",',
  '  "rescale_betas_zero_snr": false,',
  '  "sample_max_value": 1.0,',
  '  "set_alpha_to_one": false,',
  '  "steps_offset": 1,',
  '  "thresholding": false,',
  '  "timestep_spacing": "leading",',
  '  "trained_betas": null',
  '}',
  '',
].join('\n');

export function gitBlobSha1(body: string | Uint8Array): string {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');
}

export function sha256(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

export interface RepoSpec {
  /** The commit every branch points at (X-Repo-Commit). */
  commit: string;
  /** Path in the repo -> contents. */
  files: Record<string, string | Uint8Array>;
  /** Revisions served besides the commit itself. Default ["main"]. */
  branches?: string[];
  /** A private repo: 401 unless `Authorization: Bearer <token>`. */
  token?: string;
  /** Answer with a 302 to the CDN server (another origin), as the Hub does for LFS files. */
  viaCdn?: boolean;
  /**
   * Which files are stored in LFS: those answer as the Hub does for LFS files (302 to the CDN,
   * `X-Linked-Etag` = sha256, `X-Linked-Size`, `ETag` = the pointer's git sha1) and are listed with
   * `lfs: { sha256, size, pointerSize }`; the rest with their git blob sha1. Default: none.
   */
  lfs?: (path: string) => boolean;
  /** model_info ignores `?blobs=true` (as some mirrors do): siblings carry only `rfilename`. */
  noBlobMetadata?: boolean;
  /** Replace the normal answer entirely (hostile behaviour). */
  handler?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Extra or overriding response headers on the normal answer. */
  headers?: Record<string, string>;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  path: string;
  authorization: string | undefined;
  method: string;
  /** The Range header, if any. */
  range: string | undefined;
  /** The repo file a CDN request is for (CDN requests only). */
  file?: string;
}

/**
 * Misbehaviour of the CDN for one file, used once (the first matching request takes it):
 * `drop` sends `afterBytes` bytes of the answer and destroys the connection; `corrupt` flips one
 * byte of what it sends; `stall` sends `afterBytes` bytes and then nothing, keeping the connection open.
 */
export interface CdnFault {
  file: string;
  kind: 'drop' | 'corrupt' | 'stall';
  afterBytes?: number;
}

export interface HubServer {
  /** Endpoint to pass as `endpoint`, e.g. http://127.0.0.1:41234 */
  url: string;
  cdnUrl: string;
  repos: Map<string, RepoSpec>;
  requests: LoggedRequest[];
  /** Faults the CDN plays, each once, in order. */
  faults: CdnFault[];
  close(): Promise<void>;
}

async function listen(server: http.Server | net.Server, host = '127.0.0.1'): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return `http://${host}:${port}`;
}

function trackSockets(server: http.Server | net.Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return sockets;
}

async function closeServer(server: http.Server | net.Server, sockets: Set<Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function fail(res: http.ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'x-error-code': code, 'x-error-message': message, 'content-type': 'text/plain' });
  res.end(message);
}

/** The git LFS pointer file the Hub stores in git for an LFS file (its sha1 is the file's `ETag`). */
export function lfsPointer(body: string | Uint8Array): string {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(bytes)}\nsize ${bytes.byteLength}\n`;
}

function bytesOf(body: string | Uint8Array): Buffer {
  return typeof body === 'string'
    ? Buffer.from(body)
    : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

/** model_info's `siblings`, with `?blobs=true` metadata as the Hub gives it. */
function siblings(spec: RepoSpec, blobs: boolean): unknown[] {
  return Object.entries(spec.files).map(([rfilename, body]) => {
    if (!blobs) return { rfilename };
    const bytes = bytesOf(body);
    if (spec.lfs?.(rfilename)) {
      const pointer = lfsPointer(bytes);
      return {
        rfilename,
        size: bytes.byteLength,
        blobId: gitBlobSha1(pointer),
        lfs: { sha256: sha256(bytes), size: bytes.byteLength, pointerSize: Buffer.byteLength(pointer) },
      };
    }
    return { rfilename, size: bytes.byteLength, blobId: gitBlobSha1(bytes) };
  });
}

/** `bytes=a-` / `bytes=a-b` of one range over `size` bytes; null for none, 'bad' when unsatisfiable. */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | 'bad' {
  if (!header) return null;
  const m = /^bytes=(\d+)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'bad';
  return { start, end };
}

/**
 * Answer `body` as a static file server does: Content-Length, Accept-Ranges, 206 for a Range,
 * 416 past the end, headers only for HEAD; `fault` misbehaves as CdnFault says.
 */
export function sendFile(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
  fault?: CdnFault,
): void {
  const bytes = bytesOf(body);
  const range = parseRange(req.headers.range, bytes.byteLength);
  if (range === 'bad') {
    res.writeHead(416, { 'content-range': `bytes */${bytes.byteLength}`, ...headers });
    res.end();
    return;
  }
  const start = range ? range.start : 0;
  const end = range ? range.end : bytes.byteLength - 1;
  let part = bytes.subarray(start, end + 1);
  res.writeHead(range ? 206 : 200, {
    'content-type': 'application/octet-stream',
    'content-length': String(part.byteLength),
    'accept-ranges': 'bytes',
    ...(range ? { 'content-range': `bytes ${start}-${end}/${bytes.byteLength}` } : {}),
    ...headers,
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  if (fault?.kind === 'corrupt') {
    part = Buffer.from(part);
    const at = Math.min(fault.afterBytes ?? 0, part.byteLength - 1);
    part[at] = part[at]! ^ 0xff;
  }
  if (fault?.kind === 'drop' || fault?.kind === 'stall') {
    const n = Math.min(fault.afterBytes ?? 0, part.byteLength - 1);
    res.write(part.subarray(0, n), () => {
      // Destroyed after the bytes are out, so the client really has received a part of the file.
      if (fault.kind === 'drop') setTimeout(() => res.destroy(), 20);
    });
    return;
  }
  res.end(part);
}

/**
 * `cdnHost`: where the CDN listens (default 127.0.0.1, like the Hub). The tests keep the default;
 * scripts/hf_cache_interop.py's run uses another loopback address, because huggingface_hub follows
 * a redirect to the same host name (whatever the port) rather than reading the Hub's headers.
 */
export async function startHubServer(options: { cdnHost?: string } = {}): Promise<HubServer> {
  const repos = new Map<string, RepoSpec>();
  const requests: LoggedRequest[] = [];
  const faults: CdnFault[] = [];
  const blobs = new Map<string, { body: Uint8Array | string; file: string }>();

  const cdn = http.createServer((req, res) => {
    const sha = /^\/blobs\/([0-9a-f]{64})$/.exec(req.url ?? '')?.[1];
    const blob = sha === undefined ? undefined : blobs.get(sha);
    requests.push({
      server: 'cdn',
      path: req.url ?? '',
      authorization: req.headers.authorization,
      method: req.method ?? 'GET',
      range: req.headers.range,
      ...(blob ? { file: blob.file } : {}),
    });
    if (sha === undefined || blob === undefined) {
      res.writeHead(404);
      res.end();
      return;
    }
    const index = req.method === 'HEAD' ? -1 : faults.findIndex((f) => f.file === blob.file);
    const fault = index >= 0 ? faults.splice(index, 1)[0] : undefined;
    sendFile(req, res, blob.body, { etag: `"cdn-${sha.slice(0, 8)}"` }, fault);
  });

  const hub = http.createServer((req, res) => {
    requests.push({
      server: 'hub',
      path: req.url ?? '',
      authorization: req.headers.authorization,
      method: req.method ?? 'GET',
      range: req.headers.range,
    });
    const api = /^\/api\/models\/(.+)\/revision\/([^/?]+)(?:\?(.*))?$/.exec(req.url ?? '');
    if (api) {
      const spec = repos.get(api[1]!);
      const revision = decodeURIComponent(api[2]!);
      if (!spec || (spec.token !== undefined && req.headers.authorization !== `Bearer ${spec.token}`)) {
        fail(res, 401, 'RepoNotFound', 'Repository Not Found for url.');
        return;
      }
      if (spec.handler) {
        spec.handler(req, res);
        return;
      }
      if (revision !== spec.commit && !(spec.branches ?? ['main']).includes(revision)) {
        fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
        return;
      }
      const blobsParam = new URLSearchParams(api[3] ?? '').get('blobs');
      const info = {
        _id: `id-${api[1]}`,
        id: api[1],
        sha: spec.commit,
        private: spec.token !== undefined,
        siblings: siblings(spec, !spec.noBlobMetadata && (blobsParam === 'true' || blobsParam === 'True')),
        // Free-form model card data the loader must ignore, hostile keys included.
        cardData: JSON.parse('{"__proto__": {"polluted": true}, "constructor": "x"}'),
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(info));
      return;
    }
    // The tree API (huggingface_hub's list_repo_tree, which its snapshot_download lists files with).
    const treeApi = /^\/api\/models\/(.+)\/tree\/([^/?]+)(?:\?.*)?$/.exec(req.url ?? '');
    if (treeApi) {
      const spec = repos.get(treeApi[1]!);
      const revision = decodeURIComponent(treeApi[2]!);
      if (!spec || (spec.token !== undefined && req.headers.authorization !== `Bearer ${spec.token}`)) {
        fail(res, 401, 'RepoNotFound', 'Repository Not Found for url.');
        return;
      }
      if (revision !== spec.commit && !(spec.branches ?? ['main']).includes(revision)) {
        fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
        return;
      }
      const folders = new Set<string>();
      for (const file of Object.keys(spec.files)) {
        const parts = file.split('/');
        for (let i = 1; i < parts.length; i++) folders.add(parts.slice(0, i).join('/'));
      }
      const entries = [
        ...[...folders].map((p) => ({ type: 'directory', oid: gitBlobSha1(p), size: 0, path: p })),
        ...siblings(spec, true).map((s) => {
          const { rfilename, size, blobId, lfs } = s as {
            rfilename: string;
            size: number;
            blobId: string;
            lfs?: { sha256: string; size: number; pointerSize: number };
          };
          return {
            type: 'file',
            oid: blobId,
            size,
            path: rfilename,
            ...(lfs ? { lfs: { oid: lfs.sha256, size: lfs.size, pointerSize: lfs.pointerSize } } : {}),
          };
        }),
      ];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(entries));
      return;
    }
    const match = /^\/(.+)\/resolve\/([^/]+)\/(.+)$/.exec(req.url ?? '');
    if (!match) {
      fail(res, 404, 'EntryNotFound', 'Not a resolve URL');
      return;
    }
    const repoId = match[1]!;
    const revision = decodeURIComponent(match[2]!);
    const filePath = match[3]!.split('/').map(decodeURIComponent).join('/');
    const spec = repos.get(repoId);
    // The Hub answers 401 for missing and private repos alike, so as not to reveal which exist.
    if (!spec || (spec.token !== undefined && req.headers.authorization !== `Bearer ${spec.token}`)) {
      fail(res, 401, 'RepoNotFound', 'Repository Not Found for url.');
      return;
    }
    if (spec.handler) {
      spec.handler(req, res);
      return;
    }
    if (revision !== spec.commit && !(spec.branches ?? ['main']).includes(revision)) {
      fail(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
      return;
    }
    const body = spec.files[filePath];
    if (body === undefined) {
      fail(res, 404, 'EntryNotFound', `${filePath} does not exist on "${revision}"`);
      return;
    }
    if (spec.lfs?.(filePath)) {
      const sha = sha256(body);
      blobs.set(sha, { body, file: filePath });
      res.writeHead(302, {
        location: `${cdnUrl}/blobs/${sha}`,
        'x-repo-commit': spec.commit,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': String(bytesOf(body).byteLength),
        etag: `"${gitBlobSha1(lfsPointer(body))}"`,
        'content-length': '0',
        ...spec.headers,
      });
      res.end();
      return;
    }
    if (spec.viaCdn) {
      const sha = sha256(body);
      blobs.set(sha, { body, file: filePath });
      res.writeHead(302, {
        location: `${cdnUrl}/blobs/${sha}`,
        'x-repo-commit': spec.commit,
        'x-linked-etag': `"${sha}"`,
        etag: `W/"${gitBlobSha1(body)}"`,
        ...spec.headers,
      });
      res.end();
      return;
    }
    if (spec.lfs) {
      // A model repository's small files: served as git files are, with Range support.
      sendFile(req, res, body, {
        'x-repo-commit': spec.commit,
        etag: `"${gitBlobSha1(body)}"`,
        ...spec.headers,
      });
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'x-repo-commit': spec.commit,
      etag: `"${gitBlobSha1(body)}"`,
      ...spec.headers,
    });
    res.end(body);
  });

  const hubSockets = trackSockets(hub);
  const cdnSockets = trackSockets(cdn);
  const url = await listen(hub);
  const cdnUrl = await listen(cdn, options.cdnHost);
  return {
    url,
    cdnUrl,
    repos,
    requests,
    faults,
    async close() {
      await Promise.all([closeServer(hub, hubSockets), closeServer(cdn, cdnSockets)]);
    },
  };
}

/** A static file server on 127.0.0.1 for `files` (path -> contents) under `/${prefix}/`, with Range and HEAD. */
export async function startStaticServer(
  files: Record<string, string | Uint8Array>,
  prefix = 'models/tiny-sd',
): Promise<{ url: string; requests: LoggedRequest[]; close(): Promise<void> }> {
  const requests: LoggedRequest[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push({
      server: 'hub',
      path: url.pathname,
      authorization: req.headers.authorization,
      method: req.method ?? 'GET',
      range: req.headers.range,
    });
    const rel = url.pathname.startsWith(`/${prefix}/`)
      ? url.pathname
          .slice(prefix.length + 2)
          .split('/')
          .map(decodeURIComponent)
          .join('/')
      : undefined;
    const body = rel === undefined ? undefined : files[rel];
    if (body === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
      return;
    }
    sendFile(req, res, body);
  });
  const sockets = trackSockets(server);
  const base = await listen(server);
  return { url: `${base}/${prefix}`, requests, close: () => closeServer(server, sockets) };
}

/** A server that accepts connections and never sends a byte. */
export async function startSilentServer(): Promise<{
  url: string;
  connections: () => number;
  close(): Promise<void>;
}> {
  let count = 0;
  const server = net.createServer(() => {
    count++;
  });
  const sockets = trackSockets(server);
  const url = await listen(server);
  return { url, connections: () => count, close: () => closeServer(server, sockets) };
}

/**
 * A handler streaming an endless JSON-looking body in 64 KiB chunks, without Content-Length, so
 * only a limit enforced while streaming can stop it. `sent()` tells how far it got before the
 * client hung up; it gives up by itself after `stopAfter` bytes.
 */
export function endlessBody(stopAfter = 64 * 1024 * 1024): {
  handler: RepoSpec['handler'] & {};
  sent: () => number;
  clientClosed: () => boolean;
} {
  let sent = 0;
  let closed = false;
  const handler = (_req: http.IncomingMessage, res: http.ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-repo-commit': 'f'.repeat(40) });
    res.write('{"padding": "');
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const timer = setInterval(() => {
      if (res.destroyed || sent >= stopAfter) {
        clearInterval(timer);
        res.end('"}');
        return;
      }
      res.write(chunk);
      sent += chunk.byteLength;
    }, 2);
    res.on('close', () => {
      clearInterval(timer);
      closed = sent < stopAfter;
    });
  };
  return { handler, sent: () => sent, clientClosed: () => closed };
}

/**
 * Make any fetch to a host other than 127.0.0.1 fail the test run loudly, so no test can reach the
 * internet by accident (a default endpoint, a forgotten option). Returns the restore function.
 */
export function guardNetwork(): () => void {
  const original = globalThis.fetch;
  globalThis.fetch = ((input: Parameters<typeof fetch>[0], init?: RequestInit) => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    if (url.hostname !== '127.0.0.1') {
      return Promise.reject(new Error(`test tried to reach ${url.origin}: tests must stay on 127.0.0.1`));
    }
    return original(input, init);
  }) as typeof fetch;
  return () => {
    globalThis.fetch = original;
  };
}
