/**
 * vitest globalSetup: build the WebAssembly kernels when their sources changed, and dist/ once,
 * so the CLI tests run the artefact users run (`node dist/cli/index.js`, the package's "bin"),
 * not the sources.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  const root = fileURLToPath(new URL('..', import.meta.url));
  // The WebAssembly kernels' module (src/wasm/kernels.generated.ts), when its sources changed.
  execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/build-wasm.mjs', import.meta.url))], {
    cwd: root,
    stdio: 'inherit',
  });
  execFileSync(
    process.execPath,
    [
      fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)),
      '-p',
      'tsconfig.build.json',
    ],
    {
      cwd: root,
      stdio: 'inherit',
    },
  );
}
