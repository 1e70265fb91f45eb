/**
 * The exact text diffusers' `save_config` writes for a scheduler (`ConfigMixin.to_json_string`):
 *
 *   json.dumps(config_dict, indent=2, sort_keys=True) + "\n"
 *
 * after setting `_class_name` and `_diffusers_version` and dropping `_ignore_files` and
 * `_use_default_values`. Python's `json.dumps` differs from `JSON.stringify` in ways that show in
 * the bytes, so this module reproduces it:
 *   - keys sorted by code point at every level;
 *   - `ensure_ascii=True`: every character outside printable ASCII (including DEL) is written as
 *     a lowercase `\uXXXX` escape, astral characters as a surrogate pair;
 *   - floats use Python's `repr`: `1.0` not `1`, `1e-05` not `0.00001`, `1e+16` not `10000000000000000`.
 *
 * JavaScript has one number type, so which numbers are floats comes from diffusers' `__init__`
 * annotations: the keys in FLOAT_KEYS are `float` there, and their defaults (`1.0`, `0.995`) are
 * what diffusers registers, so an integral value of one of them is written `1.0` as Python would.
 * Every other integral number is written as a Python int.
 */

import { ArgumentError } from '../errors.js';
import { guarded, unreadable } from '../guard.js';
import { MAX_TRAIN_TIMESTEPS } from '../scheduler/schedule.js';

/**
 * The `_diffusers_version` we write. diffusers writes its own `__version__` here and never reads
 * it back when loading a scheduler (it only lands in the config's hidden keys), so any PEP 440
 * version loads. We write the newest diffusers release at the time of writing (0.42.1 on PyPI),
 * whose `DDIMScheduler` / `DDIMInverseScheduler` take every key this library writes; the
 * reference vectors this library is tested against come from diffusers main of the same period.
 */
export const DIFFUSERS_VERSION = '0.42.1';

/** Config keys diffusers annotates as `float` (DDIM's, DDIMInverse's and CogVideoX-DDIM's `__init__`). */
const FLOAT_KEYS: ReadonlySet<string> = new Set([
  'beta_start',
  'beta_end',
  'dynamic_thresholding_ratio',
  'clip_sample_range',
  'sample_max_value',
  'snr_shift_scale',
  // a list of floats: each element is written as a float
  'trained_betas',
]);

/** Keys `to_json_string` removes before writing. */
const DROPPED_KEYS = ['_ignore_files', '_use_default_values'];

/** Options of {@link toDiffusersJsonString}. */
export interface DiffusersJsonOptions {
  /** The `_diffusers_version` to write. Default: DIFFUSERS_VERSION. */
  diffusersVersion?: string;
}

/**
 * Serialize a scheduler config (for example `scheduler.toJSON()`) to the exact text diffusers'
 * `save_config` writes to `scheduler_config.json`. `config` must carry `_class_name`.
 */
export function toDiffusersJsonString(
  config: Record<string, unknown>,
  options?: DiffusersJsonOptions,
): string {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new ArgumentError({
      field: 'options',
      value: options,
      problem: 'must be an object',
      fix: 'pass { diffusersVersion } or nothing.',
    });
  }
  const version = guarded(
    () => options?.diffusersVersion ?? DIFFUSERS_VERSION,
    unreadable(ArgumentError, 'options', 'pass a plain { diffusersVersion } object.'),
  );
  return guarded(
    () => toJsonStringUnguarded(config, version),
    unreadable(ArgumentError, 'config', 'pass plain data, e.g. scheduler.toJSON().'),
  );
}

/** Nesting deeper than this is not a config. */
const MAX_DEPTH = 64;

/**
 * The most a config may expand to, counting one per value written plus the characters of every
 * string and key: twice the longest trained_betas a scheduler takes (MAX_TRAIN_TIMESTEPS). JSON
 * has no references, so an object shared n times is written n times: 40 nested `[o, o]` are 41
 * objects but 2^40 values of text. The bound is checked while the config is read, before any
 * text is written, and keeps the text far below the engine's longest string even at depth 64.
 */
const MAX_JSON_SIZE = 2 * MAX_TRAIN_TIMESTEPS;

/**
 * The config read once into our own data: the caller's objects (getters, Proxies) are read
 * exactly once, cycles and excessive size are found before writing, and the writer then works on
 * data that cannot change or throw. A shared object becomes one shared node.
 */
type Node = null | boolean | number | string | ArrayNode | ObjectNode;
interface ArrayNode {
  kind: 'array';
  items: Node[];
  /** What this node expands to, in MAX_JSON_SIZE units. */
  size: number;
}
interface ObjectNode {
  kind: 'object';
  /** Sorted as Python's sort_keys does. */
  entries: [string, Node][];
  size: number;
}

interface ReadState {
  /** The objects being read (the ancestors of the current one): meeting one again is a cycle. */
  open: Set<object>;
  /** Objects already read: meeting one again is sharing, and costs its size without reading. */
  done: Map<object, ArrayNode | ObjectNode>;
  size: number;
}

function toJsonStringUnguarded(config: Record<string, unknown>, version: unknown): string {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ArgumentError({
      field: 'config',
      value: config,
      problem: 'must be a config object',
      fix: 'pass scheduler.toJSON() or an object of diffusers config keys.',
    });
  }
  if (typeof config._class_name !== 'string' || config._class_name.length === 0) {
    throw new ArgumentError({
      field: 'config._class_name',
      value: config._class_name,
      problem: 'must be the scheduler class name',
      fix: 'pass scheduler.toJSON(), which includes _class_name (e.g. "DDIMScheduler").',
    });
  }
  if (typeof version !== 'string' || !/^\d+(\.\d+)*([a-z0-9.+-]*)$/i.test(version)) {
    throw new ArgumentError({
      field: 'diffusersVersion',
      value: version,
      problem: 'must be a version string such as "0.42.1"',
      fix: 'omit it to write the default, or pass a PEP 440 version.',
    });
  }
  const state: ReadState = { open: new Set([config]), done: new Map(), size: 0 };
  const entries: [string, Node][] = [];
  for (const key of Object.keys(config)) {
    if (DROPPED_KEYS.includes(key) || key === '_diffusers_version') continue;
    const value = config[key];
    if (value !== undefined) {
      const path = childPath('config', key);
      grow(state, 1 + key.length, path, value);
      entries.push([key, readNode(value, path, 1, state)]);
    }
  }
  entries.push(['_diffusers_version', version]);
  entries.sort(([a], [b]) => compareCodePoints(a, b));
  return `${dumps({ kind: 'object', entries, size: state.size }, '', false)}\n`;
}

/** Count `units` more towards MAX_JSON_SIZE; past it, the config is refused. */
function grow(state: ReadState, units: number, path: string, value: unknown): void {
  state.size += units;
  if (state.size > MAX_JSON_SIZE) {
    throw new ArgumentError({
      field: path,
      value,
      problem: `makes the config expand to more than ${MAX_JSON_SIZE} values and characters (JSON has no references: an object used n times is written n times)`,
      fix: "pass plain JSON data of a config's size; a trained_betas of up to 10^6 numbers is fine.",
    });
  }
}

function readNode(value: unknown, path: string, depth: number, state: ReadState): Node {
  if (value === null || typeof value === 'boolean' || typeof value === 'number') return value;
  if (typeof value === 'string') {
    grow(state, value.length, path, value);
    return value;
  }
  if (typeof value === 'object') {
    const shared = state.done.get(value);
    if (shared !== undefined) {
      grow(state, shared.size, path, value);
      return shared;
    }
    if (state.open.has(value)) {
      throw new ArgumentError({
        field: path,
        value,
        problem: 'is one of the objects that contain it (a cycle), which JSON cannot write',
        fix: 'config values must be plain JSON data without cycles.',
      });
    }
    if (depth > MAX_DEPTH) {
      throw new ArgumentError({
        field: path,
        value,
        problem: `nests deeper than ${MAX_DEPTH} levels`,
        fix: 'config values must be plain JSON data; a scheduler config is flat.',
      });
    }
  }
  const start = state.size;
  let node: ArrayNode | ObjectNode | undefined;
  if (Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    // diffusers turns numpy arrays into lists (`to_json_saveable`); typed arrays are their analogue.
    const array = value as ArrayLike<unknown>;
    const length = array.length;
    // The length first: a sparse `new Array(1e9)` is refused before any element is read.
    grow(state, length, path, value);
    state.open.add(value);
    const items: Node[] = new Array(length);
    for (let i = 0; i < length; i++) {
      const item = array[i];
      // Numbers (a trained_betas) need no path unless they are something else.
      items[i] =
        typeof item === 'number' || typeof item === 'boolean' || item === null
          ? item
          : readNode(item, `${path}[${i}]`, depth + 1, state);
    }
    node = { kind: 'array', items, size: 0 };
  } else if (typeof value === 'object' && Object.prototype.toString.call(value) === '[object Object]') {
    // Plain objects only: Object.keys of a Map, Set or Date is empty, so it would be written as {}.
    state.open.add(value);
    const record = value as Record<string, unknown>;
    const entries: [string, Node][] = [];
    for (const key of Object.keys(record)) {
      const item = record[key];
      if (item === undefined) continue;
      const itemPath = childPath(path, key);
      grow(state, 1 + key.length, itemPath, item);
      entries.push([key, readNode(item, itemPath, depth + 1, state)]);
    }
    entries.sort(([a], [b]) => compareCodePoints(a, b));
    node = { kind: 'object', entries, size: 0 };
  } else {
    throw new ArgumentError({
      field: path,
      value,
      problem: 'cannot be written to JSON',
      fix: 'config values must be null, booleans, numbers, strings, arrays (or typed arrays) or plain objects.',
    });
  }
  state.open.delete(value as object);
  node.size = state.size - start;
  state.done.set(value as object, node);
  return node;
}

/** `path.key` for an error's field, with a hostile 10^6-character key cut short. */
function childPath(path: string, key: string): string {
  return `${path}.${key.length > 40 ? `${key.slice(0, 37)}...` : key}`;
}

function dumps(node: Node, indent: string, asFloat: boolean): string {
  if (node === null) return 'null';
  if (node === true) return 'true';
  if (node === false) return 'false';
  if (typeof node === 'number') return asFloat ? pythonFloatRepr(node) : pythonNumber(node);
  if (typeof node === 'string') return pythonString(node);
  const inner = `${indent}  `;
  if (node.kind === 'array') {
    if (node.items.length === 0) return '[]';
    const parts = node.items.map((item) => inner + dumps(item, inner, asFloat));
    return `[\n${parts.join(',\n')}\n${indent}]`;
  }
  if (node.entries.length === 0) return '{}';
  const parts = node.entries.map(
    ([k, item]) => `${inner}${pythonString(k)}: ${dumps(item, inner, FLOAT_KEYS.has(k))}`,
  );
  return `{\n${parts.join(',\n')}\n${indent}}`;
}

/** Python's `sort_keys` orders str by code point; JS's default sort orders UTF-16 units. */
function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

/** `json.dumps(s)` with ensure_ascii: JSON.stringify's escapes, then everything outside 0x20-0x7e as \uXXXX. */
function pythonString(s: string): string {
  return JSON.stringify(s).replace(
    /[^\x20-\x7e]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function pythonNumber(x: number): string {
  if (Number.isInteger(x)) {
    // A Python int prints every digit; BigInt does the same for integral doubles past 1e21.
    return BigInt(x).toString();
  }
  return pythonFloatRepr(x);
}

/**
 * Python's `repr(float)`: the shortest digits that round-trip (the same digits JavaScript picks),
 * laid out fixed when -4 < decpt <= 16 and in exponent form otherwise (exponent at least two
 * digits, with its sign), with ".0" added to integral values. Non-finite values are written as
 * `NaN` / `Infinity`, as `json.dumps` does.
 */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Number.POSITIVE_INFINITY) return 'Infinity';
  if (x === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  // toExponential() without an argument gives the shortest round-trip digits: "d.ddde±x".
  const [mantissa, exponent] = Math.abs(x).toExponential().split('e');
  const digits = mantissa!.replace('.', '');
  const exp = Number(exponent);
  const decpt = exp + 1; // the value is 0.DIGITS × 10^decpt
  if (decpt <= -4 || decpt > 16) {
    const frac = digits.length > 1 ? `.${digits.slice(1)}` : '';
    const expSign = exp < 0 ? '-' : '+';
    return `${sign}${digits[0]}${frac}e${expSign}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (decpt <= 0) return `${sign}0.${'0'.repeat(-decpt)}${digits}`;
  if (decpt >= digits.length) return `${sign}${digits}${'0'.repeat(decpt - digits.length)}.0`;
  return `${sign}${digits.slice(0, decpt)}.${digits.slice(decpt)}`;
}
