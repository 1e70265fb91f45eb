/**
 * `ddim/pipeline` under Node (`exports["./pipeline"].node`): everything the browser-safe entry
 * exports, plus local model folders, registered as a ModelFiles source on import, so that
 * `StableDiffusionPipeline.fromPretrained('./sd15-onnx', { ort })` opens the folder (ONNX Runtime
 * reads the models and their external weights from disk by path).
 *
 * @module ddim/pipeline (Node)
 */
import { registerModelFilesSource } from '../loading/model-files.js';
import { folderModelFilesSource, openModelFolder } from '../loading/node/folder-files.js';

export * from '../pipeline/index.js';
export { openModelFolder };

registerModelFilesSource(folderModelFilesSource);
