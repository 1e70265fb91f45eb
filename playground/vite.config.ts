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
    ],
  },
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    // One small bundle, no chunks fetched lazily: the built page works offline.
    assetsInlineLimit: 0,
    sourcemap: true,
  },
  // Scan only the page for dependencies (not a built copy in dist/).
  optimizeDeps: { entries: ['index.html'] },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
