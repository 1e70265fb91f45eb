/**
 * Objects that are small in memory but huge as trees: a DAG of shared objects (40 objects, 2^40
 * paths), a cycle, a sparse `new Array(1e9)`. Every walk over a caller's value must visit each
 * object once and stop at what the caller really allocated, so these cost a few reads, not hours.
 * The DAG nodes count their reads (helpers/hostile.ts `sharedDag`) and throw past a limit: a walk
 * that follows every path fails here at once (there is no timing in these tests).
 */
import { describe, expect, it } from 'vitest';
import { describeValue } from '../src/errors.js';
import {
  ArgumentError,
  ConfigError,
  DDIMInverseScheduler,
  DDIMScheduler,
  toDiffusersJsonString,
} from '../src/index.js';
import { checkMessage, expectTyped, sharedDag, throwingProxy, thrown } from './helpers/hostile.js';

const quiet = { onWarning: () => {} };

describe('describeValue', () => {
  it('renders a DAG of shared objects from its first few nodes, in a few reads', () => {
    const objects = sharedDag(40, 'object');
    const text = describeValue(objects.root);
    expect(text).toBe(`${'{"a":'.repeat(20).slice(0, 77)}...`);
    expect(text.length).toBe(80);
    expect(objects.reads()).toBeLessThan(200);

    const arrays = sharedDag(40, 'array');
    // The same nesting five levels deep, written by JSON.stringify, with ", " between items.
    let five: unknown = {};
    for (let i = 0; i < 5; i++) five = [five, five];
    const tail = JSON.stringify(five).replaceAll(',', ', ');
    expect(describeValue(arrays.root)).toBe(`${`${'['.repeat(35)}${tail}`.slice(0, 77)}...`);
    expect(arrays.reads()).toBeLessThan(200);
  });

  it('renders a cycle and a sparse 10^9-entry array inside an object without walking them', () => {
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic.self = cyclic;
    expect(describeValue(cyclic)).toBe(`${'{"n":1,"self":'.repeat(10).slice(0, 77)}...`);
    expect(describeValue({ x: new Array(1e9) })).toBe(
      `${`{"x":[${Array(10).fill('undefined').join(', ')}`.slice(0, 77)}...`,
    );
    // Short values render whole, as JSON for objects and with ", " between array items.
    expect(describeValue({ a: [1, 2], b: 'x', c: null })).toBe('{"a":[1, 2],"b":"x","c":null}');
    expect(describeValue([0.5, 'two', { t: NaN }])).toBe('[0.5, "two", {"t":NaN}]');
    expect(describeValue({ d: new Float32Array(3), e: new Date(0) })).toBe(
      '{"d":Float32Array(3),"e":"1970-01-01T00:00:00.000Z"}',
    );
  });
});

describe('the prototype-key walk over a config', () => {
  it('visits each shared object once: a 40-level DAG (2^40 paths) costs a few reads per object', () => {
    for (const kind of ['array', 'object'] as const) {
      const dag = sharedDag(40, kind);
      const onWarning = (message: string) => expect(message).toContain('"x"');
      expect(DDIMScheduler.fromConfig({ x: dag.root }, undefined, { onWarning }).config).toEqual(
        new DDIMScheduler().config,
      );
      new DDIMScheduler({ x: dag.root } as never, quiet);
      new DDIMInverseScheduler({ x: dag.root } as never, quiet);
      DDIMScheduler.fromConfig({}, { x: dag.root } as never, quiet);
      // Four walks over 41 objects, each read a handful of times (keys, each child, length).
      expect(dag.reads()).toBeLessThan(4 * 41 * 8);
    }
  });

  it('finds a prototype key below a 64-level DAG of plain arrays, naming a shortened path', () => {
    let o: unknown = JSON.parse('{"__proto__": {"polluted": 1}}');
    for (let i = 0; i < 64; i++) o = [o, o];
    const error = expectTyped(() => DDIMScheduler.fromConfig({ x: o }, undefined, quiet), ConfigError);
    // 66 segments (.x, 64 x [0], .__proto__): the first and last 8 are shown.
    expect(error.field).toBe(`config.x${'[0]'.repeat(7)}...(50 more levels)...${'[0]'.repeat(7)}.__proto__`);
    expect(error.value).toEqual({ polluted: 1 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('a cycle is walked once, and a prototype key inside it is found', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    cyclic.list = [cyclic, { b: cyclic }];
    expect(DDIMScheduler.fromConfig({ x: cyclic }, undefined, quiet).config.beta_end).toBe(0.02);
    (cyclic.list as unknown[]).push(JSON.parse('{"constructor": 2}'));
    expectTyped(
      () => DDIMScheduler.fromConfig({ x: cyclic }, undefined, quiet),
      ConfigError,
      'config.x.list[2].constructor',
    );
  });

  it('has no depth limit: a prototype key 10^4 levels down is refused (no stack overflow)', () => {
    for (const depth of [33, 100, 10_000]) {
      let o: Record<string, unknown> = { prototype: 'p' };
      for (let i = 0; i < depth; i++) o = { k: o };
      const error = expectTyped(() => new DDIMScheduler(o as never, quiet), ConfigError);
      expect(error.field).toBe(
        `config${'.k'.repeat(8)}...(${depth - 15} more levels)...${'.k'.repeat(7)}.prototype`,
      );
      expect(error.value).toBe('p');
    }
  });

  it('walks arrays longer than 10^6 by their entries: sparse 10^9 arrays cost what they hold', () => {
    const long = new Array(2_000_000);
    long[1_500_000] = JSON.parse('{"prototype": 1}');
    expectTyped(
      () => DDIMScheduler.fromConfig({ x: long }, undefined, quiet),
      ConfigError,
      'config.x[1500000].prototype',
    );
    const sparse = new Array(1e9);
    sparse[999_999_999] = { constructor: 2 };
    expectTyped(
      () => DDIMScheduler.fromConfig({ x: sparse }, undefined, quiet),
      ConfigError,
      'config.x[999999999].constructor',
    );
    sparse[999_999_999] = throwingProxy();
    expectTyped(
      () => DDIMScheduler.fromConfig({ x: sparse }, undefined, quiet),
      ConfigError,
      'config.x[999999999]',
    );
    sparse[999_999_999] = [1, { fine: true }];
    expect(DDIMScheduler.fromConfig({ x: sparse }, undefined, quiet).config.num_train_timesteps).toBe(1000);
  });

  it("checks an array's own named keys; a 10^6-entry trained_betas loads", () => {
    const named = [1, 2];
    Object.defineProperty(named, '__proto__', { value: { polluted: 1 }, enumerable: true });
    expectTyped(
      () => DDIMScheduler.fromConfig({ x: [named] }, undefined, quiet),
      ConfigError,
      'config.x[0].__proto__',
    );
    const typed = new Float64Array(2);
    Object.defineProperty(typed, 'constructor', { value: 3, enumerable: true });
    expectTyped(
      () => DDIMScheduler.fromConfig({ x: typed }, undefined, quiet),
      ConfigError,
      'config.x.constructor',
    );

    const T = 1_000_000;
    const s = new DDIMScheduler({ num_train_timesteps: T, trained_betas: new Array(T).fill(1e-6) });
    expect(s.betas.length).toBe(T);
    // diffusers' float32 schedule: alpha = 1 - beta with beta rounded to float32, in float32.
    expect(s.alphasCumprod[0]).toBe(Math.fround(1 - Math.fround(1e-6)));
  });
});

describe('toDiffusersJsonString', () => {
  const className = 'DDIMScheduler';

  it('refuses a DAG that would expand past the size bound at once, reading each object once', () => {
    for (const kind of ['array', 'object'] as const) {
      const dag = sharedDag(40, kind);
      const error = thrown(() => toDiffusersJsonString({ _class_name: className, x: dag.root }));
      // Counted before checkMessage renders the value again.
      expect(dag.reads()).toBeLessThan(41 * 8);
      expect(error).toBeInstanceOf(ArgumentError);
      checkMessage(error as ArgumentError);
      expect((error as ArgumentError).field.startsWith('config.x')).toBe(true);
      expect((error as ArgumentError).problem).toMatch(/expand to more than 2000000 values/);
    }
  });

  it('writes a small DAG exactly as the same tree without sharing (as json.dumps would)', () => {
    let shared: unknown = { beta: 0.5, list: [1, 'two'] };
    for (let i = 0; i < 4; i++) shared = { a: shared, b: [shared, shared] };
    const copy = JSON.parse(JSON.stringify(shared));
    expect(toDiffusersJsonString({ _class_name: className, x: shared })).toBe(
      toDiffusersJsonString({ _class_name: className, x: copy }),
    );
  });

  it('names the key that closes a cycle, at any level', () => {
    const cyclic: Record<string, unknown> = { n: 1 };
    cyclic.self = cyclic;
    const inner = expectTyped(
      () => toDiffusersJsonString({ _class_name: className, x: cyclic }),
      ArgumentError,
      'config.x.self',
    );
    expect(inner.problem).toMatch(/a cycle/);
    const top: Record<string, unknown> = { _class_name: className };
    top.list = [1, { back: top }];
    expectTyped(() => toDiffusersJsonString(top), ArgumentError, 'config.list[1].back');
  });

  it('refuses a sparse 10^9-entry array by its length, before reading an element', () => {
    const error = expectTyped(
      () => toDiffusersJsonString({ _class_name: className, x: new Array(1e9) }),
      ArgumentError,
      'config.x',
    );
    expect(error.message).toContain('(got array of length 1000000000)');
  });

  it('still writes a scheduler with 10^6 trained betas', () => {
    const T = 1_000_000;
    const text = toDiffusersJsonString(
      new DDIMScheduler({ num_train_timesteps: T, trained_betas: new Array(T).fill(1e-6) }).toJSON(),
    );
    // One line per beta, in Python's repr of 1e-6, between the other keys' lines.
    expect(text.split('\n').filter((line) => line === '    1e-06,' || line === '    1e-06').length).toBe(T);
    expect(text).toContain('"num_train_timesteps": 1000000,');
  });
});
