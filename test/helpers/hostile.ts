/**
 * Tools for hostile-input tests: objects that throw when read, a check that a call failed with
 * one of the library's typed errors (not an engine TypeError / RangeError), and a snapshot of
 * everything observable about a scheduler, to prove a failed call changed nothing.
 */
import { expect } from 'vitest';
import { describeValue } from '../../src/errors.js';
import {
  AbortError,
  type DDIMInverseScheduler,
  type DDIMScheduler,
  DdimError,
  type Generator,
  StateError,
} from '../../src/index.js';
import { refModel, refSample } from './models.js';

/** A Proxy whose every trap throws (reading, listing keys, prototype, has). */
export function throwingProxy(target: object = {}): object {
  const boom = (): never => {
    throw new Error('hostile proxy trap');
  };
  return new Proxy(target, {
    get: boom,
    ownKeys: boom,
    getOwnPropertyDescriptor: boom,
    getPrototypeOf: boom,
    has: boom,
  });
}

/** An array Proxy that passes Array.isArray and reports a length, but throws on any element read. */
export function throwingArray(length = 2): unknown[] {
  return new Proxy(new Array(length).fill(0), {
    get(target, key) {
      if (key === 'length') return target.length;
      throw new Error('hostile array element');
    },
  });
}

/** An object with a getter for `key` that throws. */
export function throwingGetter<T extends object>(base: T, key: string): T {
  const copy = { ...base };
  Object.defineProperty(copy, key, {
    enumerable: true,
    get() {
      throw new Error(`hostile getter ${key}`);
    },
  });
  return copy;
}

/**
 * A DAG of `depth` levels in which every node holds the next one twice (`[o, o]` or
 * `{ a: o, b: o }`): `depth + 1` objects but 2^depth paths from the root to the leaf `{}`. Every
 * node is a Proxy that counts the reads made through it (get, has, ownKeys, descriptors) and
 * throws once `maxReads` is passed, so code that walks every path fails at once instead of
 * running for hours, and code that walks every object once stays far below the limit.
 */
export function sharedDag(
  depth: number,
  kind: 'array' | 'object',
  maxReads = 100_000,
): { root: unknown; reads: () => number } {
  let reads = 0;
  const count = (): void => {
    if (++reads > maxReads) throw new Error(`sharedDag: more than ${maxReads} reads`);
  };
  const handler: ProxyHandler<object> = {
    get(target, key, receiver) {
      count();
      return Reflect.get(target, key, receiver);
    },
    has(target, key) {
      count();
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      count();
      return Reflect.ownKeys(target);
    },
    getOwnPropertyDescriptor(target, key) {
      count();
      return Reflect.getOwnPropertyDescriptor(target, key);
    },
  };
  let node: object = new Proxy({}, handler);
  for (let i = 0; i < depth; i++)
    node = new Proxy(kind === 'array' ? [node, node] : { a: node, b: node }, handler);
  return { root: node, reads: () => reads };
}

/** The error a call threw, or undefined. */
export function thrown(call: () => unknown): unknown {
  try {
    call();
  } catch (error) {
    return error;
  }
  return undefined;
}

/**
 * Assert the call throws a DdimError of `kind` whose message names `field` (when given) and
 * carries a fix, and return it.
 */
export function expectTyped<E extends DdimError>(
  call: () => unknown,
  kind: abstract new (...args: never[]) => E,
  field?: string | RegExp,
): E {
  const error = thrown(call);
  if (!(error instanceof DdimError)) {
    throw new Error(`expected a ${kind.name}, got ${error === undefined ? 'no error' : String(error)}`);
  }
  expect(error, error.message).toBeInstanceOf(kind);
  checkMessage(error);
  if (typeof field === 'string') expect(error.field).toBe(field);
  else if (field instanceof RegExp) expect(error.field).toMatch(field);
  return error as E;
}

/**
 * The errors that carry no value, because there is none worth printing: reading the value threw
 * (`guard.ts` `unreadable`), a call made at the wrong time or cancelled (StateError, AbortError),
 * or a relation between arguments that are each fine (two buffers sharing memory, two options that
 * exclude each other, a model without the input an option feeds). Every other error must show
 * the value it is about.
 */
const VALUELESS: readonly RegExp[] = [
  /^could not be read: /,
  /^shares memory with /,
  /^overlaps \S+ without being exactly its memory/,
  /^cannot be combined with /,
  /^was given but the model has no /,
];

/**
 * Every library error names a field, says what is wrong, shows the value it is about (unless
 * it is one of the VALUELESS kinds), and says how to fix it.
 */
export function checkMessage(error: DdimError): void {
  expect(error.field.length).toBeGreaterThan(0);
  expect(error.problem.length).toBeGreaterThan(0);
  expect(error.fix ?? '').not.toBe('');
  expect(error.message.startsWith(error.field)).toBe(true);
  expect(error.message).toContain('Fix: ');
  // DdimError writes a carried value as " (got <describeValue(value)>)" right before the fix.
  const got = ` (got ${describeValue(error.value)}).`;
  const valueless =
    error instanceof StateError ||
    error instanceof AbortError ||
    VALUELESS.some((p) => p.test(error.problem));
  if (error.value !== undefined || !valueless) {
    expect(error.message, `${error.name} without the value it is about: ${error.message}`).toContain(got);
  }
  // Messages stay readable even for hostile values (huge arrays, deep objects).
  expect(error.message.length).toBeLessThan(1200);
}

/** Everything a caller can observe about a scheduler, including what its next step returns. */
export function snapshot(s: DDIMScheduler | DDIMInverseScheduler): unknown {
  const base = {
    json: JSON.stringify(s.toJSON()),
    timesteps: Array.from(s.timesteps),
    numInferenceSteps: s.numInferenceSteps,
    custom: s.customTimesteps,
    alphasCumprod: Array.from(s.alphasCumprod),
    betas: Array.from(s.betas),
  };
  if (s.numInferenceSteps === null) return base;
  const t = s.timesteps[0];
  const step = s.step(refModel, t, refSample);
  return {
    ...base,
    previous: s.previousTimestep(t),
    step: [Array.from(step.prevSample.data), Array.from(step.predOriginalSample.data)],
  };
}

/**
 * Run a hostile call against a scheduler: it must throw a DdimError (of `kind`, when given), and
 * afterwards the scheduler's snapshot and the generators' states are exactly as before, and a
 * valid call works.
 */
export function expectUnchangedAfter(
  s: DDIMScheduler | DDIMInverseScheduler,
  call: () => unknown,
  kind: abstract new (...args: never[]) => DdimError = DdimError,
  generators: readonly Generator[] = [],
): DdimError {
  const before = snapshot(s);
  const states = generators.map((g) => JSON.stringify(g.getState()));
  const error = expectTyped(call, kind);
  expect(snapshot(s)).toEqual(before);
  expect(generators.map((g) => JSON.stringify(g.getState()))).toEqual(states);
  // And the scheduler still works: a full valid step from its first timestep.
  if (s.numInferenceSteps !== null) {
    const t = s.timesteps[0];
    const out = s.step(refModel, t, refSample);
    expect(Array.from(out.prevSample.data).every(Number.isFinite)).toBe(true);
  }
  return error;
}
