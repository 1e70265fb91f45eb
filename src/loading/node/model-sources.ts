/**
 * The model folder sources a Node entry registers: Hub repo ids through the Hugging Face cache
 * (hub-model-files.ts), tried before the core's in-memory fetch of the same ids. URLs stay with
 * the core's source; local folders and `file:` URLs belong to the local-folder source.
 */
import { looksLikeLocalPath } from '../hub-internal.js';
import { type ModelFilesSource, registerModelFilesSource } from '../model-files.js';
import { expandHome, statOrUndefined } from './hub-cache.js';
import { openHubModelFiles } from './hub-model-files.js';

/** Hub repo ids, downloaded into (and read offline from) the Hugging Face cache shared with Python. */
export const hubCacheModelFilesSource: ModelFilesSource = {
  name: 'hub-cache',
  async open(source, options) {
    if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(source) || looksLikeLocalPath(source)) return undefined;
    // An existing path is a local folder, not a repo id: diffusers looks on disk first, and so the
    // local-folder source gets "models/sd15" when that folder exists, whatever the registration order.
    if (await statOrUndefined(expandHome(source))) return undefined;
    return openHubModelFiles(source, options);
  },
};

/**
 * Register the Node model folder sources with `openModelFiles` (idempotent: registering again
 * replaces by name). Returns a function that removes them.
 */
export function registerNodeModelSources(): () => void {
  return registerModelFilesSource(hubCacheModelFilesSource);
}
