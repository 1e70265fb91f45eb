/**
 * A model folder's files, wherever they are: a local folder (Node), the Hugging Face Hub (under
 * Node through the cache Python fills; in browsers over fetch), a plain base URL, or files a user
 * picked in a browser. The Stable Diffusion pipeline reads its components through this one
 * interface and never learns where they came from.
 *
 * How a `source` becomes ModelFiles is a registry, as for scheduler configs (`registerConfigSource`
 * in hub.ts): the core registers what needs only `fetch` (URLs, Hub ids in browsers); the Node
 * entry registers local folders and the Hub with the cache, tried first. Browsers' picked files
 * are passed as objects, not strings, and have their own constructor.
 */
import { ArgumentError, LoadError } from '../errors.js';
import { guarded, unreadable } from '../guard.js';
import { checkModelFilePath, SourceRegistry } from './hub-internal.js';
import { fetchModelFilesSource } from './remote-model-files.js';

/** An ONNX model as `InferenceSession.create` takes it. */
export interface OnnxModelFile {
  /**
   * A file path (Node: ONNX Runtime reads the model and its external data itself, without the
   * bytes passing through JavaScript) or the model's bytes.
   */
  model: string | Uint8Array;
  /**
   * The model's external data files (`weights.pb`, `model.onnx_data`) for a model given as bytes,
   * as onnxruntime-web's `sessionOptions.externalData` takes them: the path the model names and the
   * bytes. Empty for a path (ONNX Runtime finds them next to the file).
   */
  externalData: {
    /** The file name the model's tensors give as their `location` (relative to the model's folder). */
    path: string;
    /** The file's bytes. */
    data: Uint8Array;
  }[];
}

/** Loading options every ModelFiles source understands (sources ignore what does not apply to them). */
export interface ModelFilesOptions {
  /** Hub branch, tag or commit. Default "main". */
  revision?: string;
  /** Hub token (default under Node: HF_TOKEN or the token file); false sends none. */
  token?: string | false;
  /** Hub endpoint. Default https://huggingface.co (under Node: HF_ENDPOINT). */
  endpoint?: string;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: (input: string, init?: RequestInit) => Promise<Response>;
  /** Never touch the network: the local Hugging Face cache only (Node). Default: HF_HUB_OFFLINE. */
  localFilesOnly?: boolean;
  /** The Hugging Face hub cache folder (Node). */
  cacheDir?: string;
  /** Cancels loading (AbortError); a download in progress leaves nothing a later run would trust. */
  signal?: AbortSignal;
  /** Download progress, per file: bytes so far and the file's size (null when unknown). */
  onProgress?: (progress: { file: string; loaded: number; total: number | null }) => void;
  /** Non-fatal notices (a cached copy used offline, ...). Default console.warn. */
  onWarning?: (message: string) => void;
}

/** The files of one model folder (paths are relative, with '/', e.g. "unet/model.onnx"). */
export interface ModelFiles {
  /** Where they are, for messages: a folder path, a URL, or a Hub repo id with its revision. */
  readonly location: string;
  /** Whether the folder has this file. */
  has(path: string): Promise<boolean>;
  /** A text file (JSON, merges.txt); a LoadError naming the file when it is missing or unreadable. */
  readText(path: string): Promise<string>;
  /** An ONNX model file and its external data; a LoadError naming the file when missing or truncated. */
  readModel(path: string): Promise<OnnxModelFile>;
}

/** Turns a string source into ModelFiles, or returns undefined when the source is not its kind. */
export interface ModelFilesSource {
  /** The source's name; registering another with the same name replaces it. */
  readonly name: string;
  /** The ModelFiles of `source`, or undefined when `source` is not of this source's kind. */
  open(source: string, options: ModelFilesOptions): Promise<ModelFiles | undefined>;
}

const sources = new SourceRegistry<ModelFilesSource>();

/**
 * Add a source of model folders, tried before those registered earlier. Registering one with the
 * name of one already registered replaces it. Returns a function that removes it again.
 */
export function registerModelFilesSource(source: ModelFilesSource): () => void {
  // Checked here, not at the next open: a broken source would otherwise fail every later load.
  const ok = guarded(
    () =>
      source !== null &&
      typeof source === 'object' &&
      typeof source.name === 'string' &&
      source.name.length > 0 &&
      typeof source.open === 'function',
    unreadable(ArgumentError, 'source', 'pass a plain { name, open } object.'),
  );
  if (!ok) {
    throw new ArgumentError({
      field: 'source',
      value: source,
      problem: 'must be a model-folder source { name: string, open(source, options) }',
      fix: 'pass an object with a non-empty name and an open function.',
    });
  }
  return sources.add(source);
}

/** Open a model folder by path, URL or Hub repo id, through the registered sources (latest first). */
export async function openModelFiles(source: string, options: ModelFilesOptions = {}): Promise<ModelFiles> {
  if (typeof source !== 'string' || source.length === 0) {
    throw new ArgumentError({
      field: 'source',
      value: source,
      problem: 'must be a non-empty string: a folder path, a URL, or a Hub repo id',
      fix: "pass e.g. './sd15-onnx', 'https://example.org/sd15-onnx', or 'org/name'.",
    });
  }
  for (const s of sources.latestFirst()) {
    const files = await s.open(source, options);
    if (files !== undefined) return files;
  }
  throw new LoadError({
    field: 'source',
    value: source,
    problem: 'is not a model folder this runtime can open',
    fix: "pass an http(s) URL or a Hub repo id; under Node, import from 'ddim/pipeline' (its Node entry reads local folders and the Hugging Face cache); in a browser, pass the picked files.",
  });
}

// The one check of a file path inside a model folder, shared by every source (it lives with the
// other path checks, so that the sources can use it without importing this registry).
export { checkModelFilePath };

// URLs and Hub ids over fetch, in every runtime; sources registered later (the Node entry's) go first.
registerModelFilesSource(fetchModelFilesSource);
