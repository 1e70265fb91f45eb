/**
 * ModelFiles for a model folder the user picked in a browser: the files of an
 * `<input type="file" webkitdirectory>` (each `File` carries its `webkitRelativePath`), or a
 * `FileSystemDirectoryHandle` from `showDirectoryPicker()` or a drop. Browser-safe core: no Node
 * built-ins, only the structural parts of the DOM types used here (so it also runs under Node with
 * look-alike objects, which the tests use).
 *
 * `readModel` returns the model's bytes and the bytes of the external data files it names (read
 * from the model itself, see onnx-file.ts), as onnxruntime-web's `sessionOptions.externalData`
 * takes them; a truncated model or a missing weights file is a LoadError naming the file, before
 * ONNX Runtime sees anything.
 */
import { DdimError, LoadError } from '../errors.js';
import { checkModelFilePath, type ModelFiles, type OnnxModelFile } from './model-files.js';
import { inspectOnnxModel, shortExternalData } from './onnx-file.js';

/** The largest text file read (configs, vocab.json, merges.txt, tokenizer.json are a few MB). */
export const MAX_PICKED_TEXT_BYTES = 64 * 1024 * 1024;

/**
 * A file the user picked: a DOM `File` (from `<input webkitdirectory>`, whose `webkitRelativePath`
 * is "<picked folder>/unet/model.onnx"), or anything with the same members.
 */
export interface PickedFile {
  /** The file name. */
  readonly name: string;
  /** The path from the picked folder, its name first (empty for files not picked as a folder). */
  readonly webkitRelativePath?: string;
  /** The size in bytes. */
  readonly size: number;
  /** The contents. */
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** The part of a `FileSystemFileHandle` used. */
export interface FileHandleLike {
  /** The file's contents, as a File. */
  getFile(): Promise<PickedFile>;
}

/** The part of a `FileSystemDirectoryHandle` used (`showDirectoryPicker()`, or a dropped folder). */
export interface DirectoryHandleLike {
  /** The folder's name. */
  readonly name: string;
  /** A sub-folder; rejects (NotFoundError, TypeMismatchError) when there is none. */
  getDirectoryHandle(name: string): Promise<DirectoryHandleLike>;
  /** A file of the folder; rejects (NotFoundError, TypeMismatchError) when there is none. */
  getFileHandle(name: string): Promise<FileHandleLike>;
}

/** Finds a picked file by its path in the model folder; undefined when there is none. */
type Lookup = (segments: readonly string[]) => Promise<PickedFile | undefined>;

class PickedModelFiles implements ModelFiles {
  constructor(
    readonly location: string,
    private readonly lookup: Lookup,
  ) {}

  async has(path: string): Promise<boolean> {
    return (await this.lookup(checkModelFilePath(path))) !== undefined;
  }

  private async file(path: string, neededBy?: string): Promise<PickedFile> {
    const found = await this.lookup(checkModelFilePath(path));
    if (found !== undefined) return found;
    throw new LoadError({
      field: path,
      problem: `is missing from ${this.location}${neededBy === undefined ? '' : ` (${neededBy} keeps its weights in it)`}`,
      fix: 'pick the whole model folder (the one holding model_index.json, unet/, text_encoder/, vae_decoder/, tokenizer/, scheduler/), as exported.',
    });
  }

  private async bytes(path: string, file: PickedFile): Promise<Uint8Array> {
    try {
      return new Uint8Array(await file.arrayBuffer());
    } catch (cause) {
      throw new LoadError({
        field: path,
        problem: `could not be read (${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)})`,
        fix: 'pick the folder again: the browser lets a page read picked files only while they are unchanged on disk.',
        cause,
      });
    }
  }

  async readText(path: string): Promise<string> {
    const file = await this.file(path);
    if (file.size > MAX_PICKED_TEXT_BYTES) {
      throw new LoadError({
        field: path,
        value: `${file.size} bytes`,
        problem: `is larger than ${MAX_PICKED_TEXT_BYTES} bytes: not the text file it should be`,
        fix: `replace ${path} with the file of the original export.`,
      });
    }
    const bytes = await this.bytes(path, file);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (cause) {
      throw new LoadError({
        field: path,
        problem: 'is not UTF-8 text',
        fix: `replace ${path} with the file of the original export.`,
        cause,
      });
    }
  }

  async readModel(path: string): Promise<OnnxModelFile> {
    const model = await this.bytes(path, await this.file(path));
    const { externalFiles } = await inspectOnnxModel(model, path);
    const folder = path.includes('/') ? path.slice(0, path.lastIndexOf('/') + 1) : '';
    const data: OnnxModelFile['externalData'] = [];
    for (const { location, minBytes } of externalFiles) {
      // The location is relative to the model's folder and may not leave it (onnx's own checker
      // refuses ".." and absolute locations too).
      let dataPath: string;
      try {
        dataPath = checkModelFilePath(folder + location).join('/');
      } catch (cause) {
        throw new LoadError({
          field: path,
          value: location,
          problem: 'names an external data file outside its folder',
          fix: 'export the model again: external data locations are file names next to the model.',
          cause: cause instanceof DdimError ? cause : undefined,
        });
      }
      const file = await this.file(dataPath, path);
      const bytes = await this.bytes(dataPath, file);
      if (bytes.byteLength < minBytes)
        throw shortExternalData(path, dataPath, dataPath, minBytes, bytes.byteLength);
      data.push({ path: location, data: bytes });
    }
    return { model, externalData: data };
  }
}

/** A path's segments, or undefined for a path no model file can have (absolute, "..", backslash). */
function segmentsOf(path: string): string[] | undefined {
  try {
    return checkModelFilePath(path);
  } catch {
    return undefined;
  }
}

/**
 * ModelFiles over the files of an `<input type="file" webkitdirectory>` (a `FileList`) or any list
 * of files with `webkitRelativePath`s. The model folder is the one holding `model_index.json`
 * when exactly one does, else the folder all the files share (the one the user picked). Files
 * outside it are ignored.
 */
export function pickedModelFiles(files: ArrayLike<PickedFile> | Iterable<PickedFile>): ModelFiles {
  const list = readList(files);
  const paths = list.map((file, i) => {
    const path = (file.webkitRelativePath || file.name) ?? '';
    const segments = typeof path === 'string' ? segmentsOf(path) : undefined;
    if (segments === undefined) {
      throw new LoadError({
        field: `files[${i}]`,
        value: path,
        problem: 'has no usable relative path (webkitRelativePath or name)',
        fix: 'pass the files of <input type="file" webkitdirectory> unchanged.',
      });
    }
    return segments;
  });
  const root = rootOf(paths);
  const byPath = new Map<string, PickedFile>();
  for (let i = 0; i < list.length; i++) {
    const segments = paths[i];
    if (segments.length <= root.length || root.some((s, k) => segments[k] !== s)) continue;
    const key = segments.slice(root.length).join('/');
    if (byPath.has(key)) {
      throw new LoadError({
        field: `files[${i}]`,
        value: segments.join('/'),
        problem: 'is picked twice',
        fix: 'pick the model folder once.',
      });
    }
    byPath.set(key, list[i]);
  }
  const name = root.length > 0 ? root.join('/') : 'the picked files';
  return new PickedModelFiles(`picked folder ${name}`, async (segments) => byPath.get(segments.join('/')));
}

function readList(files: ArrayLike<PickedFile> | Iterable<PickedFile>): PickedFile[] {
  let list: PickedFile[];
  try {
    list = Array.from(files as ArrayLike<PickedFile>);
  } catch (cause) {
    throw new LoadError({
      field: 'files',
      problem: 'could not be read as a list of files',
      fix: 'pass input.files of an <input type="file" webkitdirectory>, or an array of File objects.',
      cause,
    });
  }
  for (let i = 0; i < list.length; i++) {
    const file = list[i];
    if (
      file === null ||
      typeof file !== 'object' ||
      typeof file.name !== 'string' ||
      typeof file.arrayBuffer !== 'function' ||
      typeof file.size !== 'number'
    ) {
      throw new LoadError({
        field: `files[${i}]`,
        value: file,
        problem: 'is not a File',
        fix: 'pass input.files of an <input type="file" webkitdirectory>, or an array of File objects.',
      });
    }
  }
  if (list.length === 0) {
    throw new LoadError({
      field: 'files',
      problem: 'is empty',
      fix: 'pick the model folder (the one holding model_index.json, unet/, text_encoder/, ...).',
    });
  }
  return list;
}

/** The folder the model's paths are relative to (segments). */
function rootOf(paths: readonly string[][]): string[] {
  const indexes = paths.filter((p) => p[p.length - 1] === 'model_index.json');
  if (indexes.length === 1) return indexes[0].slice(0, -1);
  // The longest folder prefix every file shares (the picked folder's name, usually).
  let common = paths[0].slice(0, -1);
  for (const p of paths) {
    let k = 0;
    while (k < common.length && k < p.length - 1 && p[k] === common[k]) k++;
    common = common.slice(0, k);
  }
  return common;
}

/** A DOM exception's name ("NotFoundError", "TypeMismatchError"), or undefined. */
function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && typeof (error as Error).name === 'string'
    ? (error as Error).name
    : undefined;
}

/**
 * ModelFiles over a folder handle (`await showDirectoryPicker()`, or
 * `DataTransferItem.getAsFileSystemHandle()` of a dropped folder): files are looked up lazily,
 * one path at a time.
 */
export function directoryModelFiles(handle: DirectoryHandleLike): ModelFiles {
  if (
    handle === null ||
    typeof handle !== 'object' ||
    typeof handle.getDirectoryHandle !== 'function' ||
    typeof handle.getFileHandle !== 'function'
  ) {
    throw new LoadError({
      field: 'handle',
      value: handle,
      problem: 'is not a FileSystemDirectoryHandle',
      fix: 'pass the result of await window.showDirectoryPicker().',
    });
  }
  const lookup: Lookup = async (segments) => {
    let folder = handle;
    try {
      for (const segment of segments.slice(0, -1)) folder = await folder.getDirectoryHandle(segment);
      const file = await folder.getFileHandle(segments[segments.length - 1]);
      return await file.getFile();
    } catch (error) {
      const name = errorName(error);
      if (name === 'NotFoundError' || name === 'TypeMismatchError') return undefined;
      throw new LoadError({
        field: segments.join('/'),
        problem: `could not be opened in the picked folder (${name ?? 'error'}: ${error instanceof Error ? error.message : String(error)})`,
        fix: 'pick the folder again and allow the page to read it.',
        cause: error,
      });
    }
  };
  return new PickedModelFiles(`picked folder ${String(handle.name)}`, lookup);
}
