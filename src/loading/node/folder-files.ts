/**
 * The local-folder ModelFiles source (Node): a model folder on disk, as Optimum's exporter or
 * diffusers' `convert_stable_diffusion_checkpoint_to_onnx.py` writes it, or a snapshot folder of
 * the Hugging Face cache.
 *
 * `readModel` returns the file's path, not its bytes: ONNX Runtime (onnxruntime-node) then reads
 * the model and its external data files (`weights.pb`, `model.onnx_data`) itself, next to the
 * file, and multi-GB weights never pass through JavaScript.
 *
 * Paths are handled as the config loading does it for local folders (hub-cache.ts): a path inside
 * the folder is checked before it becomes a file name (relative, no "..", no backslash, no
 * absolute path: checkModelFilePath), and symlinks are followed, because the folder is the user's
 * and a cache snapshot folder is made of links into `blobs/`.
 */
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoadError } from '../../errors.js';
import { looksLikeLocalPath } from '../hub-internal.js';
import {
  checkModelFilePath,
  type ModelFiles,
  type ModelFilesSource,
  type OnnxModelFile,
} from '../model-files.js';
import { expandHome } from './hub-cache.js';

/**
 * The largest text file read (JSON configs, vocab.json, merges.txt, tokenizer.json: a few MB at
 * most). Bounds the memory a wrong path (a multi-GB weights file named as a config) can take.
 */
export const MAX_TEXT_BYTES = 64 * 1024 * 1024;

async function statOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(p);
  } catch {
    return undefined;
  }
}

/** A file in a model folder on disk. */
class FolderModelFiles implements ModelFiles {
  readonly location: string;

  constructor(folder: string) {
    this.location = folder;
  }

  /** The absolute path of `file` inside the folder (checked: it cannot lead outside). */
  private resolve(file: string): string {
    return path.join(this.location, ...checkModelFilePath(file));
  }

  private missing(file: string, full: string, what: string): LoadError {
    return new LoadError({
      field: file,
      value: full,
      problem: `${what} in the model folder ${this.location}`,
      fix: `check that the folder is a complete ONNX export (Optimum: optimum-cli export onnx --model <id> <folder>; or diffusers' convert_stable_diffusion_checkpoint_to_onnx.py), or copy ${file} into it.`,
    });
  }

  private async fileStat(file: string): Promise<{ full: string; stat: Stats }> {
    const full = this.resolve(file);
    const stat = await statOrUndefined(full);
    if (stat === undefined) throw this.missing(file, full, 'is missing');
    if (!stat.isFile()) throw this.missing(file, full, 'is not a regular file');
    return { full, stat };
  }

  async has(file: string): Promise<boolean> {
    return (await statOrUndefined(this.resolve(file)))?.isFile() === true;
  }

  async readText(file: string): Promise<string> {
    const { full } = await this.fileStat(file);
    const bytes = await readBounded(file, full, MAX_TEXT_BYTES);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (cause) {
      throw new LoadError({
        field: file,
        value: full,
        problem: 'is not UTF-8 text',
        fix: `replace it with the ${path.posix.basename(file)} of the original export.`,
        cause,
      });
    }
  }

  async readModel(file: string): Promise<OnnxModelFile> {
    const { full, stat } = await this.fileStat(file);
    if (stat.size === 0) {
      throw new LoadError({
        field: file,
        value: full,
        problem: 'is empty (0 bytes): an interrupted copy or download',
        fix: `copy or download ${file} again.`,
      });
    }
    return { model: full, externalData: [] };
  }
}

/** Read a regular file of at most maxBytes (checked on the open handle, so a growing file cannot slip past). */
async function readBounded(file: string, full: string, maxBytes: number): Promise<Uint8Array> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(full, 'r');
  } catch (cause) {
    throw new LoadError({
      field: file,
      value: full,
      problem: `could not be opened (${(cause as { code?: string }).code ?? (cause as Error).message})`,
      fix: 'check the file permissions.',
      cause,
    });
  }
  try {
    const tooLarge = (got: string): LoadError =>
      new LoadError({
        field: file,
        value: full,
        problem: `is larger than ${maxBytes} bytes (${got}): not the text file it should be`,
        fix: `replace it with the ${path.posix.basename(file)} of the original export.`,
      });
    const stat = await handle.stat();
    if (stat.size > maxBytes) throw tooLarge(`${stat.size} bytes`);
    const buffer = new Uint8Array(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      if (length === buffer.length) throw tooLarge('it grew while read');
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

/**
 * Open a local model folder. Throws a LoadError when the path exists but is not a folder; the
 * files themselves are checked when read.
 */
export async function openModelFolder(folder: string): Promise<ModelFiles> {
  const full = path.resolve(expandHome(folder));
  const stat = await statOrUndefined(full);
  if (stat === undefined) {
    throw new LoadError({
      field: 'source',
      value: folder,
      problem: `is not an existing folder (resolved to ${full})`,
      fix: `check the path; relative paths are resolved against the working folder ${process.cwd()}.`,
    });
  }
  if (!stat.isDirectory()) {
    throw new LoadError({
      field: 'source',
      value: folder,
      problem: 'is a file, not a model folder',
      fix: 'pass the folder that holds model_index.json and the unet/, text_encoder/, vae_decoder/, tokenizer/ and scheduler/ folders.',
    });
  }
  return new FolderModelFiles(full);
}

/**
 * What the Node pipeline entry registers: an existing local folder (or a `file:` URL, or a path
 * that can only be local: ./, ../, /, ~, a drive letter) opens as a folder; anything else (an
 * http(s) URL, a Hub repo id) is left to the other sources. As in diffusers, an existing local
 * folder wins over a Hub repo id of the same name.
 */
export const folderModelFilesSource: ModelFilesSource = {
  name: 'folder',
  async open(source) {
    if (source.startsWith('file:')) {
      let folder: string;
      try {
        folder = fileURLToPath(source);
      } catch (cause) {
        throw new LoadError({
          field: 'source',
          value: source,
          problem: 'is not a valid file: URL',
          fix: 'pass a folder path or a file:///absolute/path URL.',
          cause,
        });
      }
      return openModelFolder(folder);
    }
    if (/^https?:\/\//i.test(source)) return undefined;
    if (looksLikeLocalPath(source)) return openModelFolder(source);
    const stat = await statOrUndefined(path.resolve(expandHome(source)));
    return stat === undefined ? undefined : openModelFolder(source);
  },
};
