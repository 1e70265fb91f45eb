import { defineConfig } from 'vitest/config';

// The browser test: run by `npm run test:e2e` after building the playground; not part of `npm test`.
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.e2e.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
