import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The playground's modules import the package by name; tests resolve it to the source.
  resolve: {
    alias: [
      { find: /^ddim$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
      { find: /^ddim\/exact$/, replacement: fileURLToPath(new URL('./src/exact/index.ts', import.meta.url)) },
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
