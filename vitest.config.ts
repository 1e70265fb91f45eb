import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

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
    include: ['test/**/*.test.ts'],
    // Builds dist/ once: the CLI tests run the built `ddim` executable as a child process.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
