/**
 * Prompts to text embeddings, as diffusers' `StableDiffusionPipeline.encode_prompt`:
 *
 *   ids = tokenizer(texts, padding="max_length", max_length=77, truncation=True)   (one batch)
 *   embeds = text_encoder(ids)[0]                                                 (one call)
 *   embeds.repeat(1, n, 1).view(batch * n, 77, -1)                                (prompt-major)
 *
 * run once for the prompts and, under classifier-free guidance only, once more for the negative
 * prompts (the empty prompt for each when none is given). A prompt longer than the text encoder's
 * context is cut to bos + the first 75 ids + eos, with diffusers' warning.
 */
import type { WarningHandler } from '../errors.js';
import type { Float32Tensor } from '../tensor/tensor.js';
import type { TextEncoderModel } from './components.js';
import { floatOutput, type PipelineOrt, runSession } from './sessions.js';
import type { ClipTokenizer } from './tokenizer.js';

/**
 * The text encoder's `last_hidden_state` for `texts` (one session call on the whole batch):
 * `[texts.length, 77, hidden]` float32. `warnTruncation`: diffusers warns for the prompts, not for
 * the negative prompts.
 */
export async function encodeTexts(
  ort: PipelineOrt,
  textEncoder: TextEncoderModel,
  tokenizer: ClipTokenizer,
  texts: readonly string[],
  onWarning: WarningHandler | null,
): Promise<Float32Tensor> {
  const batch = tokenizer.encodeBatch(texts);
  if (onWarning !== null) {
    for (const encoding of batch.encodings) {
      if (encoding.truncated) {
        onWarning(
          `The following part of your input was truncated because CLIP can only handle sequences up to ${tokenizer.modelMaxLength} tokens: [${JSON.stringify(encoding.removedText ?? '')}]`,
        );
      }
    }
  }
  const dims = batch.dims;
  const ids =
    textEncoder.idsType === 'int64'
      ? new ort.Tensor(
          'int64',
          BigInt64Array.from(batch.ids, (id) => BigInt(id)),
          dims,
        )
      : new ort.Tensor('int32', batch.ids, dims);
  const outputs = await runSession(textEncoder, { [textEncoder.idsName]: ids });
  return floatOutput(textEncoder, outputs, textEncoder.outputName, [texts.length, dims[1], null]);
}

/**
 * Each row of `embeds` repeated `times` times in a row (diffusers' `repeat(1, n, 1).view(...)`):
 * rows [p0, p1] become [p0, p0, p1, p1] for n = 2.
 */
export function repeatRows(embeds: Float32Tensor, times: number): Float32Tensor {
  if (times === 1) return embeds;
  const [rows, ...rest] = embeds.dims;
  const per = embeds.data.length / rows;
  const out = new Float32Array(embeds.data.length * times);
  for (let r = 0; r < rows; r++) {
    const row = embeds.data.subarray(r * per, (r + 1) * per);
    for (let k = 0; k < times; k++) out.set(row, (r * times + k) * per);
  }
  return { data: out, dims: [rows * times, ...rest], type: 'float32' };
}
