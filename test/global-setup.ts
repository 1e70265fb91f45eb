/**
 * vitest globalSetup: build the WebAssembly kernels when their sources changed, then the library
 * (dist/) and the CLI (cli/dist/) once, so the CLI tests run the artefact users run
 * (`node cli/dist/index.js`, ddim-cli's "bin"), not the sources. The order matters: the library
 * imports the kernels' generated module, and the CLI compiles against the library's built types,
 * as an installed ddim.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  // vitest runs the global setup of the root config and of each project (vitest.config.ts has two,
  // one per kernel backend), all in this process: build once.
  if (process.env.DDIM_TEST_BUILT === '1') return;
  process.env.DDIM_TEST_BUILT = '1';
  const root = fileURLToPath(new URL('..', import.meta.url));
  // The WebAssembly kernels' module (src/wasm/kernels.generated.ts), when its sources changed.
  execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/build-wasm.mjs', import.meta.url))], {
    cwd: root,
    stdio: 'inherit',
  });
  const tsc = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));
  for (const project of ['tsconfig.build.json', 'cli/tsconfig.json']) {
    execFileSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' });
  }
}
