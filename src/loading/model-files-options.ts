/**
 * `ModelFilesOptions` checked once, for the model folder sources that fetch (URLs, the Hub over
 * fetch in the core, the Hub with the cache under Node): a wrong type is a LoadError naming the
 * option before any request, and what is left unset stays unset for the source's own defaults
 * (the environment under Node).
 */
import { defaultWarningHandler, LoadError } from '../errors.js';
import { guarded, unreadable } from '../guard.js';
import {
  checkEndpoint,
  checkRevision,
  DEFAULT_TIMEOUT_MS,
  type FetchLike,
  LoadContext,
} from './hub-internal.js';
import type { ModelFilesOptions } from './model-files.js';

/** Options of the fetching sources beyond ModelFilesOptions. */
export interface RemoteModelFilesOptions extends ModelFilesOptions {
  /**
   * Bound per request, in milliseconds: the whole request for listings and text files, the
   * longest silence for model files (a multi-GB file takes minutes; only a stall fails). Default 30 000.
   */
  timeoutMs?: number;
}

export interface ResolvedModelFilesOptions {
  revision: string;
  token: string | false | undefined;
  endpoint: string | undefined;
  fetch: FetchLike;
  localFilesOnly: boolean | undefined;
  cacheDir: string | undefined;
  signal: AbortSignal | undefined;
  /** The caller's onProgress, made safe: a callback that throws is reported once and then ignored. */
  progress: (file: string, loaded: number, total: number | null) => void;
  warn: (message: string) => void;
  timeoutMs: number;
}

/** Text files of a model folder (JSON configs, vocab.json, merges.txt, tokenizer.json) are megabytes at most. */
export const MAX_TEXT_BYTES = 64 * 1024 * 1024;
/** A repository listing with a few thousand files is a few MB. */
export const MAX_LISTING_BYTES = 32 * 1024 * 1024;

function optionError(field: string, value: unknown, problem: string, fix: string): LoadError {
  return new LoadError({ field, value, problem, fix });
}

export function resolveModelFilesOptions(
  options: RemoteModelFilesOptions | undefined,
): ResolvedModelFilesOptions {
  // A Proxy or getter in the options may throw on any read: a LoadError naming the options.
  return guarded(
    () => resolveUnguarded(options),
    unreadable(LoadError, 'options', 'pass a plain options object.'),
  );
}

function resolveUnguarded(options: RemoteModelFilesOptions | undefined): ResolvedModelFilesOptions {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw optionError('options', options, 'must be an object', 'pass { revision, token, ... } or nothing.');
  }
  const o = options ?? {};
  const token = o.token;
  if (token !== undefined && token !== false && (typeof token !== 'string' || token.length === 0)) {
    throw optionError(
      'token',
      typeof token === 'string' ? token : typeof token,
      'must be a non-empty string, or false for no token',
      'pass a Hugging Face access token ("hf_...").',
    );
  }
  if (o.fetch !== undefined && typeof o.fetch !== 'function') {
    throw optionError(
      'fetch',
      o.fetch,
      'must be a function like globalThis.fetch',
      'omit it to use globalThis.fetch.',
    );
  }
  const fetchImpl: FetchLike =
    o.fetch ??
    ((input, init) => {
      if (typeof globalThis.fetch !== 'function') {
        throw optionError(
          'fetch',
          undefined,
          'is not available in this runtime',
          'pass { fetch } explicitly.',
        );
      }
      return globalThis.fetch(input, init);
    });
  if (o.localFilesOnly !== undefined && typeof o.localFilesOnly !== 'boolean') {
    throw optionError(
      'localFilesOnly',
      o.localFilesOnly,
      'must be true or false',
      'omit it to go online when needed.',
    );
  }
  if (o.cacheDir !== undefined && (typeof o.cacheDir !== 'string' || o.cacheDir.length === 0)) {
    throw optionError(
      'cacheDir',
      o.cacheDir,
      'must be a folder path',
      'omit it for the Hugging Face default cache.',
    );
  }
  if (o.onWarning !== undefined && typeof o.onWarning !== 'function') {
    throw optionError('onWarning', o.onWarning, 'must be a function', 'pass (message) => ... or omit it.');
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw optionError(
      'onProgress',
      o.onProgress,
      'must be a function',
      'pass ({ file, loaded, total }) => ... or omit it.',
    );
  }
  if (
    o.signal !== undefined &&
    (o.signal === null || typeof (o.signal as AbortSignal).addEventListener !== 'function')
  ) {
    throw optionError('signal', o.signal, 'must be an AbortSignal', 'pass controller.signal.');
  }
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // setTimeout fires at once past 2^31 - 1 ms, so larger bounds are refused rather than broken.
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > 2 ** 31 - 1) {
    throw optionError(
      'timeoutMs',
      timeoutMs,
      'must be a number of milliseconds between 1 and 2147483647',
      `omit it for ${DEFAULT_TIMEOUT_MS} ms.`,
    );
  }
  const warn = o.onWarning ?? defaultWarningHandler;
  const onProgress = o.onProgress;
  let progressBroken = false;
  const progress = (file: string, loaded: number, total: number | null): void => {
    if (!onProgress || progressBroken) return;
    try {
      onProgress({ file, loaded, total });
    } catch (error) {
      progressBroken = true;
      warn(
        `onProgress threw (${error instanceof Error ? error.message : String(error)}); it is no longer called.`,
      );
    }
  };
  return {
    revision: checkRevision(o.revision),
    token,
    endpoint: checkEndpoint(o.endpoint),
    fetch: fetchImpl,
    localFilesOnly: o.localFilesOnly,
    cacheDir: o.cacheDir,
    signal: o.signal,
    progress,
    warn,
    timeoutMs,
  };
}

/**
 * Run `work` under a fresh LoadContext (the caller's signal, the options' bound): a whole-request
 * deadline, or with `idle` a bound on silence only. The context is disposed however `work` ends.
 */
export async function withContext<T>(
  options: ResolvedModelFilesOptions,
  idle: boolean,
  work: (context: LoadContext) => Promise<T>,
): Promise<T> {
  const context = new LoadContext(options.timeoutMs, options.signal, { idle });
  try {
    return await work(context);
  } finally {
    context.dispose();
  }
}
