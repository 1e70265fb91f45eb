/** Writing the files the commands produce. */
import { rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { makeDirectory } from 'ddim';

/**
 * Write `content` to `file`, creating its folder first with the library's `mkdir -p`: Node's
 * `mkdir(..., { recursive: true })` never settles for a folder that cannot exist (under /proc),
 * where this fails at once with the ENOENT. The bytes go to a temporary file beside it, renamed
 * over `file` when complete, so an interrupted or failed write never leaves a half-written file
 * under the name. Returns `file`.
 */
export async function writeOutput(file: string, content: string | Uint8Array): Promise<string> {
  await makeDirectory(dirname(file));
  const partial = `${file}.${process.pid}.partial`;
  try {
    await writeFile(partial, content);
    await rename(partial, file);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return file;
}
