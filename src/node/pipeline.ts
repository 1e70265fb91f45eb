/**
 * `ddim/pipeline` under Node (`exports["./pipeline"].node`): everything the browser-safe entry
 * exports, plus local model folders and Hub repositories through the Hugging Face cache shared
 * with Python, registered as ModelFiles sources on import, so that
 * `StableDiffusionPipeline.fromPretrained('./sd15-onnx', { ort })` opens the folder and
 * `fromPretrained('org/name', { ort })` downloads what it reads into the cache (ONNX Runtime reads
 * the models and their external weights from disk by path in both cases).
 *
 * @module ddim/pipeline (Node)
 */
import { registerModelFilesSource } from '../loading/model-files.js';
import { folderModelFilesSource, openModelFolder } from '../loading/node/folder-files.js';
import { registerNodeModelSources } from '../loading/node/model-sources.js';

export * from '../pipeline/index.js';
export { openModelFolder };

registerModelFilesSource(folderModelFilesSource);
// Hub repo ids; an existing local path is left to the folder source whatever the order.
registerNodeModelSources();
