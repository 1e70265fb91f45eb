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

export interface ErrorDetails {
  /** The config field or argument that was wrong, e.g. `beta_schedule` or `timestep`. */
  field: string;
  /** The value received (omitted when it is not meaningful to print). */
  value?: unknown;
  /** What is wrong with it, as a sentence fragment: "must be one of ...". */
  problem: string;
  /** What the caller should do instead. */
  fix?: string;
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

function describeUnguarded(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'symbol') return 'a symbol';
  if (ArrayBuffer.isView(value)) {
    const ctor = (value as { constructor?: { name?: string } }).constructor?.name ?? 'TypedArray';
    return `${ctor}(${(value as unknown as ArrayLike<unknown>).length ?? '?'})`;
  }
  if (Array.isArray(value)) {
    if (value.length > 8) return `array of length ${value.length}`;
    return `[${value.map((v) => describeValue(v)).join(', ')}]`;
  }
  if (typeof value === 'function') return 'a function';
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return typeof value;
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return typeof value;
  }
}

function formatMessage(details: ErrorDetails): string {
  const got = 'value' in details ? ` (got ${describeValue(details.value)})` : '';
  const fix = details.fix ? ` Fix: ${details.fix}` : '';
  return `${details.field} ${details.problem}${got}.${fix}`;
}

export class DdimError extends Error {
  readonly field: string;
  readonly value: unknown;
  readonly problem: string;
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

export class ConfigError extends DdimError {}
export class ArgumentError extends DdimError {}
export class ShapeError extends DdimError {}
export class StateError extends DdimError {}
export class NumericError extends DdimError {}
export class LoadError extends DdimError {}
export class AbortError extends DdimError {}
