/**
 * Each variant list is written once, and every choice over it is exhaustive: adding a made-up
 * variant to a list without handling it everywhere it matters must be a type error. Checked by
 * compiling the library with the list edited in memory (the TypeScript compiler API, the sources
 * otherwise unchanged) and asserting where the compiler complains.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));
const ENTRIES = ['index.ts', 'exact/index.ts', 'runtime/onnxruntime.ts', 'node/index.ts'].map((f) => SRC + f);

const OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  types: ['node'],
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  noFallthroughCasesInSwitch: true,
  verbatimModuleSyntax: true,
};

let base: ts.Program;

/** The library compiled with `file`'s text edited by `edit`: the files the compiler complains about. */
function compileWith(file: string, edit: (text: string) => string): Map<string, string[]> {
  const path = SRC + file;
  const original = readFileSync(path, 'utf8');
  const edited = edit(original);
  expect(edited, `the edit of ${file} must change it`).not.toBe(original);
  const host = ts.createCompilerHost(OPTIONS);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, onError, create) =>
    name === path ? ts.createSourceFile(name, edited, version) : read(name, version, onError, create);
  const program = ts.createProgram(ENTRIES, OPTIONS, host, base);
  const errors = new Map<string, string[]>();
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const where = d.file === undefined ? '(global)' : d.file.fileName.replace(SRC, '');
    const list = errors.get(where) ?? [];
    list.push(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    errors.set(where, list);
  }
  return errors;
}

describe('variant lists: a made-up variant is a type error wherever it is not handled', () => {
  beforeAll(() => {
    base = ts.createProgram(ENTRIES, OPTIONS);
  }, 120_000);

  it('the library compiles as it is', () => {
    const errors = ts
      .getPreEmitDiagnostics(base)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, ' '));
    expect(errors).toEqual([]);
  });

  it('a prediction type: its row of the PREDICTIONS table is missing', () => {
    const errors = compileWith('scheduler/prediction.ts', (t) =>
      t.replace(
        "['epsilon', 'sample', 'v_prediction'] as const",
        "['epsilon', 'sample', 'v_prediction', 'made_up'] as const",
      ),
    );
    expect([...errors.keys()]).toEqual(['scheduler/prediction.ts']);
    expect(errors.get('scheduler/prediction.ts')!.join('\n')).toMatch(/made_up/);
  });

  it('a timestep spacing: the choice of the timestep list is not exhaustive', () => {
    const errors = compileWith('scheduler/timesteps.ts', (t) =>
      t.replace(
        "['leading', 'trailing', 'linspace'] as const",
        "['leading', 'trailing', 'linspace', 'made_up'] as const",
      ),
    );
    expect([...errors.keys()]).toContain('scheduler/timesteps.ts');
    expect(errors.get('scheduler/timesteps.ts')!.join('\n')).toMatch(/made_up.*never|never/);
  });

  it('a beta schedule: the choice of the betas is not exhaustive', () => {
    const errors = compileWith('scheduler/schedule.ts', (t) =>
      t.replace(
        "['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const",
        "['linear', 'scaled_linear', 'squaredcos_cap_v2', 'made_up'] as const",
      ),
    );
    expect([...errors.keys()]).toEqual(['scheduler/schedule.ts']);
  });

  it('a dtype: its array type and every choice over the dtypes', () => {
    const errors = compileWith('tensor/dtype.ts', (t) =>
      t.replace(
        "['float32', 'float64', 'float16'] as const",
        "['float32', 'float64', 'float16', 'bfloat16'] as const",
      ),
    );
    // DTypeMap has no entry for it, and the switches in dtype.ts and the noise module are not exhaustive.
    expect(errors.get('tensor/dtype.ts')!.join('\n')).toMatch(/bfloat16/);
    expect([...errors.keys()]).toContain('noise/randn.ts');
  });
});
