/**
 * A Stable Diffusion ONNX model folder, loaded: the tokenizer, the scheduler, the VAE's config and
 * the ONNX sessions of the text encoder, the UNet and the VAE, each checked to be what the
 * pipeline will feed, so that a broken or foreign folder is a LoadError naming the file and the
 * fix before any model runs.
 *
 * The layouts read (the two public ONNX exports of Stable Diffusion 1.x / 2.x):
 *
 *   Optimum (`optimum-cli export onnx`)        diffusers' convert_stable_diffusion_checkpoint_to_onnx.py
 *   text_encoder/model.onnx  input_ids int64    input_ids int32
 *   unet/model.onnx          sample, timestep, encoder_hidden_states -> out_sample (both)
 *   vae_decoder/model.onnx   latent_sample -> sample (both)
 *   vae_encoder/model.onnx   sample -> latent_parameters (mean, logvar: the pipeline samples, seeded)
 *                                               sample -> latent_sample (sampled inside the graph, unseeded)
 *   <component>/config.json  written             absent: then scaling_factor 0.18215, VAE factor 8
 *   tokenizer/, scheduler/, model_index.json    (both)
 *
 * Weights in external data files (`weights.pb`, `model.onnx_data`) load with their model: ONNX
 * Runtime reads them next to a model path, and sources that hand over bytes list them.
 */

import type { WarningHandler } from '../errors.js';
import { LoadError } from '../errors.js';
import { assertNoForbiddenKeys, isPlainObject } from '../guard.js';
import type { ModelFiles } from '../loading/model-files.js';
import type { DDIMScheduler } from '../scheduler/ddim.js';
import { pipelineScheduler } from './pipeline-scheduler.js';
import {
  createSession,
  type FloatInputType,
  floatInputType,
  inputMetadata,
  type ModelSession,
  type PipelineOrt,
  releaseSession,
} from './sessions.js';
import { ClipTokenizer } from './tokenizer.js';

/** diffusers' default `scaling_factor` (AutoencoderKL of SD 1.x / 2.x), used when the folder says none. */
export const DEFAULT_SCALING_FACTOR = 0.18215;
/** SD's VAE scale factor (`2 ** (len(block_out_channels) - 1)` for its 4 blocks), when the folder says none. */
export const DEFAULT_VAE_SCALE_FACTOR = 8;
/** diffusers' ONNX pipelines' default image size when the folder has no unet/config.json. */
export const DEFAULT_IMAGE_SIZE = 512;

/**
 * How a VAE encoder export gives the image's latent, by its output's name: the distribution's
 * parameters (Optimum: mean and log-variance; the pipeline samples, seeded), or a sample drawn
 * inside the graph (diffusers' old export script: unseeded).
 */
export const VAE_ENCODER_STYLES = ['latent_parameters', 'latent_sample'] as const;
/** One of {@link VAE_ENCODER_STYLES}. */
export type VaeEncoderStyle = (typeof VAE_ENCODER_STYLES)[number];

/** The text encoder session and how to feed it. */
export interface TextEncoderModel extends ModelSession {
  /** The ids input's name (`input_ids`). */
  idsName: string;
  /** The ids' element type, read from the session: int32 (diffusers' export) or int64 (Optimum's). */
  idsType: 'int32' | 'int64';
  /** The output read: `last_hidden_state` (diffusers' `text_encoder(ids)[0]`). */
  outputName: string;
}

/** The UNet session and what the folder says about its latents. */
export interface UnetModel extends ModelSession {
  /** Latent channels (`in_channels`: 4 for SD). */
  latentChannels: number;
  /** The text embeddings' width the UNet takes, when the model declares it (768 SD 1.x, 1024 SD 2.x). */
  hiddenSize: number | null;
}

/** A VAE session (decoder or encoder): its one input and the output read. */
export interface VaeModel extends ModelSession {
  inputName: string;
  inputType: FloatInputType;
  outputName: string;
}

/** The VAE encoder, with its export style. */
export interface VaeEncoderModel extends VaeModel {
  style: VaeEncoderStyle;
}

/** Everything `StableDiffusionPipeline` runs with. */
export interface PipelineComponents {
  files: ModelFiles;
  tokenizer: ClipTokenizer;
  scheduler: DDIMScheduler;
  textEncoder: TextEncoderModel;
  unet: UnetModel;
  vaeDecoder: VaeModel;
  /** Null when the folder has no vae_encoder/ (text-to-image only). */
  vaeEncoder: VaeEncoderModel | null;
  /** `vae.config.scaling_factor`: latents are divided by it before decoding, multiplied after encoding. */
  scalingFactor: number;
  /** Image pixels per latent pixel: `2 ** (len(vae.config.block_out_channels) - 1)`. */
  vaeScaleFactor: number;
  /** `unet.config.sample_size * vaeScaleFactor`, diffusers' default height and width. */
  defaultSize: number;
}

/** The files without which there is no pipeline, and what each is. */
const REQUIRED: readonly (readonly [string, string])[] = [
  ['unet/model.onnx', 'the UNet'],
  ['text_encoder/model.onnx', 'the text encoder'],
  ['vae_decoder/model.onnx', 'the VAE decoder'],
  ['tokenizer/vocab.json', "the tokenizer's vocabulary"],
  ['tokenizer/merges.txt', "the tokenizer's BPE merges"],
  ['scheduler/scheduler_config.json', 'the scheduler config'],
];

const EXPORT_FIX =
  'use a complete Stable Diffusion ONNX export: optimum-cli export onnx --model <repo> <folder> (Optimum), or diffusers\u2019 scripts/convert_stable_diffusion_checkpoint_to_onnx.py';

/**
 * Load and check a model folder's components. `checkAbort` throws when the load is cancelled; it
 * is called before each session is made (a cancelled load releases the sessions already made).
 */
export async function loadComponents(
  files: ModelFiles,
  ort: PipelineOrt,
  sessionOptions: object | undefined,
  onWarning: WarningHandler,
  checkAbort: (where: string) => void = () => {},
): Promise<PipelineComponents> {
  // Every required file first, so that a folder missing several names them all at once.
  const present = await Promise.all(REQUIRED.map(([file]) => files.has(file)));
  const missing = REQUIRED.filter((_, i) => !present[i]);
  if (missing.length > 0) {
    throw new LoadError({
      field: missing[0][0],
      value: files.location,
      problem: `is missing from the model folder (${missing.map(([file, what]) => `${file}: ${what}`).join('; ')})`,
      fix: `${EXPORT_FIX}; or copy the missing file${missing.length > 1 ? 's' : ''} from the export.`,
    });
  }

  const tokenizer = await loadTokenizer(files);
  const scheduler = pipelineScheduler(await readJson(files, 'scheduler/scheduler_config.json'), onWarning);
  const vaeConfig = await readFirstJson(files, [
    'vae_decoder/config.json',
    'vae_encoder/config.json',
    'vae/config.json',
  ]);
  const unetConfig = (await files.has('unet/config.json')) ? await readJson(files, 'unet/config.json') : null;
  const scalingFactor = readScalingFactor(vaeConfig);
  const vaeScaleFactor = readVaeScaleFactor(vaeConfig);

  // Sessions one after another: each may be GBs, and loading them at once doubles the peak. A
  // failure releases those already made.
  const created: ModelSession[] = [];
  const session = async (file: string): Promise<ModelSession> => {
    checkAbort(`before loading ${file}`);
    const made = await createSession(ort, files, file, sessionOptions);
    created.push(made);
    return made;
  };
  let textEncoder: TextEncoderModel;
  let unet: UnetModel;
  let vaeDecoder: VaeModel;
  let vaeEncoder: VaeEncoderModel | null = null;
  try {
    textEncoder = checkTextEncoder(await session('text_encoder/model.onnx'), tokenizer);
    unet = checkUnet(await session('unet/model.onnx'), unetConfig);
    vaeDecoder = checkVae(await session('vae_decoder/model.onnx'), 'latent_sample', ['sample']);
    if (await files.has('vae_encoder/model.onnx')) {
      const encoder = checkVae(await session('vae_encoder/model.onnx'), 'sample', VAE_ENCODER_STYLES);
      vaeEncoder = { ...encoder, style: encoder.outputName as VaeEncoderStyle };
    }
  } catch (error) {
    await Promise.allSettled(created.map((made) => releaseSession(made.session)));
    throw error;
  }
  const sampleSize = readSampleSize(unetConfig);
  return {
    files,
    tokenizer,
    scheduler,
    textEncoder,
    unet,
    vaeDecoder,
    vaeEncoder,
    scalingFactor,
    vaeScaleFactor,
    defaultSize: sampleSize === null ? DEFAULT_IMAGE_SIZE : sampleSize * vaeScaleFactor,
  };
}

async function loadTokenizer(files: ModelFiles): Promise<ClipTokenizer> {
  const optional = async (name: string): Promise<string | undefined> =>
    (await files.has(`tokenizer/${name}`)) ? files.readText(`tokenizer/${name}`) : undefined;
  const [vocab, merges, tokenizerConfig, specialTokensMap, tokenizerJson] = await Promise.all([
    files.readText('tokenizer/vocab.json'),
    files.readText('tokenizer/merges.txt'),
    optional('tokenizer_config.json'),
    optional('special_tokens_map.json'),
    optional('tokenizer.json'),
  ]);
  try {
    return ClipTokenizer.fromFiles({ vocab, merges, tokenizerConfig, specialTokensMap, tokenizerJson });
  } catch (error) {
    // The tokenizer names the file ("merges.txt line 5"); in a model folder it is tokenizer/'s.
    if (error instanceof LoadError) {
      throw new LoadError({
        field: `tokenizer/${error.field}`,
        value: error.value,
        problem: error.problem,
        fix: error.fix,
        cause: error,
      });
    }
    throw error;
  }
}

/** A JSON object file of the folder; a LoadError naming it when it is not one. */
async function readJson(files: ModelFiles, file: string): Promise<Record<string, unknown>> {
  const text = await files.readText(file);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new LoadError({
      field: file,
      value: files.location,
      problem: `is not valid JSON (${(cause as Error).message})`,
      fix: `replace ${file} with the file of the original export.`,
      cause,
    });
  }
  if (!isPlainObject(value)) {
    throw new LoadError({
      field: file,
      value: files.location,
      problem: 'must hold a JSON object',
      fix: `replace ${file} with the file of the original export.`,
    });
  }
  assertNoForbiddenKeys(value, file, { error: LoadError, where: file, maxDepth: 64 });
  return value;
}

/** The first of `candidates` the folder has, parsed; null when it has none. */
async function readFirstJson(
  files: ModelFiles,
  candidates: readonly string[],
): Promise<{ file: string; config: Record<string, unknown> } | null> {
  for (const file of candidates) {
    if (await files.has(file)) return { file, config: await readJson(files, file) };
  }
  return null;
}

function configError(file: string, key: string, value: unknown, problem: string, fix: string): LoadError {
  return new LoadError({ field: `${file} ${key}`, value, problem, fix });
}

function readScalingFactor(vae: { file: string; config: Record<string, unknown> } | null): number {
  const value = vae?.config.scaling_factor;
  if (value === undefined || value === null) return DEFAULT_SCALING_FACTOR;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw configError(
      vae!.file,
      'scaling_factor',
      value,
      'must be a positive number',
      `use the VAE's own config (SD 1.x / 2.x: ${DEFAULT_SCALING_FACTOR}).`,
    );
  }
  return value;
}

function readVaeScaleFactor(vae: { file: string; config: Record<string, unknown> } | null): number {
  const blocks = vae?.config.block_out_channels;
  if (blocks === undefined || blocks === null) return DEFAULT_VAE_SCALE_FACTOR;
  if (!Array.isArray(blocks) || blocks.length < 1 || blocks.length > 8) {
    throw configError(
      vae!.file,
      'block_out_channels',
      blocks,
      'must be a list of 1 to 8 channel counts',
      "use the VAE's own config (SD: [128, 256, 512, 512]).",
    );
  }
  // diffusers: vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1).
  return 2 ** (blocks.length - 1);
}

function readSampleSize(unet: Record<string, unknown> | null): number | null {
  const size = unet?.sample_size;
  if (size === undefined || size === null) return null;
  if (typeof size !== 'number' || !Number.isInteger(size) || size < 1) {
    throw configError(
      'unet/config.json',
      'sample_size',
      size,
      'must be a positive integer (latent pixels)',
      "use the UNet's own config (SD 1.5: 64, SD 2.x 768: 96).",
    );
  }
  return size;
}

function listNames(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.map((n) => `'${n}'`).join(', ');
}

function signatureError(model: ModelSession, problem: string): LoadError {
  return new LoadError({
    field: model.file,
    value: { inputs: [...model.session.inputNames], outputs: [...model.session.outputNames] },
    problem,
    fix: `check that the file is this component of a Stable Diffusion 1.x / 2.x ONNX export; ${EXPORT_FIX}.`,
  });
}

function checkTextEncoder(model: ModelSession, tokenizer: ClipTokenizer): TextEncoderModel {
  const { inputNames, outputNames } = model.session;
  if (inputNames.length !== 1) {
    throw signatureError(
      model,
      `has the inputs ${listNames(inputNames)}; a CLIP text encoder export has one, 'input_ids'`,
    );
  }
  const idsName = inputNames[0];
  const meta = inputMetadata(model.session, idsName);
  const type = meta?.type ?? 'int32';
  if (type !== 'int32' && type !== 'int64') {
    throw signatureError(model, `has an input '${idsName}' of type ${type}; token ids are int32 or int64`);
  }
  const length = meta?.shape?.[1];
  if (
    meta?.shape !== undefined &&
    (meta.shape.length !== 2 || (typeof length === 'number' && length !== tokenizer.modelMaxLength))
  ) {
    throw signatureError(
      model,
      `has an input '${idsName}' of shape [${meta.shape.join(', ')}]; the tokenizer makes [batch, ${tokenizer.modelMaxLength}]`,
    );
  }
  const outputName = outputNames.includes('last_hidden_state') ? 'last_hidden_state' : outputNames[0];
  if (outputName === undefined) throw signatureError(model, 'has no outputs');
  return { ...model, idsName, idsType: type, outputName };
}

const UNET_INPUTS = ['sample', 'timestep', 'encoder_hidden_states'];

function checkUnet(model: ModelSession, config: Record<string, unknown> | null): UnetModel {
  const { inputNames, outputNames } = model.session;
  const extra = inputNames.filter((name) => !UNET_INPUTS.includes(name));
  const absent = UNET_INPUTS.filter((name) => !inputNames.includes(name));
  if (extra.length > 0 || absent.length > 0 || !outputNames.includes('out_sample')) {
    throw signatureError(
      model,
      `has the inputs ${listNames(inputNames)} and outputs ${listNames(outputNames)}; a Stable Diffusion UNet export has the inputs 'sample', 'timestep', 'encoder_hidden_states' and the output 'out_sample'${extra.length > 0 ? ` (SDXL, LCM and ControlNet UNets take more inputs and are not supported)` : ''}`,
    );
  }
  floatInputType(model, 'sample');
  floatInputType(model, 'encoder_hidden_states');
  const sampleShape = inputMetadata(model.session, 'sample')?.shape;
  const ehsShape = inputMetadata(model.session, 'encoder_hidden_states')?.shape;
  let latentChannels = 4;
  const configured = config?.in_channels;
  if (typeof configured === 'number' && Number.isInteger(configured) && configured > 0)
    latentChannels = configured;
  else if (typeof sampleShape?.[1] === 'number') latentChannels = sampleShape[1];
  const hidden = ehsShape?.[2];
  return { ...model, latentChannels, hiddenSize: typeof hidden === 'number' ? hidden : null };
}

function checkVae(model: ModelSession, input: string, outputs: readonly string[]): VaeModel {
  const { inputNames, outputNames } = model.session;
  const outputName = outputs.find((name) => outputNames.includes(name));
  if (inputNames.length !== 1 || inputNames[0] !== input || outputName === undefined) {
    throw signatureError(
      model,
      `has the inputs ${listNames(inputNames)} and outputs ${listNames(outputNames)}; this VAE export has the input '${input}' and the output ${outputs.map((o) => `'${o}'`).join(' or ')}`,
    );
  }
  return { ...model, inputName: input, inputType: floatInputType(model, input), outputName };
}
