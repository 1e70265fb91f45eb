/**
 * Loading a `scheduler_config.json` from where users keep models, and saving one diffusers reads.
 *
 * This module is browser-safe: it uses `fetch` only. On its own it loads from http(s) URLs and
 * from the Hugging Face Hub by repo id. Under Node the package's Node entry registers a
 * ConfigSource that adds local folders and files and the Hugging Face cache shared with Python's
 * `huggingface_hub` (see `node/hub.ts`); the registry is how the core uses it without importing
 * any Node built-in.
 *
 *   loadSchedulerConfig('stabilityai/stable-diffusion-2-1', { subfolder: 'scheduler' })
 *   loadSchedulerConfig('https://example.org/model/scheduler/scheduler_config.json')
 *   loadSchedulerConfig('./my-model', { subfolder: 'scheduler' })          // Node
 *
 * Every failure is a LoadError naming what was wrong, the value and the fix (a caller's abort is
 * an AbortError). Loads are bounded: `timeoutMs` covers the whole load, bodies stop at `maxBytes`
 * while streaming, and JSON holding `__proto__` / `constructor` / `prototype` keys is refused.
 */

import { ArgumentError, DdimError, describeValue, LoadError } from '../errors.js';
import { guarded, unreadable } from '../guard.js';
import { type DiffusersJsonOptions, toDiffusersJsonString } from './diffusers-json.js';
import {
  authHeaders,
  CONFIG_NAME,
  checkHubAccess,
  checkRepoId,
  checkSubfolder,
  configFilePath,
  configUrlFor,
  DEFAULT_ENDPOINT,
  DEFAULT_MAX_BYTES,
  DEFAULT_TIMEOUT_MS,
  type FetchLike,
  fetchFile,
  hubFileUrl,
  isCommitHash,
  isHttpUrl,
  LoadContext,
  looksLikeLocalPath,
  optionError,
  parseConfigBytes,
  type RequestTarget,
  SourceRegistry,
} from './hub-internal.js';

export type { FetchLike, LoadContext };
export { CONFIG_NAME, DEFAULT_ENDPOINT, DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS };

/** Options of {@link loadSchedulerConfig}: where to look, with what credentials, and the bounds. */
export interface LoadConfigOptions {
  /** Folder inside the repo, URL folder or local model folder that holds the config, e.g. "scheduler". */
  subfolder?: string;
  /** Hub branch, tag or commit hash. Default "main". */
  revision?: string;
  /**
   * Hub access token for private or gated repos. Under Node, HF_TOKEN (or the token file that
   * `huggingface-cli login` writes) is used when this is omitted; `false` sends no token at all.
   */
  token?: string | false;
  /** Hub endpoint. Default https://huggingface.co (under Node: HF_ENDPOINT when set). */
  endpoint?: string;
  /** The fetch to use (default globalThis.fetch): for proxies, custom agents, or tests. */
  fetch?: FetchLike;
  /** Cancels the load (rejects with AbortError). */
  signal?: AbortSignal;
  /** Bound on the whole load, every request and redirect included. Default 30 000 ms. */
  timeoutMs?: number;
  /** Largest config accepted, enforced while the body streams. Default 1 MiB. */
  maxBytes?: number;
  /** Never touch the network: load from the local Hugging Face cache only (Node). Default: HF_HUB_OFFLINE. */
  localFilesOnly?: boolean;
  /** The Hugging Face hub cache folder (Node). Default: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Receives non-fatal notices (e.g. a cached copy used because the Hub was unreachable). Default console.warn. */
  onWarning?: (message: string) => void;
}

/** `fromPretrained` options: where to load from, plus config keys to override (diffusers' `**kwargs`). */
export interface FromPretrainedOptions<C> extends LoadConfigOptions {
  /** Applied over the loaded config, as `from_pretrained(source, timestep_spacing="trailing")` does. */
  overrides?: Partial<C>;
}

/** What {@link loadSchedulerConfig} read, and from where. */
export interface LoadedConfig {
  /** The parsed scheduler_config.json, as written (values unchecked: the scheduler's config layer checks them). */
  config: Record<string, unknown>;
  /** Where it came from: a file path or a URL. */
  resolvedFrom: string;
  /** 'file': a local file; 'cache': the Hugging Face cache; 'network': a URL or the Hub. */
  origin: 'file' | 'cache' | 'network';
  /** The Hub commit the config belongs to, when known. */
  commit?: string;
}

/** Options after validation, as handed to a ConfigSource. Unset fields are left for the source's own defaults (env). */
export interface ResolvedLoadOptions {
  subfolder: string | undefined;
  revision: string;
  token: string | false | undefined;
  endpoint: string | undefined;
  fetch: FetchLike;
  maxBytes: number;
  localFilesOnly: boolean | undefined;
  cacheDir: string | undefined;
  warn: (message: string) => void;
}

/**
 * A place configs can come from beyond URLs and the Hub over fetch (the Node entry registers the
 * file system and the Hugging Face cache). `load` returns undefined for sources it does not handle.
 */
export interface ConfigSource {
  readonly name: string;
  load(source: string, options: ResolvedLoadOptions, context: LoadContext): Promise<LoadedConfig | undefined>;
  /** Write `text` as `${dir}/scheduler_config.json`, creating `dir`; returns the file's path. */
  save?(dir: string, text: string): Promise<string>;
}

const sources = new SourceRegistry<ConfigSource>();

/**
 * Add a config source, tried before the built-in URL/Hub loading (the latest registered first).
 * Registering a source with the name of one already registered replaces it. Returns a function
 * that removes it again.
 */
export function registerConfigSource(source: ConfigSource): () => void {
  // Checked here, not at the next load: a broken source would otherwise fail every later load
  // with an engine TypeError, far from the call that registered it.
  const ok = guarded(
    () =>
      source !== null &&
      typeof source === 'object' &&
      typeof source.name === 'string' &&
      source.name.length > 0 &&
      typeof source.load === 'function' &&
      (source.save === undefined || typeof source.save === 'function'),
    unreadable(ArgumentError, 'source', 'pass a plain { name, load, save? } object.'),
  );
  if (!ok) {
    throw new ArgumentError({
      field: 'source',
      value: source,
      problem: 'must be a config source { name: string, load(source, options, context), save?(dir, text) }',
      fix: 'pass an object with a non-empty name and a load function.',
    });
  }
  return sources.add(source);
}

/** The keys of LoadConfigOptions: anything else is a LoadError, so a misspelt option is never ignored. */
export const LOAD_OPTION_KEYS: ReadonlySet<string> = new Set([
  'subfolder',
  'revision',
  'token',
  'endpoint',
  'fetch',
  'signal',
  'timeoutMs',
  'maxBytes',
  'localFilesOnly',
  'cacheDir',
  'onWarning',
]);

function resolveOptions(
  options: LoadConfigOptions | undefined,
): ResolvedLoadOptions & { timeoutMs: number; signal: AbortSignal | undefined } {
  // A Proxy or getter in the options may throw on any read: a LoadError naming the options.
  return guarded(
    () => resolveOptionsUnguarded(options),
    unreadable(LoadError, 'options', 'pass a plain options object.'),
  );
}

function resolveOptionsUnguarded(
  options: LoadConfigOptions | undefined,
): ResolvedLoadOptions & { timeoutMs: number; signal: AbortSignal | undefined } {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw optionError(
      'options',
      options,
      'must be an object',
      'pass { subfolder, revision, ... } or nothing.',
    );
  }
  const o = options ?? {};
  const maxBytes = o.maxBytes ?? DEFAULT_MAX_BYTES;
  if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw optionError(
      'maxBytes',
      maxBytes,
      'must be a positive whole number of bytes',
      `omit it for ${DEFAULT_MAX_BYTES}.`,
    );
  }
  const access = checkHubAccess(o);
  for (const key of Object.keys(o)) {
    if (!LOAD_OPTION_KEYS.has(key)) {
      throw optionError(
        `options.${key}`,
        (o as Record<string, unknown>)[key],
        'is not a load option',
        `use only ${[...LOAD_OPTION_KEYS].join(', ')}.`,
      );
    }
  }
  return { ...access, subfolder: checkSubfolder(o.subfolder), maxBytes };
}

/**
 * Load a scheduler config from a Hub repo id ("org/name" or "name"), an http(s) URL (of the file,
 * or of a folder with `subfolder`), or, under Node, a local file or folder.
 */
export async function loadSchedulerConfig(
  source: string,
  options?: LoadConfigOptions,
): Promise<LoadedConfig> {
  if (typeof source !== 'string' || source.trim() === '') {
    throw new LoadError({
      field: 'source',
      value: source,
      problem: 'must be a non-empty string',
      fix: 'pass a Hub repo id ("org/name"), an http(s) URL, or (under Node) a local path.',
    });
  }
  const resolved = resolveOptions(options);
  const context = new LoadContext(resolved.timeoutMs, resolved.signal);
  try {
    for (const s of sources.latestFirst()) {
      const loaded = await s.load(source, resolved, context);
      if (loaded) return loaded;
    }
    return await loadOverFetch(source, resolved, context);
  } catch (error) {
    // The load runs the caller's fetch and reads what it returns (and a registered source's
    // code): anything that escapes them untyped is still a LoadError naming the source.
    if (error instanceof DdimError) throw error;
    throw new LoadError({
      field: 'source',
      value: source,
      problem: `could not be loaded (${error instanceof Error ? `${error.name}: ${error.message}` : describeValue(error)})`,
      fix: 'check the source (path, URL or repo id) and the fetch function if you passed one; the original error is the cause.',
      cause: error,
    });
  } finally {
    context.dispose();
  }
}

/** The built-in loader: URLs and the Hub over fetch, no cache (a browser has no shared cache to use). */
async function loadOverFetch(
  source: string,
  options: ResolvedLoadOptions,
  context: LoadContext,
): Promise<LoadedConfig> {
  let url: string;
  let target: RequestTarget;
  const token = typeof options.token === 'string' ? options.token : undefined;
  if (isHttpUrl(source)) {
    url = configUrlFor(source, options.subfolder);
    target = { hasToken: token !== undefined };
  } else {
    if (looksLikeLocalPath(source)) {
      throw new LoadError({
        field: 'source',
        value: source,
        problem: 'is a local path, and this build reads only URLs and Hub repos (it has no file system)',
        fix: "under Node, import from 'ddim' (its Node entry reads local folders and the Hugging Face cache); in a browser, serve the folder over http(s) and pass its URL.",
      });
    }
    const repoId = checkRepoId(source);
    url = hubFileUrl(
      options.endpoint ?? DEFAULT_ENDPOINT,
      repoId,
      options.revision,
      configFilePath(options.subfolder),
    );
    target = {
      repoId,
      revision: options.revision,
      subfolder: options.subfolder,
      hasToken: token !== undefined,
    };
  }
  if (options.localFilesOnly) {
    throw new LoadError({
      field: 'localFilesOnly',
      value: true,
      problem: `is set, and this build has no local cache to load ${source} from`,
      fix: "drop localFilesOnly to fetch it, or under Node import from 'ddim' to use the Hugging Face cache.",
    });
  }
  const fetched = await fetchFile(url, {
    fetch: options.fetch,
    headers: authHeaders(token),
    maxBytes: options.maxBytes,
    context,
    target,
  });
  const commit = fetched.commit;
  return {
    config: parseConfigBytes(fetched.bytes, url),
    resolvedFrom: url,
    origin: 'network',
    ...(commit !== undefined && isCommitHash(commit) ? { commit } : {}),
  };
}

/**
 * Write `config` (a scheduler's `toJSON()`) as `${dir}/scheduler_config.json`, byte for byte what
 * diffusers' `save_config` writes, so diffusers' `from_pretrained(dir)` reads it back. Needs the
 * file system: under Node only. Returns the path written.
 */
export async function saveSchedulerConfig(
  dir: string,
  config: Record<string, unknown>,
  options?: DiffusersJsonOptions,
): Promise<string> {
  if (typeof dir !== 'string' || dir.length === 0) {
    throw new LoadError({
      field: 'dir',
      value: dir,
      problem: 'must be a folder path',
      fix: 'pass the folder to write scheduler_config.json into, e.g. "./out/scheduler".',
    });
  }
  const text = toDiffusersJsonString(config, options);
  for (const s of sources.latestFirst()) {
    if (s.save) return s.save(dir, text);
  }
  throw new LoadError({
    field: 'dir',
    value: dir,
    problem: 'cannot be written: savePretrained needs a file system, and this build (browser) has none',
    fix: `use scheduler.toJSON() (or toDiffusersJsonString(scheduler.toJSON()) for diffusers' exact ${CONFIG_NAME} text) and store it yourself; under Node, import from 'ddim'.`,
  });
}
