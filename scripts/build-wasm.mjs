#!/usr/bin/env node
/**
 * Build the WebAssembly modules (AssemblyScript) into TypeScript modules holding their bytes as
 * base64, so that they load the same way in Node, browsers and bundlers (no file to fetch, no
 * Node built-in, no bundler plugin):
 *
 *   wasm/assembly/*.ts  -> src/wasm/kernels.generated.ts    the library's kernels
 *   wasm/bench/*.ts     -> cli/src/bench/bandwidth.generated.ts  memory bandwidth probes (the benchmarks')
 *
 *   node scripts/build-wasm.mjs            build what the sources, the compiler or the flags changed
 *   node scripts/build-wasm.mjs --force    build anyway
 *   node scripts/build-wasm.mjs --wat DIR  also write the text formats into DIR (to read what was built)
 *
 * The generated files are not committed (.gitignore): `npm ci` builds them (the "prepare"
 * script), and so do `npm run build`, `npm run typecheck` (so `npm test`) and the playground's
 * scripts before they run (their "pre" scripts), and vitest's global setup. Up to date, this takes
 * a few milliseconds (a hash of the inputs); a build takes a few seconds. The compiler is the exact
 * `assemblyscript` version in package.json, which pins its exact `binaryen`: the same inputs give
 * the same bytes.
 *
 * biome does not lint wasm/assembly (it cannot parse AssemblyScript's function decorators); the
 * compiler's warnings fail the build instead.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Each module: its source folder (every .ts in it is hashed), its entry file, its output. */
const TARGETS = [
  {
    sources: join(root, 'wasm', 'assembly'),
    entry: 'index.ts',
    out: join(root, 'src', 'wasm', 'kernels.generated.ts'),
  },
  {
    sources: join(root, 'wasm', 'bench'),
    entry: 'bandwidth.ts',
    out: join(root, 'cli', 'src', 'bench', 'bandwidth.generated.ts'),
  },
];

/**
 * -O3: binaryen's speed optimisations, which keep IEEE semantics (no reassociation, no fused
 * multiply-add: the kernels' float results are the operations as written). --runtime stub: no
 * garbage collector (the kernels allocate nothing). --enable simd: 128-bit SIMD. --noAssert:
 * no bounds assertions in the std library (the kernels use raw loads and stores only).
 */
const FLAGS = ['-O3', '--runtime', 'stub', '--enable', 'simd', '--noAssert'];

const args = process.argv.slice(2);
const force = args.includes('--force');
const watAt = args.indexOf('--wat');
const watDir = watAt >= 0 ? args[watAt + 1] : undefined;

const require = createRequire(import.meta.url);
const ascVersion = JSON.parse(readFileSync(require.resolve('assemblyscript/package.json'), 'utf8')).version;
const binaryenVersion = JSON.parse(readFileSync(require.resolve('binaryen/package.json'), 'utf8')).version;

/** sha256 of the compiler versions, the flags and every source file of the target. */
function hashOf(sourceDir) {
  const hash = createHash('sha256');
  hash.update(`assemblyscript ${ascVersion}, binaryen ${binaryenVersion}, ${FLAGS.join(' ')}\n`);
  for (const file of readdirSync(sourceDir)
    .filter((f) => f.endsWith('.ts'))
    .sort()) {
    hash.update(`${file}\n`);
    hash.update(readFileSync(join(sourceDir, file)));
  }
  return hash.digest('hex');
}

let asc;
for (const target of TARGETS) {
  const sourceHash = hashOf(target.sources);
  if (!force && watDir === undefined && existsSync(target.out)) {
    if (readFileSync(target.out, 'utf8').includes(`'${sourceHash}'`)) continue;
  }
  asc ??= await import('assemblyscript/asc');
  const entry = join(target.sources, target.entry);
  const outputs = new Map();
  const stderr = [];
  const result = await asc.main([entry, ...FLAGS, '--outFile', 'out.wasm', '--textFile', 'out.wat'], {
    writeFile: (name, contents) => {
      outputs.set(name, contents);
    },
    stdout: { write: (s) => process.stdout.write(s) },
    stderr: { write: (s) => stderr.push(String(s)) },
  });
  const binary = outputs.get('out.wasm');
  if (result.error !== null || !(binary instanceof Uint8Array)) {
    process.stderr.write(stderr.join(''));
    console.error(
      `build-wasm: AssemblyScript failed on ${entry}: ${result.error?.message ?? 'no binary emitted'}`,
    );
    process.exit(1);
  }
  if (stderr.length > 0) {
    // Warnings are errors here: each one so far has been a real problem (an implicit cast).
    process.stderr.write(stderr.join(''));
    console.error(`build-wasm: the compiler warned on ${entry}; fix the warnings above.`);
    process.exit(1);
  }
  if (watDir !== undefined)
    writeFileSync(join(watDir, `${basename(target.out, '.generated.ts')}.wat`), outputs.get('out.wat'));
  const lines =
    Buffer.from(binary)
      .toString('base64')
      .match(/.{1,100}/g) ?? [];
  const text = `// Generated by scripts/build-wasm.mjs from ${relative(root, target.sources)}/*.ts: do not edit, do not commit.
// AssemblyScript ${ascVersion} (binaryen ${binaryenVersion}), flags: ${FLAGS.join(' ')}.

/** sha256 of the compiler versions, the flags and the sources: the build is skipped while it matches. */
export const SOURCE_HASH = '${sourceHash}';

/** Size of the module in bytes. */
export const BYTE_LENGTH = ${binary.length};

/** The module, base64-encoded. */
export const WASM_BASE64 =
${lines.map((l) => `  '${l}'`).join(' +\n')};
`;
  writeFileSync(target.out, text);
  console.log(`build-wasm: ${binary.length} bytes -> ${relative(root, target.out)}`);
}
