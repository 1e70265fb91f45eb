/**
 * Fuzz tests (fast-check, fixed seed; FC_SEED overrides it): random invalid configs, tensors,
 * dims, timesteps and options thrown at every checked entry point. The guarantees:
 *  - only the library's typed errors (DdimError subclasses) escape, never an engine TypeError /
 *    RangeError or a caller's own exception;
 *  - each call ends in bounded time (loosely: under a second on a 2-core machine; a refused
 *    10^9-element request takes microseconds);
 *  - every error names a field and carries a fix;
 *  - after an error the scheduler is as it was (same config, timesteps, alphas, same next step),
 *    and so are the caller's generators.
 *
 * Not fuzzed: the unchecked numeric building blocks (ddimStepKernel, stepCoefficients,
 * quantileInPlace, selectKth, cumprod, alphasFromBetas, rescaleZeroTerminalSnr, betasForConfig,
 * snr, ddimVariance, roundHalfEven, the previous-timestep rule functions, the float16 bit helpers,
 * readElement): they are the inner loops and formulas, documented as taking validated values.
 */
import fc from 'fast-check';
import { describe, expect, it, onTestFinished } from 'vitest';
import { describeValue } from '../src/errors.js';
import { assertNoForbiddenKeys } from '../src/guard.js';
import {
  DDIM_DEFAULTS,
  DDIMInverseScheduler,
  DDIMScheduler,
  DdimError,
  ddimInverseTimesteps,
  ddimTimesteps,
  Generator,
  leadingTimesteps,
  linspaceTimesteps,
  loadSchedulerConfig,
  manualSeed,
  quadraticTimesteps,
  randnTensor,
  resolveDDIMConfig,
  tensor,
  toDiffusersJsonString,
  toFloat64,
  trailingTimesteps,
} from '../src/index.js';
import { registerConfigSource } from '../src/loading/hub.js';
import { parseSeed } from '../src/noise/generator.js';
import { randnInto } from '../src/noise/randn.js';
import { configToJSON } from '../src/scheduler/config.js';
import { checkTrainTimestep } from '../src/scheduler/forward.js';
import { resolveSchedulerOptions } from '../src/scheduler/options.js';
import { checkCustomTimesteps, checkInferenceSteps } from '../src/scheduler/timesteps.js';
import { checkSameDims, checkTensor, emptyLike, sizeOf } from '../src/tensor/tensor.js';
import { runs, validConfig } from './helpers/arbitraries.js';
import { checkMessage, snapshot, throwingArray, throwingGetter, throwingProxy } from './helpers/hostile.js';
import { guardNetwork } from './helpers/hub-server.js';

/**
 * Not a timing test: a refused call takes microseconds, and this bound (far above any honest run
 * on a loaded 2-core CI machine) only turns a hang or an exponential walk into a failure.
 */
const TIME_BOUND_MS = 10_000;

/**
 * Run `call`; it may succeed or throw a DdimError, nothing else, within the time bound. Returns
 * the error (or undefined). `what` labels the failure.
 */
function attempt(what: string, call: () => unknown): DdimError | undefined {
  const start = performance.now();
  let error: unknown;
  try {
    call();
  } catch (e) {
    error = e;
  }
  const elapsed = performance.now() - start;
  if (elapsed > TIME_BOUND_MS) throw new Error(`${what} took ${elapsed.toFixed(0)} ms`);
  if (error === undefined) return undefined;
  if (!(error instanceof DdimError)) {
    throw new Error(`${what} threw an untyped ${describeError(error)}`);
  }
  checkMessage(error);
  return error;
}

async function attemptAsync(what: string, call: () => Promise<unknown>): Promise<DdimError | undefined> {
  const start = performance.now();
  let error: unknown;
  try {
    await call();
  } catch (e) {
    error = e;
  }
  const elapsed = performance.now() - start;
  if (elapsed > TIME_BOUND_MS + 2000) throw new Error(`${what} took ${elapsed.toFixed(0)} ms`);
  if (error === undefined) return undefined;
  if (!(error instanceof DdimError)) throw new Error(`${what} threw an untyped ${describeError(error)}`);
  checkMessage(error);
  return error;
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.constructor.name}: ${error.message}` : describeValue(error);
}

// ---------------------------------------------------------------------------------------------
// Junk

/**
 * Objects that throw when read (a Proxy, an array Proxy, a getter) cannot be generated as such:
 * fast-check itself reads generated values (to clone and print them). The arbitraries produce
 * this marker instead, and `realize` swaps in the real thing inside each property.
 */
class Hostile {
  constructor(readonly kind: 'proxy' | 'array' | 'getter' | 'proxied-data') {}
  toString(): string {
    return `<hostile ${this.kind}>`;
  }
}

const hostileObject = fc.constantFrom('proxy', 'array', 'getter').map((kind) => new Hostile(kind));

/** A property predicate whose arguments have their Hostile markers realized first. */
function realized<A extends unknown[], R>(predicate: (...args: A) => R): (...args: A) => R {
  return (...args: A) => predicate(...(args.map((a) => realize(a)) as A));
}

/** Replace Hostile markers (at any depth of plain arrays and objects) by the objects they stand for. */
function realize(value: unknown, depth = 0): unknown {
  if (value instanceof Hostile) {
    switch (value.kind) {
      case 'proxy':
        return throwingProxy();
      case 'array':
        return throwingArray(3);
      case 'getter':
        return throwingGetter({ a: 1 }, 'b');
      default:
        return new Proxy(new Float32Array(6), {});
    }
  }
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value) && Object.getPrototypeOf(value) === Array.prototype) {
    // Long (or sparse 10^9-length) arrays are passed as they are: markers only sit in short ones.
    return value.length > 100 ? value : value.map((v) => realize(v, depth + 1));
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    Object.defineProperty(out, key, {
      value: realize((value as Record<string, unknown>)[key], depth + 1),
      enumerable: true,
      configurable: true,
      writable: true,
    });
  }
  return out;
}

/** Numbers that break naive checks. */
const badNumber = fc.oneof(
  fc.constantFrom(
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    -1,
    -0,
    0,
    0.5,
    1.5,
    1e9,
    1e308,
    2 ** 31,
    2 ** 53,
    -(2 ** 53),
    Number.MIN_VALUE,
  ),
  fc.double(),
  fc.integer({ min: -5, max: 5 }),
);

/** Anything a caller could pass by mistake. */
const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({
    maxDepth: 3,
    maxKeys: 5,
    withBigInt: true,
    withBoxedValues: true,
    withDate: true,
    withMap: true,
    withSet: true,
    withNullPrototype: true,
    withObjectString: true,
    withSparseArray: true,
    withTypedArray: true,
  }),
  badNumber,
  fc.constantFrom('1000', '', 'linear', 'float32', true, false, null, undefined, [], {}, [1, 2], [0.5]),
  fc.bigInt(),
  fc.constant(Symbol('junk')),
  fc.func(fc.anything()),
  hostileObject,
);

/** Typed and untyped data for a tensor. */
const dataArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.float32Array({ maxLength: 8 }),
  fc.float64Array({ maxLength: 8 }),
  fc.array(fc.integer({ min: 0, max: 65535 }), { maxLength: 8 }).map((a) => Uint16Array.from(a)),
  fc
    .constantFrom('int8', 'bigint', 'dataview', 'plain', 'proxy')
    .map((kind) =>
      kind === 'int8'
        ? new Int8Array(6)
        : kind === 'bigint'
          ? new BigInt64Array(6)
          : kind === 'dataview'
            ? new DataView(new ArrayBuffer(24))
            : kind === 'plain'
              ? [1, 2, 3, 4, 5, 6]
              : new Proxy(new Float32Array(6), {}),
    ),
  junk,
);

const dimsArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 4 }),
  fc.array(fc.oneof(badNumber, fc.constantFrom('2', 2n, null)), { maxLength: 4 }),
  fc.constantFrom([1e9, 1e9], [2 ** 31], [2 ** 53, 0]),
  fc.constant('rank').map(() => new Array(50_000).fill(1)),
  junk,
);

const typeArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom('float32', 'float64', 'float16', 'int8', 'FLOAT32', ''),
  junk,
);

/** Tensor-like junk: mostly { data, dims, type } with bad parts, sometimes anything at all. */
const tensorArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ data: dataArb, dims: dimsArb, type: typeArb }) },
  { weight: 1, arbitrary: junk },
);

/** A timestep: right or wrong. */
const timestepArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: -5, max: 1005 }),
  badNumber,
  fc.bigInt({ min: -5n, max: 2n ** 70n }),
  junk,
);

// ---------------------------------------------------------------------------------------------

describe('fuzz: configs', () => {
  const FIELDS = Object.keys(DDIM_DEFAULTS);
  const keyArb = fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...FIELDS) },
    {
      weight: 1,
      arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', '_class_name', 'unknown_key'),
    },
  );

  it('a valid config with 1-3 fields replaced by junk: built, or refused with a ConfigError / ArgumentError', () => {
    fc.assert(
      fc.property(
        validConfig,
        fc.array(fc.tuple(keyArb, junk), { minLength: 1, maxLength: 3 }),
        realized((base, edits) => {
          const config: Record<string, unknown> = { ...base };
          // defineProperty, so "__proto__" becomes an own key as JSON.parse makes it.
          for (const [key, value] of edits) {
            Object.defineProperty(config, key, {
              value,
              enumerable: true,
              configurable: true,
              writable: true,
            });
          }
          for (const [label, build] of [
            ['new DDIMScheduler', () => new DDIMScheduler(config as never, { onWarning: () => {} })],
            [
              'DDIMScheduler.fromConfig',
              () => DDIMScheduler.fromConfig(config, undefined, { onWarning: () => {} }),
            ],
            [
              'fromConfig overrides',
              () => DDIMScheduler.fromConfig({}, config as never, { onWarning: () => {} }),
            ],
            [
              'DDIMInverseScheduler.fromConfig',
              () => DDIMInverseScheduler.fromConfig(config, undefined, { onWarning: () => {} }),
            ],
          ] as const) {
            const error = attempt(label, build);
            if (error !== undefined) expect(['ConfigError', 'ArgumentError']).toContain(error.name);
          }
        }),
      ),
      runs(300),
    );
  });

  it('configs that are not objects at all, or unreadable, or nested junk', () => {
    fc.assert(
      fc.property(
        junk,
        realized((config) => {
          const error = attempt('fromConfig(junk)', () =>
            DDIMScheduler.fromConfig(config, undefined, { onWarning: () => {} }),
          );
          if (error !== undefined) expect(error.name).toBe('ConfigError');
          attempt('resolveDDIMConfig(junk, junk)', () =>
            resolveDDIMConfig({}, config, { onWarning: () => {} }),
          );
          attempt('assertNoForbiddenKeys(junk)', () => assertNoForbiddenKeys(config));
          attempt('configToJSON(junk)', () => configToJSON('DDIMScheduler', config as never));
        }),
      ),
      runs(300),
    );
  });

  it('JSON text with prototype keys at a random depth is always refused', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('__proto__', 'constructor', 'prototype'),
        fc.integer({ min: 0, max: 5 }),
        fc.jsonValue({ maxDepth: 2 }),
        realized((key, depth, payload) => {
          let text = `{${JSON.stringify(key)}: ${JSON.stringify(payload ?? null)}}`;
          for (let i = 0; i < depth; i++) text = `{"k${i}": ${i % 2 === 0 ? `[${text}]` : text}}`;
          const error = attempt('fromConfig(JSON with a prototype key)', () =>
            DDIMScheduler.fromConfig(JSON.parse(text), undefined, { onWarning: () => {} }),
          );
          expect(error?.name).toBe('ConfigError');
        }),
      ),
      runs(100),
    );
  });

  it('scheduler options of any shape: accepted only when valid, else an ArgumentError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          junk,
          fc.record(
            { previousTimestepRule: junk, clampZeroTerminalSnr: junk, onWarning: junk, extra: junk },
            { requiredKeys: [] },
          ),
        ),
        realized((options) => {
          const error = attempt('new DDIMScheduler({}, junk)', () => new DDIMScheduler({}, options as never));
          if (error !== undefined) expect(error.name).toBe('ArgumentError');
          attempt('resolveSchedulerOptions(junk)', () => resolveSchedulerOptions(options));
        }),
      ),
      runs(200),
    );
  });
});

describe('fuzz: steps, timesteps and the forward process', () => {
  const schedulers = () => [
    new DDIMScheduler({ clip_sample: false }).setTimesteps(10),
    new DDIMScheduler(
      { thresholding: true, prediction_type: 'v_prediction' },
      { previousTimestepRule: 'schedule' },
    ).setTimesteps({ timesteps: [999, 500, 20] }),
    new DDIMInverseScheduler({ timestep_spacing: 'trailing' }).setTimesteps(7),
  ];

  const stepOptionsArb: fc.Arbitrary<unknown> = fc.oneof(
    junk,
    fc.record(
      {
        eta: fc.oneof(fc.double({ min: 0, max: 2, noNaN: true }), badNumber, junk),
        useClippedModelOutput: fc.oneof(fc.boolean(), junk),
        generator: fc.oneof(
          fc.constant('generator'),
          fc.constant('generators'),
          fc.array(junk, { maxLength: 3 }),
          junk,
        ),
        varianceNoise: tensorArb,
        out: fc.oneof(
          fc.record({ prevSample: tensorArb, predOriginalSample: tensorArb }, { requiredKeys: [] }),
          fc.constant('alias-sample'),
          fc.constant('alias-each-other'),
          junk,
        ),
        allowNonFinite: fc.oneof(fc.boolean(), junk),
        etta: junk,
      },
      { requiredKeys: [] },
    ),
  );

  it('step with junk tensors, timesteps and options: typed errors only, scheduler and generators unchanged', () => {
    const list = schedulers();
    const validSample = { data: Float32Array.of(0.5, -1, 2, 0.1, 0.2, -0.3), dims: [2, 3] };
    fc.assert(
      fc.property(
        fc.nat({ max: list.length - 1 }),
        fc.oneof(tensorArb, fc.constant(validSample)),
        timestepArb,
        fc.oneof(tensorArb, fc.constant(validSample)),
        stepOptionsArb,
        realized((which, model, t, sample, rawOptions) => {
          const s = list[which];
          const generators = [new Generator().manualSeed(1), new Generator().manualSeed(2)];
          const options = materialize(rawOptions, generators, sample);
          const before = snapshot(s);
          const states = generators.map((g) => JSON.stringify(g.getState()));
          const error = attempt('step', () =>
            s.step(model as never, t as never, sample as never, options as never),
          );
          if (error !== undefined) {
            expect(snapshot(s)).toEqual(before);
            expect(generators.map((g) => JSON.stringify(g.getState()))).toEqual(states);
          }
        }),
      ),
      runs(400),
    );
  });

  it('well-shaped tensors holding any float32 / float16 values (NaN, Inf, huge): finite results or a NumericError, never silent NaN', () => {
    const list = schedulers();
    const float32s = fc.float32Array({ minLength: 6, maxLength: 6 });
    const halfBits = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 6, maxLength: 6 });
    fc.assert(
      fc.property(
        fc.nat({ max: list.length - 1 }),
        fc.oneof(float32s, halfBits),
        fc.oneof(float32s, halfBits),
        float32s,
        fc.record({ pick: fc.nat(), eta: fc.double({ min: 0, max: 1, noNaN: true }), draw: fc.boolean() }),
        realized((which, m, x, z, o) => {
          const s = list[which];
          const asTensor = (v: Float32Array | number[]) =>
            v instanceof Float32Array
              ? { data: v, dims: [2, 3] }
              : { data: Uint16Array.from(v), dims: [2, 3], type: 'float16' };
          const t = s.timesteps[o.pick % s.timesteps.length];
          const g = new Generator().manualSeed(o.pick);
          const state = JSON.stringify(g.getState());
          const before = snapshot(s);
          const options =
            s instanceof DDIMScheduler
              ? { eta: o.eta, ...(o.draw ? { generator: g } : { varianceNoise: { data: z, dims: [2, 3] } }) }
              : {};
          let out: { prevSample: { data: ArrayLike<number>; type: string } } | undefined;
          const error = attempt('step', () => {
            out = s.step(asTensor(m), t, asTensor(x), options);
          });
          if (error !== undefined) {
            expect(error.name).toBe('NumericError');
            expect(snapshot(s)).toEqual(before);
            expect(JSON.stringify(g.getState())).toBe(state);
            return;
          }
          // Accepted: every stored result is finite (float16: no exponent-31 bit pattern).
          const prev = out!.prevSample;
          for (let i = 0; i < prev.data.length; i++) {
            if (prev.type === 'float16') expect(prev.data[i] & 0x7c00).not.toBe(0x7c00);
            else expect(Number.isFinite(prev.data[i])).toBe(true);
          }
        }),
      ),
      runs(400),
    );
  });

  it('setTimesteps with junk: typed errors only, and a failed call changes nothing', () => {
    const list = schedulers();
    fc.assert(
      fc.property(
        fc.nat({ max: list.length - 1 }),
        fc.oneof(
          badNumber,
          fc.integer({ min: -3, max: 1003 }),
          junk,
          fc.record({ timesteps: fc.oneof(fc.array(timestepArb, { maxLength: 6 }), junk) }),
          fc.record({
            timesteps: fc.array(fc.integer({ min: -2, max: 1001 }), { maxLength: 8 }),
            more: junk,
          }),
          fc.constant({ timesteps: new Array(1e9) }),
        ),
        realized((which, choice) => {
          const s = list[which];
          const before = snapshot(s);
          const error = attempt('setTimesteps', () => s.setTimesteps(choice as never));
          if (error !== undefined) expect(snapshot(s)).toEqual(before);
          // Put it back for the next run.
          list[which] = schedulers()[which];
        }),
      ),
      runs(300),
    );
  });

  it('per-timestep methods, scaleModelInput, addNoise and getVelocity with junk', () => {
    const list = schedulers();
    fc.assert(
      fc.property(
        fc.nat({ max: list.length - 1 }),
        timestepArb,
        timestepArb,
        tensorArb,
        tensorArb,
        fc.oneof(timestepArb, fc.array(timestepArb, { maxLength: 4 }), fc.constant(new Hostile('array'))),
        fc.oneof(fc.constant(undefined), fc.record({ allowNonFinite: junk }, { requiredKeys: [] }), junk),
        realized((which, t, prev, a, b, ts, options) => {
          const s = list[which];
          const before = snapshot(s);
          attempt('previousTimestep', () => s.previousTimestep(t as never));
          attempt('alphaBarAt', () => s.alphaBarAt(t as never));
          if (s instanceof DDIMScheduler)
            attempt('getVariance', () => s.getVariance(t as never, prev as never));
          attempt('scaleModelInput', () => s.scaleModelInput(a as never, t as never));
          attempt('addNoise', () => s.addNoise(a as never, b as never, ts as never, options as never));
          attempt('getVelocity', () => s.getVelocity(a as never, b as never, ts as never, options as never));
          expect(snapshot(s)).toEqual(before);
        }),
      ),
      runs(300),
    );
  });
});

/**
 * Turn the symbolic parts of a generated options object into real ones: generators (so their
 * states can be compared) and out buffers aliasing the sample.
 */
function materialize(raw: unknown, generators: Generator[], sample: unknown): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  let o: Record<string, unknown>;
  try {
    o = { ...(raw as Record<string, unknown>) };
  } catch {
    return raw;
  }
  if (o.generator === 'generator') o.generator = generators[0];
  else if (o.generator === 'generators') o.generator = generators;
  if (o.out === 'alias-sample') o.out = { prevSample: sample };
  else if (o.out === 'alias-each-other') {
    const buffer = { data: new Float32Array(6), dims: [2, 3] };
    o.out = { prevSample: buffer, predOriginalSample: buffer };
  }
  return o;
}

describe('fuzz: tensors, noise, timestep helpers, JSON and loading', () => {
  it('tensor helpers', () => {
    fc.assert(
      fc.property(
        dataArb,
        dimsArb,
        typeArb,
        tensorArb,
        tensorArb,
        realized((data, dims, type, a, b) => {
          attempt('tensor', () => tensor(data as never, dims as never, type as never));
          attempt('checkTensor', () => checkTensor(a as never, 'a'));
          attempt('sizeOf', () => sizeOf(dims as never));
          attempt('toFloat64', () => toFloat64(a as never));
          attempt('emptyLike', () => emptyLike(a as never, type as never));
          attempt('checkSameDims', () => checkSameDims(a as never, 'a', b as never, 'b'));
        }),
      ),
      runs(300),
    );
  });

  it('seeds, generator states, randnTensor and randnInto', () => {
    fc.assert(
      fc.property(
        junk,
        dimsArb,
        fc.oneof(fc.record({ generator: junk }, { requiredKeys: [] }), junk),
        fc.oneof(
          junk,
          fc.record({
            field: fc.constantFrom('version', 'engine', 'seed', 'mt', 'index', 'nextNormal'),
            value: junk,
          }),
        ),
        realized((seed, dims, options, stateEdit) => {
          // Each generator call either succeeds or throws and leaves the generator as it was.
          const unchangedIfRefused = (what: string, call: (g: Generator) => unknown) => {
            const g = new Generator().manualSeed(5);
            const state = JSON.stringify(g.getState());
            if (attempt(what, () => call(g)) !== undefined) expect(JSON.stringify(g.getState())).toBe(state);
          };
          let corrupted = stateEdit;
          try {
            if (stateEdit !== null && typeof stateEdit === 'object' && 'field' in (stateEdit as object)) {
              const { field, value } = stateEdit as { field: string; value: unknown };
              corrupted = { ...new Generator().getState(), [field]: value };
            }
          } catch {
            // A hostile object: passed as it is.
          }
          unchangedIfRefused('manualSeed', (g) => g.manualSeed(seed as never));
          unchangedIfRefused('setState', (g) => g.setState(corrupted as never));
          unchangedIfRefused('randnInto', (g) => randnInto(new Float32Array(6), dims as never, g));
          unchangedIfRefused('randnInto(list)', (g) => randnInto(new Float32Array(6), dims as never, [g, g]));
          unchangedIfRefused('fillRandn', (g) => g.fillRandn(seed as never, 0, 4));
          attempt('parseSeed', () => parseSeed(seed as never));
          attempt('randnTensor', () => randnTensor(dims as never, options as never));
        }),
      ),
      runs(200),
    );
    // manualSeed with junk never creates or changes the default generator when it throws.
    const before = JSON.stringify(manualSeed(11).getState());
    attempt('manualSeed(junk)', () => manualSeed('not a seed' as never));
    expect(JSON.stringify(manualSeed(11).getState())).toBe(before);
  });

  it('timestep helpers', () => {
    fc.assert(
      fc.property(
        junk,
        junk,
        junk,
        junk,
        badNumber,
        realized((a, b, c, d, n) => {
          attempt('ddimTimesteps', () => ddimTimesteps(a as never, b as never, c as never, d as never));
          attempt('ddimTimesteps(T, n)', () => ddimTimesteps(1000, n, 'leading', 0));
          attempt('ddimInverseTimesteps', () => ddimInverseTimesteps(1000, n, c as never, 0));
          attempt('leadingTimesteps', () => leadingTimesteps(a as never, b as never, d as never));
          attempt('trailingTimesteps', () => trailingTimesteps(n, b as never));
          attempt('linspaceTimesteps', () => linspaceTimesteps(1000, n));
          attempt('quadraticTimesteps', () => quadraticTimesteps(n, b as never));
          attempt('checkCustomTimesteps', () => checkCustomTimesteps(a, n, c as never));
          attempt('checkInferenceSteps', () => checkInferenceSteps(a, n));
          attempt('checkTrainTimestep', () => checkTrainTimestep(a, n));
        }),
      ),
      runs(300),
    );
  });

  it('toDiffusersJsonString and describeValue', () => {
    fc.assert(
      fc.property(
        junk,
        junk,
        realized((config, options) => {
          attempt('toDiffusersJsonString', () => toDiffusersJsonString(config as never, options as never));
          attempt('toDiffusersJsonString(toJSON)', () =>
            toDiffusersJsonString(new DDIMScheduler().toJSON(), options as never),
          );
          expect(typeof describeValue(config)).toBe('string');
        }),
      ),
      runs(200),
    );
  });

  it('loading with junk options, a fetch that returns junk, and junk sources', async () => {
    // Junk options may be nothing at all, leaving the default fetch and endpoint: no run may
    // reach the internet (the guard fails such a fetch, which must surface as a LoadError).
    const restoreFetch = guardNetwork();
    onTestFinished(restoreFetch);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constantFrom('org/name', 'https://example.org/x', ''), junk),
        fc.oneof(
          junk,
          fc.record(
            {
              subfolder: fc.oneof(fc.constantFrom('scheduler', '../x'), junk),
              revision: junk,
              timeoutMs: fc.oneof(fc.integer({ min: 1, max: 200 }), badNumber),
              maxBytes: badNumber,
              token: junk,
              fetch: fc.constant('junk-fetch'),
              extra: junk,
            },
            { requiredKeys: [] },
          ),
        ),
        junk,
        realized(async (source, rawOptions, answer) => {
          // The fetch resolves to whatever junk was drawn, or a Response holding it as text.
          let options = rawOptions;
          try {
            if (rawOptions !== null && typeof rawOptions === 'object' && !Array.isArray(rawOptions)) {
              options = {
                ...(rawOptions as Record<string, unknown>),
                fetch: async () => (typeof answer === 'string' ? new Response(answer) : answer),
              };
            }
          } catch {
            // A hostile object: passed as it is.
          }
          await attemptAsync('loadSchedulerConfig', () =>
            loadSchedulerConfig(source as never, options as never),
          );
          await attemptAsync('fromPretrained', () =>
            DDIMScheduler.fromPretrained(source as never, options as never),
          );
          let unregister: (() => void) | undefined;
          attempt('registerConfigSource', () => {
            unregister = registerConfigSource(answer as never);
          });
          unregister?.();
        }),
      ),
      runs(100),
    );
  });
});
