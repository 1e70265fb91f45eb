/**
 * The package entry under Node (`exports["."].node`): everything the core exports, plus loading
 * from local folders and files and the Hugging Face cache shared with Python, registered with the
 * core's config-source registry on import. Browsers get the core entry, which loads by URL and
 * Hub id over fetch only.
 *
 * @module ddim (Node)
 */
import { registerConfigSource } from '../loading/hub.js';
import { nodeConfigSource } from '../loading/node/hub-cache.js';

export * from '../index.js';
// The `mkdir -p` the Hugging Face cache writes with, public because a folder that cannot exist
// (under /proc) must fail at once for every writer, not hang in Node's recursive mkdir: the CLI
// writes its outputs with it. One implementation, here.
export { makeDirectory } from '../loading/node/hub-cache.js';

registerConfigSource(nodeConfigSource);
