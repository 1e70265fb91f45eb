#!/usr/bin/env node
/** The `ddim` executable (package.json "bin"). */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { processContext } from './context.js';
import { run } from './program.js';

// `ddim timesteps | head`: the reader has gone, so stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

// Two packages, two versions: this CLI's (ddim-cli) and the library's it runs on, whose
// package.json is one of its exports.
function versionOf(file: string | URL): string {
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}
const cliVersion = versionOf(new URL('../package.json', import.meta.url));
const libraryVersion = versionOf(createRequire(import.meta.url).resolve('ddim/package.json'));
process.exitCode = await run(
  process.argv.slice(2),
  processContext(),
  `${cliVersion} (ddim ${libraryVersion})`,
);
