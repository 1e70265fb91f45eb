/**
 * What a library user installs (issue 15): the `ddim` package has no runtime dependencies beyond
 * an allowed list, and the CLI's and the benchmarks' dependencies live in the `ddim-cli` workspace
 * package (cli/), which reaches the library through its public entries only. And the API reference
 * (typedoc) covers exactly those public entries.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The runtime dependencies `npm install ddim` may bring: the pipeline's CLIP tokenizer
 * (src/pipeline/tokenizer.ts) and the HTML entity table of its ftfy text fixing
 * (src/pipeline/fix-text.ts). Nothing else: add a package here only with the reason.
 */
const ALLOWED_DEPENDENCIES: readonly string[] = ['@huggingface/tokenizers', 'entities'];

interface PackageJson {
  name: string;
  bin?: unknown;
  files?: string[];
  exports?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  workspaces?: string[];
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const readPackage = (folder: string) =>
  JSON.parse(readFileSync(join(ROOT, folder, 'package.json'), 'utf8')) as PackageJson;
const library = readPackage('.');
const cli = readPackage('cli');

/** Every .ts file under `folder` (relative to the repository root). */
function sourceFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(ROOT, folder, file));
}

/** The module specifiers of a file's static imports, re-exports and literal dynamic imports. */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const pattern of [
    /^\s*(?:import|export)\s[^'";]*?\sfrom\s+'([^']+)'/gm,
    /^\s*import\s+'([^']+)'/gm,
    /\bimport\(\s*'([^']+)'\s*\)/g,
  ]) {
    for (const match of text.matchAll(pattern)) found.push(match[1]);
  }
  return found;
}

/** The package a bare specifier names: `a` of `a/b`, `@s/a` of `@s/a/b`. */
function packageOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const isBuiltin = (specifier: string) => specifier.startsWith('node:') || builtinModules.includes(specifier);
const isRelative = (specifier: string) => specifier.startsWith('.');

describe('the library package (what `npm install ddim` installs)', () => {
  it('has no runtime dependencies beyond the allowed list, optional ones included', () => {
    // optionalDependencies are installed by default, so they count as dependencies here.
    const installed = [
      ...Object.keys(library.dependencies ?? {}),
      ...Object.keys(library.optionalDependencies ?? {}),
    ];
    expect(installed.filter((name) => !ALLOWED_DEPENDENCIES.includes(name))).toEqual([]);
  });

  it("brings none of the CLI's dependencies, nor the CLI itself", () => {
    const cliDependencies = Object.keys(cli.dependencies ?? {}).filter((name) => name !== library.name);
    // The CLI's own list is what this guards; an empty one would make the check vacuous.
    expect(cliDependencies).toEqual(
      expect.arrayContaining(['commander', 'pngjs', 'cli-progress', 'tinybench']),
    );
    const onInstall = [
      ...Object.keys(library.dependencies ?? {}),
      ...Object.keys(library.optionalDependencies ?? {}),
      ...Object.keys(library.peerDependencies ?? {}).filter(
        (name) => library.peerDependenciesMeta?.[name]?.optional !== true,
      ),
    ];
    expect(cliDependencies.filter((name) => onInstall.includes(name))).toEqual([]);
    expect(library.bin).toBeUndefined();
    // What npm packs: the library's folders, never the CLI's (cli/ is its own package).
    expect(library.files?.filter((entry) => /^(\.\/)?(cli|bench)\b/.test(entry))).toEqual([]);
    expect(library.files).toEqual(expect.arrayContaining(['dist', 'src']));
    expect(library.workspaces).toEqual(['cli']);
    expect(cli.name).toBe('ddim-cli');
    expect(cli.bin).toEqual({ ddim: './dist/index.js' });
  });

  it('imports, in src/, only Node built-ins and its dependencies or peer dependencies', () => {
    const declared = [
      ...Object.keys(library.dependencies ?? {}),
      ...Object.keys(library.peerDependencies ?? {}),
    ];
    const stray: string[] = [];
    const files = sourceFiles('src');
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      for (const specifier of specifiers(file)) {
        if (isRelative(specifier) || isBuiltin(specifier)) continue;
        if (!declared.includes(packageOf(specifier))) stray.push(`${relative(ROOT, file)}: ${specifier}`);
      }
    }
    expect(stray).toEqual([]);
  });
});

describe('the CLI package (cli/, ddim-cli)', () => {
  it('reaches the library through its public entries only, and its own dependencies', () => {
    const entries = Object.keys(library.exports ?? {})
      .filter((key) => key !== './package.json')
      .map((key) => (key === '.' ? library.name : `${library.name}/${key.slice(2)}`));
    expect(entries).toEqual(expect.arrayContaining(['ddim', 'ddim/exact', 'ddim/onnxruntime']));
    const declared = Object.keys(cli.dependencies ?? {});
    const cliSources = join(ROOT, 'cli', 'src');
    const stray: string[] = [];
    const files = sourceFiles('cli/src');
    expect(files.length).toBeGreaterThan(10);
    for (const file of files) {
      for (const specifier of specifiers(file)) {
        if (isBuiltin(specifier)) continue;
        const where = `${relative(ROOT, file)}: ${specifier}`;
        if (isRelative(specifier)) {
          // A relative import stays inside cli/src (never ../../src: the library's internals).
          if (relative(cliSources, resolve(dirname(file), specifier)).startsWith('..')) stray.push(where);
        } else if (packageOf(specifier) === library.name) {
          if (!entries.includes(specifier)) stray.push(where);
        } else if (!declared.includes(packageOf(specifier))) {
          stray.push(where);
        }
      }
    }
    expect(stray).toEqual([]);
  });

  it('the import scan sees what it is meant to see', () => {
    // The patterns above against the forms the sources use, so a miss cannot pass silently.
    const here = specifiers(fileURLToPath(new URL('../cli/src/commands/bench.ts', import.meta.url)));
    expect(here).toEqual(expect.arrayContaining(['commander', '../context.js', '../bench/index.js']));
    const program = specifiers(fileURLToPath(new URL('../cli/src/program.ts', import.meta.url)));
    expect(program).toEqual(expect.arrayContaining(['ddim', 'ddim/exact', 'commander']));
  });
});

describe('the API reference (typedoc.json)', () => {
  /** The source file behind each `types` path of the exports map: ./dist/x.d.ts -> src/x.ts. */
  function typesPaths(value: unknown): string[] {
    if (typeof value !== 'object' || value === null) return [];
    return Object.entries(value).flatMap(([key, inner]) =>
      key === 'types' && typeof inner === 'string' ? [inner] : typesPaths(inner),
    );
  }

  it('documents exactly the public entries of package.json "exports"', () => {
    const typedoc = JSON.parse(readFileSync(join(ROOT, 'typedoc.json'), 'utf8')) as {
      entryPoints: string[];
      treatWarningsAsErrors: boolean;
      validation: Record<string, boolean>;
    };
    const entries = new Set(
      typesPaths(library.exports).map((path) =>
        path.replace(/^\.\/dist\//, 'src/').replace(/\.d\.ts$/, '.ts'),
      ),
    );
    // '.' and './browser' (the same core types), the Node entry, './onnxruntime', './exact'.
    expect([...entries]).toEqual(
      expect.arrayContaining([
        'src/index.ts',
        'src/node/index.ts',
        'src/runtime/onnxruntime.ts',
        'src/exact/index.ts',
      ]),
    );
    // A new entry (ddim/pipeline: src/pipeline/index.ts) goes in both lists, or this fails.
    expect([...typedoc.entryPoints].sort()).toEqual([...entries].sort());
    expect(typedoc.treatWarningsAsErrors).toBe(true);
    expect(typedoc.validation).toEqual({ notExported: true, invalidLink: true, notDocumented: true });
  });
});
