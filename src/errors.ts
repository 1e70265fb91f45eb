/**
 * The library's error hierarchy. Every error thrown on purpose by `ddim` is a `DdimError`; the
 * subclass says what kind of thing was wrong, and the message names the field or argument, the
 * value received, and how to fix it:
 *
 *   ConfigError   a scheduler config field (type, range, length, unknown enum value)
 *   ArgumentError an argument of a call (timestep, eta, seed, steps, options)
 *   ShapeError    tensor dims, lengths, dtypes
 *   StateError    a call made in the wrong order (step before setTimesteps, ...)
 *   NumericError  a non-finite value met inside a computation
 *   LoadError     reading a config from a file, URL or the Hub
 *   AbortError    a sampling loop stopped by its AbortSignal
 */

/** What a `DdimError` is made from: the field, the value, the problem and the fix. */
export interface ErrorDetails {
  /** The config field or argument that was wrong, e.g. `beta_schedule` or `timestep`. */
  field: string;
  /** The value received (omitted when it is not meaningful to print). */
  value?: unknown;
  /** What is wrong with it, as a sentence fragment: "must be one of ...". */
  problem: string;
  /** What the caller should do instead. */
  fix?: string;
  /** The error that led to this one (a network or file-system error, say), kept as `error.cause`. */
  cause?: unknown;
}

/**
 * Render a value for an error message: short, never throwing. The value is whatever the caller
 * passed, possibly a Proxy whose every trap throws, so all reading is inside try/catch.
 */
export function describeValue(value: unknown): string {
  try {
    return describeUnguarded(value);
  } catch {
    return typeof value === 'object' && value !== null ? 'an object that cannot be read' : typeof value;
  }
}

/** Longest rendering of a value in a message, before it is cut and ended with "...". */
const DESCRIBE_LIMIT = 80;

function describeUnguarded(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > DESCRIBE_LIMIT ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'symbol') return 'a symbol';
  if (ArrayBuffer.isView(value)) return typedArrayName(value);
  if (Array.isArray(value) && value.length > 8) return `array of length ${value.length}`;
  if (typeof value === 'function') return 'a function';
  return renderBounded(value);
}

function typedArrayName(value: ArrayBufferView): string {
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name ?? 'TypedArray';
  return `${ctor}(${(value as unknown as ArrayLike<unknown>).length ?? '?'})`;
}

/** Thrown by `Rendering.push` once the text is long enough; caught by `renderBounded`. */
class RenderingFull {}

class Rendering {
  text = '';
  push(part: string): void {
    this.text += part;
    if (this.text.length > DESCRIBE_LIMIT) throw new RenderingFull();
  }
}

/**
 * JSON-like text of an object or array, cut at DESCRIBE_LIMIT characters. The value may be huge,
 * a DAG of shared objects (2^40 paths through 40 nodes) or a cycle: JSON.stringify would expand
 * it all before we cut, so we render ourselves and stop as soon as the text is full. Every level
 * writes "{" or "[" before going down, so the recursion is at most DESCRIBE_LIMIT deep, and every
 * element writes at least one character, so a million-entry array costs a few reads.
 */
function renderBounded(value: unknown): string {
  const out = new Rendering();
  try {
    renderInto(value, out);
  } catch (error) {
    if (!(error instanceof RenderingFull)) throw error;
    return `${out.text.slice(0, DESCRIBE_LIMIT - 3)}...`;
  }
  return out.text;
}

function renderInto(value: unknown, out: Rendering): void {
  if (typeof value === 'string') {
    out.push(JSON.stringify(value.length > DESCRIBE_LIMIT ? value.slice(0, DESCRIBE_LIMIT + 1) : value));
  } else if (typeof value === 'bigint') {
    out.push(`${value}n`);
  } else if (typeof value === 'number' || typeof value === 'boolean' || value == null) {
    out.push(String(value));
  } else if (typeof value === 'symbol') {
    out.push('Symbol()');
  } else if (typeof value === 'function') {
    out.push('function');
  } else if (ArrayBuffer.isView(value)) {
    out.push(typedArrayName(value));
  } else if (value instanceof Date) {
    out.push(Number.isNaN(value.getTime()) ? 'Invalid Date' : JSON.stringify(value.toISOString()));
  } else if (Array.isArray(value)) {
    out.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(', ');
      renderInto(value[i], out);
    }
    out.push(']');
  } else {
    out.push('{');
    let first = true;
    for (const key in value as object) {
      if (!Object.hasOwn(value as object, key)) continue;
      if (!first) out.push(',');
      first = false;
      out.push(`${JSON.stringify(key.length > DESCRIBE_LIMIT ? key.slice(0, DESCRIBE_LIMIT + 1) : key)}:`);
      renderInto((value as Record<string, unknown>)[key], out);
    }
    out.push('}');
  }
}

function formatMessage(details: ErrorDetails): string {
  const got = 'value' in details ? ` (got ${describeValue(details.value)})` : '';
  const fix = details.fix ? ` Fix: ${details.fix}` : '';
  return `${details.field} ${details.problem}${got}.${fix}`;
}

/**
 * The base of every error `ddim` throws on purpose. The message reads "<field> <problem> (got
 * <value>). Fix: <fix>"; the parts are also properties, for programs that handle the error.
 */
export class DdimError extends Error {
  /** The config field or argument that was wrong, e.g. `beta_schedule` or `timestep`. */
  readonly field: string;
  /** The value received (undefined when it was not meaningful to print). */
  readonly value: unknown;
  /** What is wrong with the value, as a sentence fragment: "must be one of ...". */
  readonly problem: string;
  /** What the caller should do instead, when there is a fix to name. */
  readonly fix: string | undefined;

  constructor(details: ErrorDetails) {
    super(formatMessage(details), details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.field = details.field;
    this.value = details.value;
    this.problem = details.problem;
    this.fix = details.fix;
  }
}

/** A scheduler config field is wrong: its type, range, length, or an unknown enum value. */
export class ConfigError extends DdimError {}
/** An argument of a call is wrong: a timestep, eta, seed, step count or option. */
export class ArgumentError extends DdimError {}
/** Tensor dims, lengths or dtypes do not fit together. */
export class ShapeError extends DdimError {}
/** A call made in the wrong order, e.g. `step` before `setTimesteps`. */
export class StateError extends DdimError {}
/** A non-finite value (NaN, Infinity) met inside a computation. */
export class NumericError extends DdimError {}
/** Reading a config from a file, a URL or the Hub failed. */
export class LoadError extends DdimError {}
/** A sampling loop was stopped by its `AbortSignal`. */
export class AbortError extends DdimError {}

/** Receives a warning's text (by default, console.warn prints it with a `[ddim]` prefix). */
export type WarningHandler = (message: string) => void;

/** Where warnings go unless the caller passes `onWarning`: console.warn, with a `[ddim]` prefix. */
export const defaultWarningHandler: WarningHandler = (message) => {
  console.warn(`[ddim] ${message}`);
};
