/**
 * The module map of docs/architecture.md, enforced: which folder of src/ may import which, that
 * the core imports no Node built-in, and that nothing imports in a cycle. A new import that breaks
 * a rule fails here with the file and the import named, before a reviewer has to notice.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** The area of a file: its folder under src/ ("scheduler", "loading/node"), or the root file's name. */
function areaOf(file: string): string {
  const rel = relative(SRC, file).replaceAll('\\', '/');
  if (rel.startsWith('loading/node/')) return 'loading/node';
  const slash = rel.indexOf('/');
  return slash < 0 ? rel.replace(/\.ts$/, '') : rel.slice(0, slash);
}

/**
 * What each area may import (besides itself). Lower layers first: errors and guard at the bottom,
 * the WebAssembly kernels' module and instances (which know no dtype or tensor: each concept's
 * WebAssembly path lives in its own area), then dtypes and tensors, noise, the schedulers, the
 * sampling loop; loading, the ONNX runtime
 * adapter and the exact models beside them; the pipeline on top; the Node entries over everything.
 */
const MAY_IMPORT: Record<string, readonly string[]> = {
  errors: [],
  guard: ['errors'],
  wasm: ['errors', 'guard'],
  tensor: ['errors', 'guard', 'wasm'],
  noise: ['errors', 'guard', 'tensor', 'wasm'],
  scheduler: ['errors', 'guard', 'tensor', 'noise', 'loading', 'wasm'],
  sampling: ['errors', 'guard', 'tensor', 'noise', 'scheduler', 'wasm'],
  loading: ['errors', 'guard', 'scheduler'],
  'loading/node': ['errors', 'guard', 'loading'],
  runtime: ['errors', 'guard', 'tensor'],
  exact: ['errors', 'guard', 'tensor', 'noise', 'scheduler', 'sampling'],
  pipeline: ['errors', 'guard', 'tensor', 'noise', 'scheduler', 'sampling', 'loading', 'runtime'],
  node: ['*'],
  index: ['*'],
};

/**
 * The imports across areas that are allowed only from one file, and why: schedulers meet loading
 * in pretrained.ts alone; the diffusers-JSON writer bounds its input by the longest trained_betas.
 */
const ONLY_FROM: Record<string, readonly { from: string; to: string }[]> = {
  'scheduler->loading': [{ from: 'scheduler/pretrained.ts', to: 'loading/' }],
  'loading->scheduler': [{ from: 'loading/diffusers-json.ts', to: 'scheduler/schedule.ts' }],
};

interface Import {
  from: string;
  to: string;
  spec: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

function importsOf(file: string): Import[] {
  const text = readFileSync(file, 'utf8');
  const found: Import[] = [];
  const re =
    /^(?:import|export)\s+(type\s+)?[^'";]*?from\s+'([^']+)'|^import\s+'([^']+)'|import\(\s*'([^']+)'\s*\)/gm;
  for (const m of text.matchAll(re)) {
    const spec = m[2] ?? m[3] ?? m[4];
    const resolved = spec.startsWith('.') ? join(dirname(file), spec.replace(/\.js$/, '.ts')) : spec;
    found.push({ from: file, to: resolved, spec, typeOnly: m[1] !== undefined });
  }
  return found;
}

const files = sourceFiles(SRC);
const imports = files.flatMap(importsOf);
const rel = (p: string) => relative(SRC, p).replaceAll('\\', '/');

describe('the module map (docs/architecture.md)', () => {
  it('every area of src/ is in the map', () => {
    const areas = new Set(files.map(areaOf));
    expect([...areas].filter((a) => !(a in MAY_IMPORT))).toEqual([]);
  });

  it('each area imports only the areas below it', () => {
    const broken: string[] = [];
    for (const i of imports) {
      if (!i.spec.startsWith('.')) continue;
      const from = areaOf(i.from);
      const to = areaOf(i.to);
      if (from === to) continue;
      const allowed = MAY_IMPORT[from];
      const ok = allowed.includes('*') || allowed.includes(to);
      const only = ONLY_FROM[`${from}->${to}`];
      const exempt = only?.some((o) => rel(i.from) === o.from && rel(i.to).startsWith(o.to));
      if (!ok || (only !== undefined && !exempt)) broken.push(`${rel(i.from)} imports ${rel(i.to)}`);
    }
    expect(broken).toEqual([]);
  });

  it('the core imports no Node built-in (only src/node and src/loading/node may)', () => {
    const broken = imports
      .filter((i) => i.spec.startsWith('node:') && !['node', 'loading/node'].includes(areaOf(i.from)))
      .map((i) => `${rel(i.from)} imports ${i.spec}`);
    expect(broken).toEqual([]);
  });

  it('no import cycle between modules (value imports; type-only imports are erased)', () => {
    const graph = new Map<string, string[]>();
    for (const i of imports) {
      if (i.typeOnly || !i.spec.startsWith('.')) continue;
      graph.set(i.from, [...(graph.get(i.from) ?? []), i.to]);
    }
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (node: string, path: string[]): void => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(node)), node].map(rel).join(' -> '));
        return;
      }
      state.set(node, 'visiting');
      for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
      state.set(node, 'done');
    };
    for (const node of graph.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });
});
