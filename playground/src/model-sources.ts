/**
 * Where the Generate panel's model folder comes from, as `ddim/pipeline` ModelFiles:
 *
 *   - `<input type="file" webkitdirectory>`: every file of the folder, with its webkitRelativePath
 *     (`pickedModelFiles`);
 *   - `showDirectoryPicker()` (Chromium-based browsers): a FileSystemDirectoryHandle, read lazily
 *     one file at a time (`directoryModelFiles`);
 *   - a dropped folder: `DataTransferItem.getAsFileSystemHandle()` where the browser has it (a
 *     directory handle, as above), else `webkitGetAsEntry()` (every current browser), a
 *     FileSystemDirectoryEntry read through `entryDirectory` below.
 *
 * A URL or Hub id is a string given to `StableDiffusionPipeline.fromPretrained` itself.
 */
import type { DirectoryHandleLike, ModelFiles } from 'ddim/pipeline';

/**
 * `ddim/pipeline`, imported on first use: a chunk of its own with the tokenizer library, so the
 * schedule pages load without it.
 */
export function pipelineModule(): Promise<typeof import('ddim/pipeline')> {
  return import('ddim/pipeline');
}

/** The model files of an `<input webkitdirectory>`'s selection. */
export async function inputModelFiles(files: readonly File[]): Promise<ModelFiles> {
  return (await pipelineModule()).pickedModelFiles(files);
}

/** The model files of a directory handle (`showDirectoryPicker()`, or a dropped folder's handle). */
export async function handleModelFiles(handle: DirectoryHandleLike): Promise<ModelFiles> {
  return (await pipelineModule()).directoryModelFiles(handle);
}

/** The parts of the File and Directory Entries API used (FileSystemDirectoryEntry, FileSystemFileEntry). */
export interface DirectoryEntryLike {
  readonly name: string;
  readonly isDirectory: boolean;
  getDirectory(
    path: string,
    options: object,
    success: (entry: DirectoryEntryLike) => void,
    failure: (error: unknown) => void,
  ): void;
  getFile(
    path: string,
    options: object,
    success: (entry: FileEntryLike) => void,
    failure: (error: unknown) => void,
  ): void;
}

export interface FileEntryLike {
  file(success: (file: File) => void, failure: (error: unknown) => void): void;
}

/**
 * A FileSystemDirectoryEntry seen as the directory handle `directoryModelFiles` reads: lookups
 * reject with the entry API's NotFoundError / TypeMismatchError, as a handle's do.
 */
export function entryDirectory(entry: DirectoryEntryLike): DirectoryHandleLike {
  return {
    name: entry.name,
    getDirectoryHandle: (name) =>
      new Promise((resolve, reject) =>
        entry.getDirectory(name, {}, (e) => resolve(entryDirectory(e)), reject),
      ),
    getFileHandle: (name) =>
      new Promise((resolve, reject) =>
        entry.getFile(
          name,
          {},
          (e) => resolve({ getFile: () => new Promise<File>((ok, fail) => e.file(ok, fail)) }),
          reject,
        ),
      ),
  };
}

/** A drop's folder, read while the event is dispatched (a DataTransfer is empty afterwards). */
export interface DroppedFolder {
  /** The folder's name. */
  name: string;
  /** Its model files (resolves once the browser hands over the folder's handle). */
  files(): Promise<ModelFiles>;
}

/** A handle as `getAsFileSystemHandle` resolves it. */
interface HandleLike {
  kind: 'file' | 'directory';
}

/**
 * The folder in a drop, or null when the drop holds none (a file: the page's config loader takes
 * it). Must be called during the drop event.
 */
export function droppedFolder(data: DataTransfer | null): DroppedFolder | null {
  if (data === null) return null;
  for (const item of Array.from(data.items)) {
    if (item.kind !== 'file') continue;
    const entry = item.webkitGetAsEntry() as unknown as DirectoryEntryLike | null;
    if (entry === null || !entry.isDirectory) continue;
    // Both asked for now: the item is unusable once the event handler returns.
    const handle = (
      item as DataTransferItem & { getAsFileSystemHandle?: () => Promise<HandleLike | null> }
    ).getAsFileSystemHandle?.();
    return {
      name: entry.name,
      async files() {
        const h = handle === undefined ? null : await handle.catch(() => null);
        if (h !== null && h.kind === 'directory')
          return handleModelFiles(h as unknown as DirectoryHandleLike);
        return handleModelFiles(entryDirectory(entry));
      },
    };
  }
  return null;
}
