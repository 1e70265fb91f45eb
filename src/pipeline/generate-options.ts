/**
 * The options of `StableDiffusionPipeline.generate`, read once and checked before any model runs
 * (diffusers checks some of them only after its text encoder ran, and a few never: see
 * docs/pipeline.md). What diffusers accepts is accepted with its meaning; what it would crash on,
 * run wrongly or silently ignore is a typed error naming the option and the fix:
 *
 *   - `prompt` (string or list) or `promptEmbeds`, not both; `negativePrompt` or
 *     `negativePromptEmbeds`, not both; a string negative prompt goes with a string prompt and a
 *     list with a list of the same length (diffusers' TypeError / ValueError);
 *   - a generator list has one generator per image (prompts x numImagesPerPrompt);
 *   - text-to-image sizes are multiples of 8 (diffusers' `check_inputs`) and of the VAE factor;
 *     an image's size must be a multiple of the VAE factor (diffusers resizes it with Lanczos:
 *     here the message names the nearest valid sizes) and agree with `height` / `width`;
 *   - `strength` needs an image, lies in [0, 1] and must keep at least one step (diffusers crashes
 *     on a run of 0 steps);
 *   - `latents` have the batch and latent size of the run (diffusers fails inside the UNet).
 */
import { AbortError, ArgumentError, LoadError, ShapeError } from '../errors.js';
import {
  checkNumber,
  checkOptionalFunction,
  checkSignal,
  guarded,
  readOptions,
  unreadable,
} from '../guard.js';
import { checkGenerators, type Generator } from '../noise/generator.js';
import { checkStrength } from '../sampling/img2img.js';
import type { StepInfo } from '../sampling/loop.js';
import { convertInto } from '../tensor/dtype.js';
import { checkTensor, type Float32Tensor, type TensorLike } from '../tensor/tensor.js';
import { type CheckedImage, checkImage, type ImageInput, nearestMultiples } from './image.js';
import { MAX_PROMPT_LENGTH } from './tokenizer.js';

/** Options of `StableDiffusionPipeline.generate`: diffusers' `__call__` arguments, camelCased. */
export interface GenerateOptions {
  /** The prompt, or one per image batch entry (`string[]`). Required unless `promptEmbeds` is given. */
  prompt?: string | readonly string[];
  /**
   * What to steer away from: a string with a string prompt, a list (same length) with a list.
   * Default: the empty prompt for each. Used only when `guidanceScale > 1`.
   */
  negativePrompt?: string | readonly string[];
  /** Text embeddings `[batch, 77, hidden]` instead of `prompt` (float32, float16 or float64). */
  promptEmbeds?: TensorLike;
  /** Negative text embeddings instead of `negativePrompt`, with `promptEmbeds`' dims. */
  negativePromptEmbeds?: TensorLike;
  /** Image height in pixels. Default: the UNet's `sample_size` times the VAE factor (512 for SD 1.5), or the image's. */
  height?: number;
  /** Image width in pixels. Default as `height`. */
  width?: number;
  /** Images per prompt (diffusers' `num_images_per_prompt`). Default 1. */
  numImagesPerPrompt?: number;
  /** Denoising steps of the full schedule (image-to-image runs `int(n * strength)` of them). Default 50. */
  numInferenceSteps?: number;
  /** Classifier-free guidance scale; guidance runs only above 1, as in diffusers. Default 7.5. */
  guidanceScale?: number;
  /** Guidance rescale phi (Lin et al. 2023); 0 is off. Also in image-to-image (an extension of diffusers'). Default 0. */
  guidanceRescale?: number;
  /** DDIM eta: 0 deterministic, 1 DDPM-like (drawn from the generator each step). Default 0. */
  eta?: number;
  /**
   * The random source: one Generator draws everything in diffusers' order; a list has one per
   * image (prompts x numImagesPerPrompt), as diffusers. Default: the default generator.
   */
  generator?: Generator | readonly Generator[] | null;
  /** Starting latents x_T `[batch, 4, height / f, width / f]` instead of drawing them (text-to-image). */
  latents?: TensorLike;
  /** Image-to-image: the starting picture (RGBA or RGB bytes), e.g. an ImageData. */
  image?: ImageInput;
  /** Image-to-image: how much of the schedule to run, in [0, 1]. Default 0.8 (diffusers'). */
  strength?: number;
  /** Stops the run with an AbortError (checked before each stage and each step). */
  signal?: AbortSignal;
  /** Called after every denoising step (awaited); its tensors are valid only during the call. */
  onStep?: (info: StepInfo) => void | Promise<void>;
}

const GENERATE_KEYS: ReadonlySet<string> = new Set([
  'prompt',
  'negativePrompt',
  'promptEmbeds',
  'negativePromptEmbeds',
  'height',
  'width',
  'numImagesPerPrompt',
  'numInferenceSteps',
  'guidanceScale',
  'guidanceRescale',
  'eta',
  'generator',
  'latents',
  'image',
  'strength',
  'signal',
  'onStep',
]);

/** What the checks need to know about the loaded model. */
export interface ModelFacts {
  vaeScaleFactor: number;
  /** Default height and width (text-to-image). */
  defaultSize: number;
  latentChannels: number;
  /** The text embeddings' width, when the model declares it. */
  hiddenSize: number | null;
  /** The tokenizer's sequence length (77). */
  sequenceLength: number;
  /** Whether the folder has a VAE encoder (image-to-image). */
  hasEncoder: boolean;
}

/** A checked `generate` call. */
export interface GenerateRequest {
  /** The prompts to encode, or null when `promptEmbeds` were given. */
  prompts: string[] | null;
  promptEmbeds: Float32Tensor | null;
  /** Whether classifier-free guidance runs (guidanceScale > 1). */
  guided: boolean;
  /** Under guidance: the negative prompts to encode (null when given as embeddings, or without guidance). */
  negativePrompts: string[] | null;
  negativePromptEmbeds: Float32Tensor | null;
  /** diffusers' `batch_size`: the number of prompts (or promptEmbeds rows). */
  promptCount: number;
  numImagesPerPrompt: number;
  /** prompts x images per prompt. */
  batch: number;
  height: number;
  width: number;
  numInferenceSteps: number;
  guidanceScale: number;
  guidanceRescale: number;
  eta: number;
  generator: Generator | Generator[] | null;
  latents: Float32Tensor | null;
  image: CheckedImage | null;
  strength: number;
  signal: AbortSignal | undefined;
  onStep: GenerateOptions['onStep'];
  /** Notices about inputs that have no effect (a negative prompt without guidance). */
  notices: string[];
}

/** Throw the AbortError of an aborted signal. */
export function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted === true) {
    throw new AbortError({
      field: 'signal',
      problem: `aborted the pipeline ${where}`,
      fix: 'start a new generate call; the pipeline is ready for it.',
      cause: signal.reason,
    });
  }
}

/** Read and check `generate`'s options against the model. */
export function readGenerateOptions(options: unknown, model: ModelFacts): GenerateRequest {
  const o = readOptions(options, {
    allowed: GENERATE_KEYS,
    field: 'options',
    example: "{ prompt: 'a photo of an astronaut' }",
    kind: 'an option of generate',
    required: true,
  }) as GenerateOptions;
  return guarded(
    () => readUnguarded(o, model),
    unreadable(ArgumentError, 'options', 'pass plain values (strings, numbers, tensors, an ImageData).'),
  );
}

function readUnguarded(o: GenerateOptions, model: ModelFacts): GenerateRequest {
  const notices: string[] = [];
  const signal = checkSignal(o.signal);
  checkOptionalFunction(o.onStep, 'options.onStep', 'pass (info) => { ... }, or leave it out.');

  // Prompts: text or embeddings (diffusers' check_inputs).
  if (o.prompt !== undefined && o.promptEmbeds !== undefined) {
    throw new ArgumentError({
      field: 'options.promptEmbeds',
      problem: 'cannot be combined with options.prompt',
      fix: 'pass the prompt as text or as embeddings, not both.',
    });
  }
  let prompts: string[] | null = null;
  let promptEmbeds: Float32Tensor | null = null;
  let promptCount: number;
  if (o.promptEmbeds !== undefined) {
    promptEmbeds = readEmbeds(o.promptEmbeds, 'options.promptEmbeds', model);
    promptCount = promptEmbeds.dims[0];
  } else if (o.prompt !== undefined) {
    prompts = readTexts(o.prompt, 'options.prompt');
    promptCount = prompts.length;
  } else {
    throw new ArgumentError({
      field: 'options.prompt',
      value: undefined,
      problem: 'is required (or options.promptEmbeds)',
      fix: "pass e.g. { prompt: 'a photo of an astronaut riding a horse' }.",
    });
  }

  const guidanceScale = checkNumber(
    o.guidanceScale ?? 7.5,
    'options.guidanceScale',
    {},
    'pass e.g. 7.5; values <= 1 turn classifier-free guidance off, as in diffusers.',
  );
  const guided = guidanceScale > 1;
  const guidanceRescale = checkNumber(
    o.guidanceRescale ?? 0,
    'options.guidanceRescale',
    { min: 0 },
    'pass a number in [0, 1], e.g. 0.7 for zero-SNR models; 0 turns it off.',
  );

  // Negative prompts: checked as diffusers' encode_prompt does under guidance, whatever the scale.
  if (o.negativePrompt !== undefined && o.negativePromptEmbeds !== undefined) {
    throw new ArgumentError({
      field: 'options.negativePromptEmbeds',
      problem: 'cannot be combined with options.negativePrompt',
      fix: 'pass the negative prompt as text or as embeddings, not both.',
    });
  }
  let negativeTexts: string[];
  if (o.negativePrompt === undefined) {
    negativeTexts = new Array<string>(promptCount).fill('');
  } else {
    if (prompts !== null && (typeof o.prompt === 'string') !== (typeof o.negativePrompt === 'string')) {
      throw new ArgumentError({
        field: 'options.negativePrompt',
        value: o.negativePrompt,
        problem: `is ${typeof o.negativePrompt === 'string' ? 'a string' : 'a list'} but options.prompt is ${typeof o.prompt === 'string' ? 'a string' : 'a list'} (diffusers raises a TypeError)`,
        fix: 'pass a string with a string prompt, or a list of the same length with a list of prompts.',
      });
    }
    negativeTexts = readTexts(o.negativePrompt, 'options.negativePrompt');
    if (negativeTexts.length !== promptCount) {
      throw new ArgumentError({
        field: 'options.negativePrompt',
        value: o.negativePrompt,
        problem: `has ${negativeTexts.length} prompt${negativeTexts.length === 1 ? '' : 's'} but there ${promptCount === 1 ? 'is 1 prompt' : `are ${promptCount} prompts`}`,
        fix: 'pass one negative prompt per prompt.',
      });
    }
  }
  let negativePromptEmbeds: Float32Tensor | null = null;
  if (o.negativePromptEmbeds !== undefined) {
    negativePromptEmbeds = readEmbeds(o.negativePromptEmbeds, 'options.negativePromptEmbeds', model);
    const want = promptEmbeds?.dims ?? [promptCount, model.sequenceLength, negativePromptEmbeds.dims[2]];
    if (negativePromptEmbeds.dims.some((d, i) => d !== want[i])) {
      throw new ShapeError({
        field: 'options.negativePromptEmbeds.dims',
        value: negativePromptEmbeds.dims,
        problem: `must equal the prompt embeddings' dims [${want.join(', ')}]`,
        fix: 'encode the negative prompts with the same batch and padding as the prompts.',
      });
    }
  }
  if (!guided && (o.negativePrompt !== undefined || o.negativePromptEmbeds !== undefined)) {
    notices.push(
      `${o.negativePrompt !== undefined ? 'negativePrompt' : 'negativePromptEmbeds'} is ignored: classifier-free guidance runs only when guidanceScale > 1 (got ${guidanceScale}), as in diffusers.`,
    );
  }

  const numImagesPerPrompt = checkNumber(
    o.numImagesPerPrompt ?? 1,
    'options.numImagesPerPrompt',
    { min: 1, max: 4096, integer: true },
    'pass a whole number of images per prompt, e.g. 1.',
  );
  const batch = promptCount * numImagesPerPrompt;
  const generator = readGenerator(o.generator, batch);
  const numInferenceSteps = checkNumber(
    o.numInferenceSteps ?? 50,
    'options.numInferenceSteps',
    { min: 1, integer: true },
    'pass a whole number of denoising steps, e.g. 50.',
  );
  const eta = checkNumber(o.eta ?? 0, 'options.eta', { min: 0 }, 'use 0 for DDIM, 1 for DDPM-like sampling.');

  // Image-to-image, or text-to-image sizes.
  let image: CheckedImage | null = null;
  let strength = 1;
  let height: number;
  let width: number;
  const f = model.vaeScaleFactor;
  if (o.image !== undefined) {
    if (!model.hasEncoder) {
      throw new LoadError({
        field: 'vae_encoder/model.onnx',
        problem: 'is missing from the model folder, and image-to-image needs the VAE encoder',
        fix: 'export the VAE encoder too (Optimum writes vae_encoder/ by default), or generate without an image.',
      });
    }
    if (o.latents !== undefined) {
      throw new ArgumentError({
        field: 'options.latents',
        problem: 'cannot be combined with options.image',
        fix: 'pass latents (x_T) for text-to-image, or an image with strength for image-to-image.',
      });
    }
    image = checkImage(o.image, 'options.image');
    strength = checkStrength(o.strength ?? 0.8, 'options.strength');
    for (const [name, size] of [
      ['width', image.width],
      ['height', image.height],
    ] as const) {
      if (size % f !== 0) {
        throw new ArgumentError({
          field: `options.image.${name}`,
          value: size,
          problem: `must be a multiple of the VAE factor ${f}`,
          fix: `resize or crop the image to a ${name} of ${nearestMultiples(size, f)} (diffusers would resize it to ${Math.floor(size / f) * f} with Lanczos).`,
        });
      }
    }
    for (const [name, given, size] of [
      ['height', o.height, image.height],
      ['width', o.width, image.width],
    ] as const) {
      if (given !== undefined && given !== size) {
        throw new ArgumentError({
          field: `options.${name}`,
          value: given,
          problem: `contradicts the image's ${name} ${size}`,
          fix: `leave ${name} out (image-to-image takes the image's size), or resize the image to ${given}.`,
        });
      }
    }
    height = image.height;
    width = image.width;
    // diffusers: init_timestep = min(int(n * strength), n) steps run; 0 crashes its VAE decode.
    const steps = Math.min(Math.trunc(numInferenceSteps * strength), numInferenceSteps);
    if (steps === 0) {
      throw new ArgumentError({
        field: 'options.strength',
        value: strength,
        problem: `with ${numInferenceSteps} steps runs int(${numInferenceSteps} * ${strength}) = 0 denoising steps (diffusers crashes on it)`,
        fix: `use a strength of at least ${Math.ceil((1 / numInferenceSteps) * 1e6) / 1e6}, or more steps; for the image unchanged, skip the pipeline.`,
      });
    }
  } else {
    if (o.strength !== undefined) {
      throw new ArgumentError({
        field: 'options.strength',
        value: o.strength,
        problem: 'needs options.image (strength is the image-to-image noise level)',
        fix: 'pass the starting image as options.image, or drop strength for text-to-image.',
      });
    }
    // diffusers' StableDiffusionPipeline.check_inputs: multiples of 8, whatever the VAE factor.
    const multiple = lcm(8, f);
    height = readSize(o.height, 'height', model.defaultSize, multiple, f);
    width = readSize(o.width, 'width', model.defaultSize, multiple, f);
  }

  let latents: Float32Tensor | null = null;
  if (o.latents !== undefined) {
    latents = readFloat32(o.latents, 'options.latents');
    const want = [batch, model.latentChannels, height / f, width / f];
    if (latents.dims.length !== 4 || latents.dims.some((d, i) => d !== want[i])) {
      throw new ShapeError({
        field: 'options.latents.dims',
        value: latents.dims,
        problem: `must be [${want.join(', ')}]: ${batch} image${batch === 1 ? '' : 's'} (prompts x numImagesPerPrompt), ${model.latentChannels} channels, ${height} x ${width} pixels / ${f}`,
        fix: 'draw latents of that shape, or change height / width / numImagesPerPrompt to match them.',
      });
    }
  }

  return {
    prompts,
    promptEmbeds,
    guided,
    negativePrompts: guided && negativePromptEmbeds === null ? negativeTexts : null,
    negativePromptEmbeds: guided ? negativePromptEmbeds : null,
    promptCount,
    numImagesPerPrompt,
    batch,
    height,
    width,
    numInferenceSteps,
    guidanceScale,
    guidanceRescale,
    eta,
    generator,
    latents,
    image,
    strength,
    signal,
    onStep: o.onStep,
    notices,
  };
}

function lcm(a: number, b: number): number {
  let x = a;
  let y = b;
  while (y !== 0) [x, y] = [y, x % y];
  return (a / x) * b;
}

function readSize(value: unknown, name: string, fallback: number, multiple: number, f: number): number {
  const size = checkNumber(
    value ?? fallback,
    `options.${name}`,
    { min: 1, integer: true },
    `pass the image ${name} in pixels, e.g. ${fallback}.`,
  );
  if (size % multiple !== 0) {
    throw new ArgumentError({
      field: `options.${name}`,
      value: size,
      problem: `must be a multiple of ${multiple} (diffusers' StableDiffusionPipeline requires multiples of 8${f !== 8 ? `; this model's VAE factor is ${f}` : ', the VAE factor'})`,
      fix: `use ${nearestMultiples(size, multiple)}.`,
    });
  }
  return size;
}

function readTexts(value: unknown, field: string): string[] {
  let texts: unknown[];
  if (typeof value === 'string') texts = [value];
  else if (Array.isArray(value)) texts = Array.from(value as unknown[]);
  else {
    throw new ArgumentError({
      field,
      value,
      problem: 'must be a string or a list of strings',
      fix: "pass e.g. 'a photo of an astronaut', or ['a red cube', 'a blue sphere'].",
    });
  }
  if (texts.length === 0) {
    throw new ArgumentError({
      field,
      value,
      problem: 'is an empty list',
      fix: 'pass at least one prompt.',
    });
  }
  texts.forEach((text, i) => {
    const where = typeof value === 'string' ? field : `${field}[${i}]`;
    if (typeof text !== 'string') {
      throw new ArgumentError({
        field: where,
        value: text,
        problem: 'must be a string',
        fix: 'pass the prompt as text; use "" for an empty prompt.',
      });
    }
    if (text.length > MAX_PROMPT_LENGTH) {
      throw new ArgumentError({
        field: where,
        value: text,
        problem: `is ${text.length} characters long, over the ${MAX_PROMPT_LENGTH} accepted`,
        fix: 'shorten it: the text encoder reads only the first 75 tokens (a few hundred characters).',
      });
    }
  });
  return texts as string[];
}

/** A float tensor the caller passed, as a float32 copy (the pipeline runs in float32). */
/** A float32 copy of a tensor input (float16 / float64 converted), checked (a ShapeError naming `field`). */
export function readFloat32(t: TensorLike, field: string): Float32Tensor {
  const type = checkTensor(t, field);
  const data = new Float32Array(t.data.length);
  convertInto(t.data, type, data, 'float32');
  return { data, dims: [...t.dims], type: 'float32' };
}

function readEmbeds(t: TensorLike, field: string, model: ModelFacts): Float32Tensor {
  const embeds = readFloat32(t, field);
  const [rows, length, hidden] = embeds.dims;
  if (embeds.dims.length !== 3 || rows < 1 || (model.hiddenSize !== null && hidden !== model.hiddenSize)) {
    throw new ShapeError({
      field: `${field}.dims`,
      value: embeds.dims,
      problem: `must be [batch, sequence, ${model.hiddenSize ?? 'hidden'}] (the text encoder's last_hidden_state)`,
      fix: `pass embeddings of dims [batch, ${model.sequenceLength}, ${model.hiddenSize ?? 'hidden'}].`,
    });
  }
  if (length < 1) {
    throw new ShapeError({
      field: `${field}.dims`,
      value: embeds.dims,
      problem: 'has an empty sequence axis',
      fix: `pass embeddings of dims [batch, ${model.sequenceLength}, hidden].`,
    });
  }
  return embeds;
}

/** diffusers' rule: one generator, or a list with exactly one per image. */
function readGenerator(value: unknown, batch: number): Generator | Generator[] | null {
  if (Array.isArray(value) && value.length !== batch) {
    throw new ArgumentError({
      field: 'options.generator',
      value: value.length,
      problem: `is a list of ${value.length} generators, but the run makes ${batch} image${batch === 1 ? '' : 's'} (prompts x numImagesPerPrompt)`,
      fix: `pass ${batch} generators (one per image), or one generator for all of them.`,
    });
  }
  return checkGenerators(value, batch, 'options.generator');
}
