#!/usr/bin/env node
/** The `ddim` executable (package.json "bin"). */
import { readFileSync } from 'node:fs';
import { processContext } from './context.js';
import { run } from './program.js';

// `ddim timesteps | head`: the reader has gone, so stop quietly instead of crashing on EPIPE.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};
process.exitCode = await run(process.argv.slice(2), processContext(), pkg.version);
