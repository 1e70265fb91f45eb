/** Writing the files the commands produce. */
import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { makeDirectory } from 'ddim';

/**
 * Write `content` to `file`, creating its folder first with the library's `mkdir -p`: Node's
 * `mkdir(..., { recursive: true })` never settles for a folder that cannot exist (under /proc),
 * where this fails at once with the ENOENT. Returns `file`.
 */
export async function writeOutput(file: string, content: string | Uint8Array): Promise<string> {
  await makeDirectory(dirname(file));
  await writeFile(file, content);
  return file;
}
