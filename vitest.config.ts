import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Tests that run no numeric kernel in the test process, or compare with a child process on the
 * default backend: static checks of the sources, the CLI tests (the built `ddim` runs as a child
 * process), the CLI's PNG and progress helpers, and the benchmark modules' smoke tests. The 'js' project
 * leaves them out, and test/wasm-*.test.ts, which set each backend themselves.
 */
const BACKEND_NEUTRAL = [
  'test/architecture.test.ts',
  'test/bench-*.test.ts',
  'test/cli.test.ts',
  'test/cli-*.test.ts',
  'test/package-deps.test.ts',
  'test/variants.test.ts',
  'test/wasm-*.test.ts',
];

export default defineConfig({
  // The playground's and the CLI's modules import the package by name; tests resolve it to the
  // source, every entry alike (one DDIMScheduler / Generator class, whichever entry a module names;
  // ddim/pipeline to its Node variant, as under Node).
  resolve: {
    alias: [
      { find: /^ddim$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
      { find: /^ddim\/exact$/, replacement: fileURLToPath(new URL('./src/exact/index.ts', import.meta.url)) },
      {
        find: /^ddim\/onnxruntime$/,
        replacement: fileURLToPath(new URL('./src/runtime/onnxruntime.ts', import.meta.url)),
      },
      {
        find: /^ddim\/pipeline$/,
        replacement: fileURLToPath(new URL('./src/node/pipeline.ts', import.meta.url)),
      },
    ],
  },
  test: {
    // Builds the kernels, dist/ and cli/dist/ once: the CLI tests run the built `ddim` executable.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // The whole suite on both kernel paths (issue 17): every fixture, differential and property test
    // on the WebAssembly kernels (the default) and on the JavaScript ones (the reference, and the
    // fallback where WebAssembly SIMD is missing).
    projects: [
      {
        extends: true,
        test: {
          name: 'wasm',
          include: ['test/**/*.test.ts'],
          env: { DDIM_TEST_BACKEND: 'wasm' },
          setupFiles: ['test/setup/backend.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'js',
          include: ['test/**/*.test.ts'],
          exclude: BACKEND_NEUTRAL,
          env: { DDIM_TEST_BACKEND: 'js' },
          setupFiles: ['test/setup/backend.ts'],
        },
      },
    ],
  },
});
