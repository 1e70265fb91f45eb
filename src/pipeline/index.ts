/**
 * `ddim/pipeline`: Stable Diffusion (1.x / 2.x) over ONNX model folders, giving diffusers' latents
 * and images for the same prompt and seed: `StableDiffusionPipeline` (text-to-image and
 * image-to-image), the model-folder sources it reads through, and the CLIP tokenizer.
 *
 * Browser-safe: ONNX Runtime is passed in (`{ ort }`), and model folders come through ModelFiles
 * sources. Under Node this entry resolves to its Node variant, which also opens local folders.
 * docs/pipeline.md describes what is matched and what is not.
 *
 * @module ddim/pipeline
 */

// Model folders: the interface the pipeline reads through, and its sources.
export {
  type ModelFiles,
  type ModelFilesOptions,
  type ModelFilesSource,
  type OnnxModelFile,
  openModelFiles,
  registerModelFilesSource,
} from '../loading/model-files.js';
export {
  type DirectoryHandleLike,
  directoryModelFiles,
  type FileHandleLike,
  type PickedFile,
  pickedModelFiles,
} from '../loading/picked-files.js';
// The model folder's defaults and VAE encoder styles.
export {
  DEFAULT_IMAGE_SIZE,
  DEFAULT_SCALING_FACTOR,
  DEFAULT_VAE_SCALE_FACTOR,
  VAE_ENCODER_STYLES,
  type VaeEncoderStyle,
} from './components.js';
export type { GenerateOptions } from './generate-options.js';
export type { ImageInput, PipelineImage } from './image.js';
export { SAMPLING_ENCODER_WARNING } from './latents.js';
// The pipeline.
export { type GenerateResult, type PipelineLoadOptions, StableDiffusionPipeline } from './pipeline.js';
export type { PipelineOrt } from './sessions.js';
// The CLIP tokenizer (diffusers' slow CLIPTokenizer with ftfy).
export {
  type ClipBatchEncoding,
  type ClipEncoding,
  ClipTokenizer,
  type ClipTokenizerFiles,
  MAX_PROMPT_LENGTH,
} from './tokenizer.js';
