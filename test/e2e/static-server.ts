/**
 * A tiny static file server for the e2e test, bound to 127.0.0.1 on a free port. It serves the
 * built playground, folders mounted under a path (the test model), and extra routes (config
 * files, a stand-in for the Hub) from a map, so the test never touches the internet.
 *
 * Every response carries the cross-origin isolation headers (COOP same-origin, COEP
 * require-corp), as the playground's vite dev and preview servers send them: the page is then
 * cross-origin isolated, and ONNX Runtime's WebAssembly threads (SharedArrayBuffer) work.
 */
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
  '.mjs': 'text/javascript; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/** Cross-origin isolation: what SharedArrayBuffer (ONNX Runtime's threads) needs. */
export const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
};

export interface StaticServer {
  origin: string;
  /** Every path requested, in order. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * Serve `root`; `extra` maps exact paths to bodies (served as JSON) and wins over files; `mounts`
 * maps path prefixes ("/models/tiny-sd/") to folders served under them.
 */
export async function serveStatic(
  root: string,
  extra: Record<string, string> = {},
  mounts: Record<string, string> = {},
): Promise<StaticServer> {
  const requests: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    requests.push(path);
    if (Object.hasOwn(extra, path)) {
      res.writeHead(200, { 'content-type': 'application/json', ...ISOLATION_HEADERS });
      res.end(extra[path]);
      return;
    }
    const mount = Object.keys(mounts).find((prefix) => path.startsWith(prefix));
    const base = mount === undefined ? root : mounts[mount];
    const rest = mount === undefined ? path : `/${path.slice(mount.length)}`;
    const file = normalize(join(base, rest.endsWith('/') ? `${rest}index.html` : rest));
    if (!file.startsWith(base + sep) && file !== base) {
      res.writeHead(403, ISOLATION_HEADERS).end();
      return;
    }
    try {
      if (!(await stat(file)).isFile()) throw new Error('not a file');
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        ...ISOLATION_HEADERS,
      });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain', ...ISOLATION_HEADERS }).end(`not found: ${path}`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
