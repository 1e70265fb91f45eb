/**
 * Reading objects the caller hands us, without letting their failures escape untyped.
 *
 * A config, an options object or a tensor may be a Proxy or carry getters (onnxruntime and
 * transformers.js tensors do), and reading one can throw anything. The library promises that
 * only its own typed errors escape, so every such read happens inside `guarded`, which turns a
 * foreign exception into the typed error the caller asks for (the original kept as `cause`).
 * Errors the library itself threw inside pass through unchanged.
 *
 * Internal: not exported from the package entry.
 */
import { ArgumentError, DdimError } from './errors.js';

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

/**
 * Check that `options` is nothing (undefined or null) or an object whose own keys are all in
 * `allowed`; unknown keys are errors so a misspelt option (`etta`) is never silently ignored.
 * Allocates nothing when the options are fine (this runs on every step): for-in over an ordinary
 * object uses V8's enum cache, and the try/catch is inline rather than a closure.
 * Returns true when options were given.
 */
export function checkOptionKeys(
  options: unknown,
  allowed: ReadonlySet<string>,
  field: string,
  example: string,
): options is Record<string, unknown> {
  if (options === undefined || options === null) return false;
  if (typeof options !== 'object' || Array.isArray(options) || ArrayBuffer.isView(options)) {
    throw new ArgumentError({
      field,
      value: options,
      problem: 'must be an options object',
      fix: `pass e.g. ${example}, or nothing.`,
    });
  }
  let unknown: string | undefined;
  try {
    for (const key in options) {
      if (Object.hasOwn(options, key) && !allowed.has(key)) {
        unknown = key;
        break;
      }
    }
  } catch (error) {
    throw unreadable(ArgumentError, field, 'pass a plain options object.')(error);
  }
  if (unknown !== undefined) {
    throw new ArgumentError({
      field: `${field}.${unknown}`,
      value: guarded(
        () => (options as Record<string, unknown>)[unknown as string],
        unreadable(ArgumentError, `${field}.${unknown}`, 'pass a plain options object.'),
      ),
      problem: 'is not a known option',
      fix: `use only ${[...allowed].join(', ')}.`,
    });
  }
  return true;
}
