/**
 * Preloaded into the `ddim` child process (NODE_OPTIONS=--import) by test/cli-generate.test.ts: a
 * model folder source standing in for the Hub's, registered with the built `ddim/pipeline` the CLI
 * runs (the same module instance, so the pipeline's `openModelFiles` tries it), the way the Node
 * entry registers its own sources. For the repo id in DDIM_TEST_HUB_REPO it writes the options it
 * received to DDIM_TEST_HUB_RECORD (JSON; functions and signals by their kind), reports a download through
 * `onProgress`, and serves the folder DDIM_TEST_HUB_FOLDER. Nothing touches the network.
 */
import { writeFileSync } from 'node:fs';
import { openModelFolder, registerModelFilesSource } from 'ddim/pipeline';

registerModelFilesSource({
  name: 'test-hub',
  async open(source, options) {
    if (source !== process.env.DDIM_TEST_HUB_REPO) return undefined;
    const record = Object.fromEntries(
      Object.entries(options).map(([key, value]) => [
        key,
        typeof value === 'function' ? 'function' : value instanceof AbortSignal ? 'AbortSignal' : value,
      ]),
    );
    writeFileSync(process.env.DDIM_TEST_HUB_RECORD, JSON.stringify(record));
    options.onProgress?.({ file: 'unet/model.onnx', loaded: 0, total: 2_000_000 });
    options.onProgress?.({ file: 'unet/model.onnx', loaded: 2_000_000, total: 2_000_000 });
    options.onProgress?.({ file: 'tokenizer/vocab.json', loaded: 862_328, total: null });
    return openModelFolder(process.env.DDIM_TEST_HUB_FOLDER);
  },
});
