/**
 * Vite config for the playground: a static page (no server code) built to playground/dist.
 *
 * `ddim` resolves to the library's core source (src/index.ts), the browser entry. Nothing here
 * polyfills Node built-ins: if the core ever imported one, the build would fail or the e2e test's
 * check for `node:` in the bundle would, which is the point.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  root,
  // Relative asset URLs: the built page works from any folder or sub-path of a static host.
  base: './',
  resolve: {
    // Exact matches: 'ddim' must not also swallow 'ddim/exact' as a path prefix.
    alias: [
      { find: /^ddim$/, replacement: fileURLToPath(new URL('../src/index.ts', import.meta.url)) },
      {
        find: /^ddim\/exact$/,
        replacement: fileURLToPath(new URL('../src/exact/index.ts', import.meta.url)),
      },
      // The browser-safe pipeline entry (the package's `./pipeline` default condition), not src/node/.
      {
        find: /^ddim\/pipeline$/,
        replacement: fileURLToPath(new URL('../src/pipeline/index.ts', import.meta.url)),
      },
    ],
  },
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // Assets are files next to the page, never inlined or fetched from elsewhere: the built page
    // works offline. The page's script is one bundle; the Generate panel's pipeline and ONNX
    // Runtime (with its .wasm) are chunks fetched from the same folder when a model is loaded.
    assetsInlineLimit: 0,
    sourcemap: true,
  },
  // Scan only the page for dependencies (not a built copy in dist/). onnxruntime-web is left as
  // published: its bundle finds its .wasm next to itself, which pre-bundling would break.
  optimizeDeps: { entries: ['index.html'], exclude: ['onnxruntime-web'] },
  // Cross-origin isolation (SharedArrayBuffer): ONNX Runtime's WebAssembly threads need it. A
  // static host without these headers still works, on one thread (playground/src/ort-web.ts).
  server: { host: '127.0.0.1', headers: ISOLATION_HEADERS },
  preview: { host: '127.0.0.1', headers: ISOLATION_HEADERS },
});
