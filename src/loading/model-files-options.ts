/**
 * `ModelFilesOptions` checked once, for the model folder sources that fetch (URLs, the Hub over
 * fetch in the core, the Hub with the cache under Node): a wrong type is a LoadError naming the
 * option before any request, and what is left unset stays unset for the source's own defaults
 * (the environment under Node).
 */
import { LoadError } from '../errors.js';
import { guarded, unreadable } from '../guard.js';
import { checkHubAccess, type FetchLike, type HubAccess, LoadContext, optionError } from './hub-internal.js';
import type { ModelFilesOptions } from './model-files.js';

/** Options of the fetching sources beyond ModelFilesOptions. */
export interface RemoteModelFilesOptions extends ModelFilesOptions {
  /**
   * Bound per request, in milliseconds: the whole request for listings and text files, the
   * longest silence for model files (a multi-GB file takes minutes; only a stall fails). Default 30 000.
   */
  timeoutMs?: number;
}

/** The options checked: Hub / URL access (checkHubAccess), plus progress made safe. */
export interface ResolvedModelFilesOptions extends HubAccess {
  /** The caller's onProgress, made safe: a callback that throws is reported once and then ignored. */
  progress: (file: string, loaded: number, total: number | null) => void;
}

/** Text files of a model folder (JSON configs, vocab.json, merges.txt, tokenizer.json) are megabytes at most. */
export const MAX_TEXT_BYTES = 64 * 1024 * 1024;
/** A repository listing with a few thousand files is a few MB. */
export const MAX_LISTING_BYTES = 32 * 1024 * 1024;

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
  const access = checkHubAccess(o);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') {
    throw optionError(
      'onProgress',
      o.onProgress,
      'must be a function',
      'pass ({ file, loaded, total }) => ... or omit it.',
    );
  }
  const warn = access.warn;
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
  return { ...access, progress };
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
