/**
 * Reading objects the caller hands us, without letting their failures escape untyped.
 *
 * A config, an options object or a tensor may be a Proxy or carry getters (onnxruntime and
 * transformers.js tensors do), and reading one can throw anything. The library promises that
 * only its own typed errors escape, so every such read happens inside `guarded`, which turns a
 * foreign exception into the typed error the caller asks for (the original kept as `cause`).
 * Errors the library itself threw inside pass through unchanged.
 *
 * Also the one home of the checks every entry point shares: options objects (read once, unknown
 * keys refused), numbers, and plain data (configs and JSON files: plain objects, no
 * prototype-polluting keys). Internal: not exported from the package entry.
 */
import { ArgumentError, ConfigError, DdimError, type LoadError } from './errors.js';

/** Run `read`; a non-library exception becomes `wrap(exception)`. */
export function guarded<T>(read: () => T, wrap: (cause: unknown) => DdimError): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof DdimError) throw error;
    throw wrap(error);
  }
}

/** The usual wrapping: "<field> could not be read" with the original error as cause. */
export function unreadable<E extends DdimError>(
  ErrorClass: new (details: ConstructorParameters<typeof DdimError>[0]) => E,
  field: string,
  fix: string,
): (cause: unknown) => E {
  return (cause) =>
    new ErrorClass({
      field,
      problem: `could not be read: accessing it threw (${causeText(cause)})`,
      fix,
      cause,
    });
}

function causeText(cause: unknown): string {
  try {
    const text = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return 'an exception that cannot be printed';
  }
}

// ---------------------------------------------------------------------------------------------
// Options objects

/** What `readOptions` needs to know about one kind of options object. */
export interface OptionsSpec {
  /** The keys it may hold. */
  allowed: ReadonlySet<string>;
  /** How errors name it: "options", "options.out". */
  field: string;
  /** An example for the fix of a non-object: "{ eta: 0 }". */
  example: string;
  /** What an allowed key is, for the unknown-key error: "is not <an option of sample>". Default "a known option". */
  kind?: string;
  /** Extra advice for an unknown key (e.g. where that option does exist). */
  hint?: (key: string) => string | undefined;
  /** Refuse null / undefined instead of reading them as "no options". */
  required?: boolean;
}

/**
 * The one reader of options objects. `options` must be nothing (undefined or null: returns null
 * unless `spec.required`) or an object whose own enumerable keys are all in `spec.allowed`: an
 * unknown key is an ArgumentError, so a misspelt option (`etta`) is never silently ignored. Each
 * key is read once, into `into` (a fresh null-prototype object when not given), which is returned:
 * the caller never reads its object again, so a Proxy or getter that throws is an ArgumentError
 * here and not an engine error in the middle of a run.
 *
 * Allocates nothing when given `into` (a step's options, on every step): every key `into` already
 * has is reset to undefined, then for-in over an ordinary object uses V8's enum cache, and the
 * try/catch is inline rather than a closure.
 */
export function readOptions(
  options: unknown,
  spec: OptionsSpec,
  into?: Record<string, unknown>,
): Record<string, unknown> | null {
  if (options === undefined || options === null) {
    if (spec.required !== true) return null;
  }
  if (
    options === null ||
    typeof options !== 'object' ||
    Array.isArray(options) ||
    ArrayBuffer.isView(options)
  ) {
    throw new ArgumentError({
      field: spec.field,
      value: options,
      problem: 'must be an options object',
      fix: `pass e.g. ${spec.example}${spec.required === true ? '' : ', or nothing'}.`,
    });
  }
  const copy = into ?? (Object.create(null) as Record<string, unknown>);
  // A reused copy starts empty of what an earlier call left (another spec's keys too).
  if (into !== undefined) for (const key in copy) copy[key] = undefined;
  let unknown: string | undefined;
  let unknownValue: unknown;
  try {
    for (const key in options) {
      if (!Object.hasOwn(options, key)) continue;
      const value = (options as Record<string, unknown>)[key];
      if (!spec.allowed.has(key)) {
        unknown = key;
        unknownValue = value;
        break;
      }
      copy[key] = value;
    }
  } catch (error) {
    throw unreadable(ArgumentError, spec.field, 'pass a plain options object.')(error);
  }
  if (unknown !== undefined) {
    const hint = spec.hint?.(unknown);
    throw new ArgumentError({
      field: `${spec.field}.${unknown}`,
      value: unknownValue,
      problem: `is not ${spec.kind ?? 'a known option'}`,
      fix: `remove it or fix its spelling; ${hint ?? `use only ${[...spec.allowed].join(', ')}.`}`,
    });
  }
  return copy;
}

// ---------------------------------------------------------------------------------------------
// Numbers

/** The range a number argument must lie in. */
export interface NumberRule {
  /** Inclusive lower bound. */
  min?: number;
  /** Inclusive upper bound. */
  max?: number;
  /** Whole numbers only. */
  integer?: boolean;
}

/**
 * The one check of number arguments: a finite number (an integer when `rule.integer`) within
 * [rule.min, rule.max], else an ArgumentError naming `field`, saying the rule, with `fix`.
 */
export function checkNumber(value: unknown, field: string, rule: NumberRule, fix: string): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (rule.integer !== true || Number.isInteger(value)) &&
    (rule.min === undefined || value >= rule.min) &&
    (rule.max === undefined || value <= rule.max);
  if (!ok) throw new ArgumentError({ field, value, problem: numberProblem(rule), fix });
  return value as number;
}

function numberProblem(rule: NumberRule): string {
  const kind = rule.integer === true ? 'an integer' : 'a finite number';
  if (rule.min !== undefined && rule.max !== undefined)
    return `must be ${kind} in [${rule.min}, ${rule.max}]`;
  if (rule.min !== undefined) return `must be ${kind} >= ${rule.min}`;
  if (rule.max !== undefined) return `must be ${kind} <= ${rule.max}`;
  return `must be ${kind}`;
}

/** A boolean flag option: undefined / null is false. */
export function checkFlag(value: unknown, field: string): boolean {
  if (value !== undefined && value !== null && typeof value !== 'boolean') {
    throw new ArgumentError({ field, value, problem: 'must be a boolean', fix: 'pass true or false.' });
  }
  return value === true;
}

/**
 * A callback option: undefined stays undefined (the option's default applies); anything but a
 * function is an ArgumentError naming `field`.
 */
export function checkOptionalFunction<F>(value: unknown, field: string, fix: string): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function')
    throw new ArgumentError({ field, value, problem: 'must be a function', fix });
  return value as F;
}

/**
 * An `AbortSignal` option (or undefined): anything with a boolean `aborted` passes, so signals of
 * other realms and polyfills do; reading it is guarded, since a look-alike may throw.
 */
export function checkSignal(signal: unknown, field = 'options.signal'): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  const looksRight = guarded(
    () =>
      signal !== null && typeof signal === 'object' && typeof (signal as AbortSignal).aborted === 'boolean',
    unreadable(ArgumentError, field, 'pass controller.signal from an AbortController.'),
  );
  if (!looksRight) {
    throw new ArgumentError({
      field,
      value: signal,
      problem: 'must be an AbortSignal',
      fix: 'pass controller.signal from an AbortController.',
    });
  }
  return signal as AbortSignal;
}

// ---------------------------------------------------------------------------------------------
// Plain data: configs and JSON files

/** Keys that must never be read from an untrusted object (prototype pollution). */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** An object literal or JSON object: prototype Object.prototype or null (no arrays, typed arrays, class instances). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || ArrayBuffer.isView(value)) {
    return false;
  }
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/**
 * Arrays up to this length are walked index by index: a plain loop, no key strings, so a
 * trained_betas of MAX_TRAIN_TIMESTEPS numbers costs a few milliseconds. Longer arrays are walked
 * through Object.keys, which lists only the entries that exist: a sparse `new Array(1e9)` costs
 * what the caller really stored, not 10^9 reads of holes, and a dense array of 10^7 objects is
 * still walked (its cost is linear in what the caller allocated). Refusing long arrays instead
 * would refuse configs diffusers reads (it ignores keys it does not use, however long).
 */
const INDEX_WALK_LIMIT = 1_000_000; // the longest trained_betas a config may hold (MAX_TRAIN_TIMESTEPS)

/** The most path segments an error names in full; deeper paths keep their first and last ones. */
const PATH_SEGMENTS_SHOWN = 16;

/** An object waiting to be walked, and how it was reached (to name its path in an error). */
interface WalkNode {
  value: object;
  parent: WalkNode | null;
  key: string | number;
  depth: number;
}

/** Where the data came from, which error class speaks for it, and an optional nesting bound. */
export interface PlainDataSource {
  /** ConfigError for configs and options passed in; LoadError for files read from disk or the network. */
  error: typeof ConfigError | typeof LoadError;
  /** Named in the problem: "in https://.../scheduler_config.json". */
  where?: string;
  /** Nesting deeper than this is refused (files: a scheduler config is flat). */
  maxDepth?: number;
}

const CONFIG_SOURCE: PlainDataSource = { error: ConfigError };

/**
 * Throw if `value` holds, at any depth, an own enumerable key `__proto__`, `constructor` or
 * `prototype`: merged into an object by a deep merge, such a key could pollute a prototype.
 *
 * The walk is iterative (no depth limit, no stack overflow) and visits each object once (a
 * WeakSet of the objects seen), so a cycle ends and a DAG of shared objects costs its number of
 * objects, not its number of paths (2^40 for 40 nested `[o, o]`). Arrays are walked by index up
 * to INDEX_WALK_LIMIT entries and through Object.keys beyond; the own named properties of an
 * array or typed array (which JSON cannot express and the library never reads: trained_betas is
 * copied index by index) are checked for the three names too, though not walked into.
 * Elements of typed arrays are numbers and are not read. Functions are not walked (their own
 * enumerable keys are never read by the library either).
 */
export function assertNoForbiddenKeys(
  value: unknown,
  path = 'config',
  source: PlainDataSource = CONFIG_SOURCE,
): void {
  if (value === null || typeof value !== 'object') return;
  const seen = new WeakSet<object>([value]);
  const stack: WalkNode[] = [{ value, parent: null, key: '', depth: 0 }];
  const maxDepth = source.maxDepth ?? Number.POSITIVE_INFINITY;
  // Where the walk is, so that a read that throws (a Proxy trap, a getter) names its path.
  let at: WalkNode | null = null;
  let key: string | number | undefined;
  const visit = (child: unknown, parent: WalkNode, childKey: string | number): void => {
    if (child !== null && typeof child === 'object' && !seen.has(child)) {
      seen.add(child);
      stack.push({ value: child, parent, key: childKey, depth: parent.depth + 1 });
    }
  };
  try {
    while (stack.length > 0) {
      const node = stack.pop()!;
      at = node;
      key = undefined;
      const object = node.value;
      if (node.depth > maxDepth) {
        throw new source.error({
          field: pathOf(node, undefined, path),
          value: object,
          problem: `nests deeper than ${maxDepth} levels${source.where === undefined ? '' : ` in ${source.where}`}`,
          fix: 'a scheduler config is flat; check the file.',
        });
      }
      const isArray = Array.isArray(object);
      if (isArray || ArrayBuffer.isView(object)) {
        for (const name of FORBIDDEN_KEYS) {
          key = name;
          if (Object.prototype.propertyIsEnumerable.call(object, name))
            forbiddenKey(object, name, node, path, source);
        }
        key = undefined;
        if (!isArray) continue;
        const array = object as unknown[];
        const length = array.length;
        if (length <= INDEX_WALK_LIMIT) {
          for (let i = 0; i < length; i++) {
            key = i;
            visit(array[i], node, i);
          }
          continue;
        }
      }
      const keys = Object.keys(object);
      for (const name of keys) {
        key = isArray && /^(0|[1-9]\d*)$/.test(name) ? Number(name) : name;
        if (FORBIDDEN_KEYS.has(name)) forbiddenKey(object, name, node, path, source);
        visit((object as Record<string, unknown>)[name], node, key);
      }
    }
  } catch (error) {
    if (error instanceof DdimError) throw error;
    throw unreadable(
      source.error,
      pathOf(at, key, path),
      'pass plain data, e.g. JSON.parse of scheduler_config.json.',
    )(error);
  }
}

function forbiddenKey(
  object: object,
  name: string,
  node: WalkNode,
  root: string,
  source: PlainDataSource,
): never {
  // The value under the key, read from its descriptor: `object.__proto__` would be the prototype.
  const descriptor = Object.getOwnPropertyDescriptor(object, name);
  const where = source.where === undefined ? '' : ` in ${source.where}`;
  throw new source.error({
    field: pathOf(node, name, root),
    ...(descriptor !== undefined && 'value' in descriptor ? { value: descriptor.value } : {}),
    problem: `is a forbidden key${where} (it could pollute object prototypes)`,
    fix: 'remove it: no diffusers config contains it, and data that does is corrupt or hostile.',
  });
}

/** `config.foo[0].bar`, for the node reached by the walk and an optional key below it. */
function pathOf(node: WalkNode | null, last: string | number | undefined, root: string): string {
  const segments: string[] = [];
  if (last !== undefined) segments.push(pathSegment(last));
  for (let n = node; n !== null && n.parent !== null; n = n.parent) segments.push(pathSegment(n.key));
  segments.reverse();
  if (segments.length > PATH_SEGMENTS_SHOWN) {
    const head = segments.slice(0, PATH_SEGMENTS_SHOWN / 2);
    const tail = segments.slice(segments.length - PATH_SEGMENTS_SHOWN / 2);
    const hidden = segments.length - PATH_SEGMENTS_SHOWN;
    return `${root}${head.join('')}...(${hidden} more levels)...${tail.join('')}`;
  }
  return root + segments.join('');
}

function pathSegment(key: string | number): string {
  if (typeof key === 'number') return `[${key}]`;
  return `.${key.length > 40 ? `${key.slice(0, 37)}...` : key}`;
}
