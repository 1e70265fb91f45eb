/**
 * `ddim/onnxruntime`: a denoiser backed by an ONNX Runtime `InferenceSession` laid out as diffusers'
 * ONNX UNet exports (`scripts/convert_stable_diffusion_checkpoint_to_onnx.py`, optimum's exporter):
 *
 *   inputs  sample [batch, C, H, W], timestep, encoder_hidden_states [batch, seq, hidden]
 *   output  out_sample [batch, C, H, W]
 *
 * ONNX Runtime is injected, never imported: pass `ort` (the namespace of `onnxruntime-node` or
 * `onnxruntime-web`, or anything with their `Tensor` constructor) together with a session made by
 * the same package. So this module runs in Node and in browsers and bundles nothing; both packages
 * are optional peer dependencies.
 *
 * What follows diffusers' `OnnxStableDiffusionPipeline`:
 * - the timestep's element type is read from the model (`tensor(float)` when it does not say); its
 *   shape is `[1]` (diffusers feeds `np.array([t])` whatever the batch) unless the model declares a
 *   scalar or a static batch-sized input;
 * - guidance doubles the batch: `sample = cat([x, x])`, `encoder_hidden_states = cat([negative,
 *   positive])`, and the output splits as `uncond, cond = split(out_sample, 2)`.
 *
 * Inputs live in buffers owned by the denoiser and refilled in place each step; a buffer is only
 * reallocated when the shapes change or when the runtime took it (onnxruntime-web's proxy worker
 * transfers, i.e. detaches, input buffers).
 *
 * @module ddim/onnxruntime
 */
import { ArgumentError, ShapeError, StateError } from '../errors.js';
import { guarded, readOptions, unreadable } from '../guard.js';
import { allocate, assertNever, convertInto, numberToFloat16 } from '../tensor/dtype.js';
import { checkTensor, type DType, sameDims, sizeOf, type TensorLike } from '../tensor/tensor.js';

// ---------------------------------------------------------------------------------------------
// The slice of onnxruntime's API this module uses, typed structurally so that both
// `onnxruntime-node` and `onnxruntime-web` (which share `onnxruntime-common`) fit without either
// being imported.

/** Element types this module feeds to or reads from a session. */
export type OrtElementType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32';

/** The part of an onnxruntime `Tensor` that is read. */
export interface OrtTensorLike {
  /** The element type, e.g. `'float32'`, `'float16'`, `'int64'`. */
  readonly type: string;
  /** The elements (a typed array of the element type). */
  readonly data: unknown;
  /** The shape. */
  readonly dims: readonly number[];
}

/** `ort.Tensor`'s constructor, as used here: `new ort.Tensor(type, data, dims)`. */
export type OrtTensorConstructor = new (
  type: OrtElementType,
  data: Float32Array | Uint16Array | Float64Array | BigInt64Array | Int32Array,
  dims: readonly number[],
) => OrtTensorLike;

/** The `ort` namespace (`import * as ort from 'onnxruntime-node'` or `'onnxruntime-web'`). */
export interface OrtModule {
  /** `ort.Tensor`: the inputs are made with it. */
  readonly Tensor: OrtTensorConstructor;
}

/** One entry of `session.inputMetadata` (onnxruntime >= 1.21). */
export interface OrtValueMetadata {
  /** The input's name. */
  readonly name: string;
  /** Whether the input is a tensor (else a sequence or a map). */
  readonly isTensor: boolean;
  /** The element type, e.g. `'float16'`, when the model declares it. */
  readonly type?: string;
  /** The shape: numbers for static dimensions, names for symbolic ones (`'batch'`). */
  readonly shape?: readonly (number | string)[];
}

/** What is used of an `InferenceSession`. */
export interface OrtSessionLike {
  /** The model's input names. */
  readonly inputNames: readonly string[];
  /** The model's output names. */
  readonly outputNames: readonly string[];
  /** Missing before onnxruntime 1.21: then the element types come from the options. */
  readonly inputMetadata?: readonly OrtValueMetadata[];
  /** Runs the model on `feeds` (input name to tensor); resolves to the outputs by name. */
  run(feeds: Record<string, OrtTensorLike>, options?: unknown): Promise<Record<string, OrtTensorLike>>;
}

// ---------------------------------------------------------------------------------------------
// Public API.

/** Element types of the sample and encoder_hidden_states inputs. */
export type UnetSampleType = 'float32' | 'float16' | 'float64';
/** Element types of the timestep input. */
export type UnetTimestepType = 'int64' | 'int32' | 'float32' | 'float16' | 'float64';
/**
 * How the timestep is fed: `'scalar'` (dims `[]`), `'single'` (dims `[1]`, what diffusers' ONNX
 * pipelines feed), `'batch'` (one per model batch element, dims `[2 * batch]` under guidance).
 */
export type UnetTimestepShape = 'scalar' | 'single' | 'batch';

/** The model's input names, where they differ from diffusers' exports. */
export interface UnetInputNames {
  /** The noisy sample's input (default `sample`). */
  sample?: string;
  /** The timestep's input (default `timestep`). */
  timestep?: string;
  /** The text embeddings' input (default `encoder_hidden_states`). */
  encoderHiddenStates?: string;
}

/** Options of {@link createUnetDenoiser}. */
export interface UnetDenoiserOptions {
  /** The onnxruntime namespace that made the session: `import * as ort from 'onnxruntime-node'`. */
  ort: OrtModule;
  /**
   * The prompt's text embeddings, dims `[batch or 1, seq, hidden]` (float32, float64 or float16);
   * a batch of 1 is repeated over the sample's batch, as diffusers repeats per image. Copied (and
   * converted to the model's dtype) once, here. Required when the model has the input.
   */
  encoderHiddenStates?: TensorLike | OrtTensorLike;
  /** Input names, when the export did not use diffusers' (`sample`, `timestep`, `encoder_hidden_states`). */
  inputNames?: UnetInputNames;
  /** Output name, default `out_sample`. */
  outputName?: string;
  /** The sample input's element type; read from the model when it says (then this must agree). */
  sampleType?: UnetSampleType;
  /** The encoder_hidden_states element type; read from the model, else the sample's. */
  encoderHiddenStatesType?: UnetSampleType;
  /** The timestep's element type; read from the model, else `'float32'` (diffusers' default). */
  timestepType?: UnetTimestepType;
  /** The timestep's shape; follows a static shape in the model, else `'single'`. */
  timestepShape?: UnetTimestepShape;
  /**
   * Further model inputs (SDXL's `text_embeds`, `time_ids`, ...), fed unchanged every step. Under
   * guidance they must already have the doubled batch, negative half first.
   */
  extraInputs?: Readonly<Record<string, OrtTensorLike>>;
  /** Passed as the second argument of `session.run` (onnxruntime's `RunOptions`). */
  runOptions?: unknown;
}

/** Options of {@link createGuidedUnetDenoiser}: the positive and the negative embeddings. */
export interface GuidedUnetDenoiserOptions extends UnetDenoiserOptions {
  /** Positive (conditional) prompt embeddings. */
  encoderHiddenStates: TensorLike | OrtTensorLike;
  /** Negative (unconditional, usually the empty prompt's) embeddings, same dims as the positive ones. */
  negativeEncoderHiddenStates: TensorLike | OrtTensorLike;
}

/** The model's prediction for one step. Valid until the next call of the same denoiser. */
export type UnetPrediction = TensorLike;

/** The model's two predictions for one step. Valid until the next call of the same denoiser. */
export interface GuidedUnetPrediction {
  /** The prediction with the positive (conditional) embeddings. */
  cond: TensorLike;
  /** The prediction with the negative (unconditional) embeddings. */
  uncond: TensorLike;
}

/** A `Denoiser` for `sample()`: one model call per step. */
export type UnetDenoiser = (sample: TensorLike, timestep: number) => Promise<UnetPrediction>;
/** A `GuidedDenoiser` for `sampleGuided()`: one model call per step on a doubled batch. */
export type GuidedUnetDenoiser = (sample: TensorLike, timestep: number) => Promise<GuidedUnetPrediction>;

/** The runner, with the caller's session and options read inside a guard (a Proxy that throws is typed). */
function newRunner(session: OrtSessionLike, options: UnetDenoiserOptions, guided: boolean): UnetRunner {
  return guarded(
    () => new UnetRunner(session, options, guided),
    unreadable(
      ArgumentError,
      'session / options',
      'pass an onnxruntime InferenceSession and a plain options object.',
    ),
  );
}

/**
 * A denoiser without guidance: each call runs the session once on `sample` and returns
 * `out_sample` (in the model's dtype: float16 models return float16 tensors, which the scheduler
 * accepts).
 */
export function createUnetDenoiser(session: OrtSessionLike, options: UnetDenoiserOptions): UnetDenoiser {
  const runner = newRunner(session, options, false);
  return async (sample, timestep) => {
    const out = await runner.run(sample, timestep);
    return { data: out.data, dims: [...sample.dims], type: out.type };
  };
}

/**
 * A classifier-free-guidance denoiser: each call runs the session once on the doubled batch
 * (negative embeddings first, as diffusers) and returns both halves of `out_sample`; the sampling
 * loop combines them with the guidance scale.
 */
export function createGuidedUnetDenoiser(
  session: OrtSessionLike,
  options: GuidedUnetDenoiserOptions,
): GuidedUnetDenoiser {
  const runner = newRunner(session, options, true);
  return async (sample, timestep) => {
    const out = await runner.run(sample, timestep);
    const n = sample.data.length;
    const dims = [...sample.dims];
    return {
      uncond: { data: out.data.subarray(0, n), dims, type: out.type },
      cond: { data: out.data.subarray(n, 2 * n), dims: [...dims], type: out.type },
    };
  };
}

// ---------------------------------------------------------------------------------------------
// Implementation.

type FloatArray = Float32Array | Float64Array | Uint16Array;
type InputArray = FloatArray | BigInt64Array | Int32Array;

/** The keys of UnetDenoiserOptions (GuidedUnetDenoiserOptions adds the negative embeddings). */
const OPTION_KEYS: ReadonlySet<string> = new Set([
  'ort',
  'encoderHiddenStates',
  'inputNames',
  'outputName',
  'sampleType',
  'encoderHiddenStatesType',
  'timestepType',
  'timestepShape',
  'extraInputs',
  'runOptions',
]);
const GUIDED_OPTION_KEYS: ReadonlySet<string> = new Set([...OPTION_KEYS, 'negativeEncoderHiddenStates']);
const INPUT_NAME_KEYS: ReadonlySet<string> = new Set(['sample', 'timestep', 'encoderHiddenStates']);

const SAMPLE_TYPES: readonly string[] = ['float32', 'float16', 'float64'];
const TIMESTEP_TYPES: readonly string[] = ['int64', 'int32', 'float32', 'float16', 'float64'];
const TIMESTEP_SHAPES: readonly string[] = ['scalar', 'single', 'batch'];

/** A float tensor read from the caller: float16 always as Uint16Array bits. */
interface FloatTensor {
  data: FloatArray;
  dims: number[];
  type: DType;
}

/**
 * A model input owned by the runner: a typed array in the model's dtype and the ort tensor that
 * wraps it (onnxruntime keeps a reference to CPU data, so refilling the array refills the tensor).
 */
interface Slot {
  array: InputArray;
  tensor: OrtTensorLike;
  type: OrtElementType;
  dims: readonly number[];
}

class UnetRunner {
  private readonly session: OrtSessionLike;
  private readonly Tensor: OrtTensorConstructor;
  private readonly factor: 1 | 2;
  private readonly names: { sample: string; timestep: string; ehs: string | null; output: string };
  private readonly sampleType: UnetSampleType;
  private readonly timestepType: UnetTimestepType;
  private readonly timestepShape: UnetTimestepShape;
  private readonly timestepStaticLength: number | null;
  private readonly sampleShape: readonly (number | string)[] | null;
  private readonly ehsType: UnetSampleType;
  /** Embeddings in the model's dtype, [negative, positive] under guidance; never fed themselves. */
  private readonly ehsSources: FloatArray[];
  private readonly ehsDims: readonly number[];
  private readonly runOptions: unknown;
  private readonly feeds: Record<string, OrtTensorLike>;
  private sampleSlot: Slot | null = null;
  private timestepSlot: Slot | null = null;
  private ehsSlot: Slot | null = null;
  private busy = false;

  constructor(session: OrtSessionLike, given: UnetDenoiserOptions, guided: boolean) {
    // Read once; a misspelt option (timestepShap) or input name is an error, never silently a default.
    const options = readOptions(given, {
      allowed: guided ? GUIDED_OPTION_KEYS : OPTION_KEYS,
      field: 'options',
      example:
        "{ ort, encoderHiddenStates } with ort = await import('onnxruntime-node') (or 'onnxruntime-web')",
      required: true,
    }) as unknown as UnetDenoiserOptions & Partial<GuidedUnetDenoiserOptions>;
    const inputNames = (readOptions(options.inputNames, {
      allowed: INPUT_NAME_KEYS,
      field: 'options.inputNames',
      example: "{ sample: 'latents' }",
    }) ?? {}) as UnetInputNames;
    checkSession(session);
    const ort = options.ort;
    if (ort === null || typeof ort !== 'object' || typeof ort.Tensor !== 'function') {
      throw new ArgumentError({
        field: 'options.ort',
        value: ort,
        problem: 'must be the onnxruntime namespace (an object with a Tensor constructor)',
        fix: "pass ort from `import * as ort from 'onnxruntime-node'` (or 'onnxruntime-web'), the package that created the session.",
      });
    }
    this.session = session;
    this.Tensor = ort.Tensor;
    this.factor = guided ? 2 : 1;
    this.runOptions = options.runOptions;

    const sampleName = inputNames.sample ?? 'sample';
    const timestepName = inputNames.timestep ?? 'timestep';
    const ehsName = inputNames.encoderHiddenStates ?? 'encoder_hidden_states';
    const outputName = options.outputName ?? 'out_sample';
    requireInput(session, sampleName, 'sample', 'inputNames.sample');
    requireInput(session, timestepName, 'timestep', 'inputNames.timestep');
    if (!session.outputNames.includes(outputName)) {
      throw new ArgumentError({
        field: 'session.outputNames',
        value: [...session.outputNames],
        problem: `has no output '${outputName}' (the model's outputs are ${listNames(session.outputNames)})`,
        fix: `export the UNet with diffusers' output name 'out_sample', or pass outputName: '${session.outputNames[0] ?? 'name'}'.`,
      });
    }
    const hasEhs = session.inputNames.includes(ehsName);
    const extra = options.extraInputs ?? {};
    const handled = new Set([sampleName, timestepName, ...(hasEhs ? [ehsName] : []), ...Object.keys(extra)]);
    const missing = session.inputNames.filter((name) => !handled.has(name));
    if (missing.length > 0) {
      throw new ArgumentError({
        field: 'options.extraInputs',
        value: Object.keys(extra),
        problem: `does not provide the model's input${missing.length > 1 ? 's' : ''} ${listNames(missing)} (the model's inputs are ${listNames(session.inputNames)})`,
        fix: hasEhs
          ? 'pass those inputs as ort tensors in extraInputs, or rename the UNet inputs with inputNames.'
          : `the model has no '${ehsName}' input: if it is named otherwise pass inputNames.encoderHiddenStates; pass any other input in extraInputs.`,
      });
    }
    for (const name of Object.keys(extra)) {
      if (
        !session.inputNames.includes(name) ||
        name === sampleName ||
        name === timestepName ||
        name === ehsName
      ) {
        throw new ArgumentError({
          field: `options.extraInputs.${name}`,
          value: name,
          problem: session.inputNames.includes(name)
            ? 'is an input the denoiser feeds itself'
            : `is not an input of the model (its inputs are ${listNames(session.inputNames)})`,
          fix: 'remove it from extraInputs.',
        });
      }
    }
    this.names = {
      sample: sampleName,
      timestep: timestepName,
      ehs: hasEhs ? ehsName : null,
      output: outputName,
    };

    // Element types and shapes: the model's metadata where onnxruntime provides it, else the options.
    const sampleMeta = metadataOf(session, sampleName);
    const timestepMeta = metadataOf(session, timestepName);
    this.sampleType = resolveType(
      sampleMeta,
      options.sampleType,
      'float32',
      SAMPLE_TYPES,
      sampleName,
      'sampleType',
    );
    this.sampleShape = sampleMeta?.shape && sampleMeta.shape.length > 0 ? sampleMeta.shape : null;
    this.timestepType = resolveType(
      timestepMeta,
      options.timestepType,
      'float32',
      TIMESTEP_TYPES,
      timestepName,
      'timestepType',
    );
    const ts = resolveTimestepShape(timestepMeta, options.timestepShape, timestepName);
    this.timestepShape = ts.shape;
    this.timestepStaticLength = ts.staticLength;

    // Embeddings: converted to the model's dtype once; the fed buffer is built per batch size.
    const positive = options.encoderHiddenStates;
    const negative = guided ? (options as GuidedUnetDenoiserOptions).negativeEncoderHiddenStates : undefined;
    if (!hasEhs) {
      if (guided) {
        throw new ArgumentError({
          field: 'session.inputNames',
          value: [...session.inputNames],
          problem: `has no '${ehsName}' input, so the model cannot be conditioned and guidance has nothing to contrast`,
          fix: 'use createUnetDenoiser for unconditional models, or pass inputNames.encoderHiddenStates if the input has another name.',
        });
      }
      if (positive !== undefined) {
        throw new ArgumentError({
          field: 'options.encoderHiddenStates',
          problem: `was given but the model has no '${ehsName}' input (its inputs are ${listNames(session.inputNames)})`,
          fix: 'drop encoderHiddenStates for an unconditional model, or pass inputNames.encoderHiddenStates.',
        });
      }
      this.ehsType = this.sampleType;
      this.ehsSources = [];
      this.ehsDims = [];
    } else {
      if (positive === undefined || (guided && negative === undefined)) {
        const field =
          positive === undefined ? 'options.encoderHiddenStates' : 'options.negativeEncoderHiddenStates';
        throw new ArgumentError({
          field,
          value: undefined,
          problem: `is required: the model has an input '${ehsName}'`,
          fix: guided
            ? 'pass the prompt embeddings as encoderHiddenStates and the negative (empty) prompt embeddings as negativeEncoderHiddenStates, dims [batch or 1, seq, hidden].'
            : 'pass the text encoder output as encoderHiddenStates, dims [batch or 1, seq, hidden].',
        });
      }
      const ehsMeta = metadataOf(session, ehsName);
      this.ehsType = resolveType(
        ehsMeta,
        options.encoderHiddenStatesType,
        this.sampleType,
        SAMPLE_TYPES,
        ehsName,
        'encoderHiddenStatesType',
      );
      const pos = readFloatTensor(positive, 'options.encoderHiddenStates');
      checkAgainstModel(pos.dims, ehsMeta?.shape, ehsName, 'options.encoderHiddenStates', null);
      if (pos.dims.length === 0 || pos.dims[0] < 1) {
        throw new ShapeError({
          field: 'options.encoderHiddenStates.dims',
          value: pos.dims,
          problem: 'must start with a batch dimension of at least 1',
          fix: 'pass embeddings of dims [batch, seq, hidden].',
        });
      }
      this.ehsDims = pos.dims;
      this.ehsSources = [];
      if (negative !== undefined) {
        const neg = readFloatTensor(negative, 'options.negativeEncoderHiddenStates');
        if (!sameDims(neg.dims, pos.dims)) {
          throw new ShapeError({
            field: 'options.negativeEncoderHiddenStates.dims',
            value: neg.dims,
            problem: `must equal encoderHiddenStates' dims [${pos.dims.join(', ')}] (they are concatenated along the batch)`,
            fix: 'encode the negative prompt with the same padding length and batch as the prompt.',
          });
        }
        this.ehsSources.push(convertFloats(neg, this.ehsType));
      }
      this.ehsSources.push(convertFloats(pos, this.ehsType));
    }

    this.feeds = {};
    for (const [name, value] of Object.entries(extra)) this.feeds[name] = value;
  }

  /** One model call on `sample` (doubled under guidance); returns the output data in a float dtype. */
  async run(sample: TensorLike, timestep: number): Promise<{ data: FloatArray; type: DType }> {
    if (this.busy) {
      throw new StateError({
        field: 'denoiser',
        problem: 'was called again before its previous call finished; it reuses its input buffers',
        fix: 'await each call before the next (sampling loops do), or create one denoiser per concurrent loop.',
      });
    }
    const x = readFloatTensor(sample, 'sample');
    if (x.dims.length === 0 || x.dims[0] < 1) {
      throw new ShapeError({
        field: 'sample.dims',
        value: x.dims,
        problem: 'must start with a batch dimension of at least 1',
        fix: 'pass latents of dims [batch, channels, height, width].',
      });
    }
    checkAgainstModel(x.dims, this.sampleShape, this.names.sample, 'sample', this.factor);
    if (typeof timestep !== 'number' || !Number.isFinite(timestep)) {
      throw new ArgumentError({
        field: 'timestep',
        value: timestep,
        problem: 'must be a finite number',
        fix: 'pass a timestep from scheduler.timesteps.',
      });
    }
    if ((this.timestepType === 'int64' || this.timestepType === 'int32') && !Number.isInteger(timestep)) {
      throw new ArgumentError({
        field: 'timestep',
        value: timestep,
        problem: `must be an integer: the model's '${this.names.timestep}' input is ${this.timestepType}`,
        fix: 'pass a timestep from scheduler.timesteps.',
      });
    }
    const batch = x.dims[0];
    const modelBatch = this.factor * batch;

    this.fillSample(x);
    this.fillTimestep(timestep, modelBatch);
    if (this.names.ehs !== null) this.fillEncoderHiddenStates(batch);

    this.busy = true;
    let outputs: Record<string, OrtTensorLike>;
    try {
      outputs =
        this.runOptions === undefined
          ? await this.session.run(this.feeds)
          : await this.session.run(this.feeds, this.runOptions);
    } finally {
      this.busy = false;
    }
    return this.readOutput(outputs, x.dims, modelBatch);
  }

  /** The sample, converted to the model's dtype, once per batch half. */
  private fillSample(x: FloatTensor): void {
    const n = x.data.length;
    const dims = [...x.dims];
    dims[0] *= this.factor;
    const slot = this.slot(this.sampleSlot, this.sampleType, this.factor * n, dims);
    this.sampleSlot = slot;
    convertInto(x.data, x.type, slot.array as FloatArray, this.sampleType);
    if (this.factor === 2) slot.array.copyWithin(n, 0, n);
    this.feeds[this.names.sample] = slot.tensor;
  }

  private fillTimestep(t: number, modelBatch: number): void {
    let length: number;
    let dims: number[];
    if (this.timestepShape === 'scalar') {
      length = 1;
      dims = [];
    } else if (this.timestepShape === 'single') {
      length = 1;
      dims = [1];
    } else {
      length = modelBatch;
      dims = [modelBatch];
      if (this.timestepStaticLength !== null && this.timestepStaticLength !== modelBatch) {
        throw new ShapeError({
          field: 'sample.dims[0]',
          value: modelBatch / this.factor,
          problem: `gives a model batch of ${modelBatch} but the model's '${this.names.timestep}' input has the static shape [${this.timestepStaticLength}]`,
          fix: `pass a sample whose batch is ${this.timestepStaticLength / this.factor}, or re-export the model with a dynamic batch.`,
        });
      }
    }
    const slot = this.slot(this.timestepSlot, this.timestepType, length, dims);
    this.timestepSlot = slot;
    const a = slot.array;
    if (a instanceof BigInt64Array) a.fill(BigInt(t));
    else if (this.timestepType === 'float16') a.fill(numberToFloat16(t));
    else (a as Float32Array | Float64Array | Int32Array).fill(t);
    this.feeds[this.names.timestep] = slot.tensor;
  }

  /** [negative, positive] (guided) or positive, each repeated to `batch` if it has batch 1. */
  private fillEncoderHiddenStates(batch: number): void {
    const name = this.names.ehs!;
    const given = this.ehsDims[0];
    if (given !== batch && given !== 1) {
      throw new ShapeError({
        field: 'sample.dims[0]',
        value: batch,
        problem: `does not match the encoder hidden states' batch of ${given}`,
        fix: `pass a sample with batch ${given}, or embeddings with batch 1 (repeated) or ${batch}.`,
      });
    }
    const dims = [...this.ehsDims];
    dims[0] = this.factor * batch;
    const per = this.ehsSources[0].length / given;
    const slot = this.slot(this.ehsSlot, this.ehsType, this.factor * batch * per, dims);
    // The embeddings do not change between steps: fill only a new buffer.
    if (slot !== this.ehsSlot) {
      let offset = 0;
      for (const source of this.ehsSources) {
        if (given === batch) {
          slot.array.set(source as never, offset);
          offset += source.length;
        } else {
          for (let b = 0; b < batch; b++, offset += per) slot.array.set(source as never, offset);
        }
      }
    }
    this.ehsSlot = slot;
    this.feeds[name] = slot.tensor;
  }

  /**
   * Reuse `slot` when it has the same dtype and dims and still owns its memory (a runtime that
   * transfers input buffers, like onnxruntime-web's proxy worker, leaves them detached: length 0).
   */
  private slot(slot: Slot | null, type: OrtElementType, length: number, dims: number[]): Slot {
    if (slot !== null && slot.type === type && sameDims(slot.dims, dims) && slot.array.length === length) {
      return slot;
    }
    const array = allocateInput(type, length);
    return { array, tensor: new this.Tensor(type, array, dims), type, dims };
  }

  private readOutput(
    outputs: Record<string, OrtTensorLike>,
    sampleDims: readonly number[],
    modelBatch: number,
  ): { data: FloatArray; type: DType } {
    const name = this.names.output;
    const out = outputs?.[name];
    if (out === undefined || out === null) {
      throw new ShapeError({
        field: name,
        value: outputs ? Object.keys(outputs) : outputs,
        problem: 'is missing from the session outputs',
        fix: 'check outputName against session.outputNames.',
      });
    }
    const data = floatData(out.data, out.type);
    if (data === null) {
      throw new ShapeError({
        field: `${name}.type`,
        value: out.type,
        problem: 'must be float32, float16 or float64',
        fix: 'the UNet must output a floating-point prediction; check outputName.',
      });
    }
    const want = [modelBatch, ...sampleDims.slice(1)];
    if (!sameDims(out.dims, want)) {
      throw new ShapeError({
        field: `${name}.dims`,
        value: [...out.dims],
        problem: `must be [${want.join(', ')}] (the ${this.factor === 2 ? 'doubled ' : ''}sample's dims)`,
        fix: 'check that the model predicts a tensor shaped like its sample input (noise, x0 or v).',
      });
    }
    if (data.data.length !== sizeOf(want)) {
      throw new ShapeError({
        field: `${name}.data`,
        value: data.data.length,
        problem: `has ${data.data.length} elements but dims [${want.join(', ')}]`,
        fix: 'the session returned an inconsistent tensor; check the onnxruntime version.',
      });
    }
    return data;
  }
}

function checkSession(session: OrtSessionLike): void {
  const ok =
    session !== null &&
    typeof session === 'object' &&
    typeof session.run === 'function' &&
    Array.isArray(session.inputNames) &&
    Array.isArray(session.outputNames);
  if (!ok) {
    throw new ArgumentError({
      field: 'session',
      value: session,
      problem: 'must be an onnxruntime InferenceSession (with run, inputNames and outputNames)',
      fix: 'pass await ort.InferenceSession.create(modelPathOrBytes).',
    });
  }
}

function requireInput(session: OrtSessionLike, name: string, role: string, option: string): void {
  if (!session.inputNames.includes(name)) {
    throw new ArgumentError({
      field: 'session.inputNames',
      value: [...session.inputNames],
      problem: `has no input '${name}' for the ${role} (the model's inputs are ${listNames(session.inputNames)})`,
      fix: `export the UNet with diffusers' input names (sample, timestep, encoder_hidden_states), or pass ${option}: '<the model's name for it>'.`,
    });
  }
}

function listNames(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.map((n) => `'${n}'`).join(', ');
}

function metadataOf(session: OrtSessionLike, name: string): OrtValueMetadata | undefined {
  const list = session.inputMetadata;
  if (!Array.isArray(list)) return undefined;
  return list.find((m) => m && m.name === name && m.isTensor);
}

/** The element type: the model's (checked against `given`), else `given`, else the fallback. */
function resolveType<T extends string>(
  meta: OrtValueMetadata | undefined,
  given: T | undefined,
  fallback: T,
  allowed: readonly string[],
  input: string,
  option: string,
): T {
  if (given !== undefined && !allowed.includes(given)) {
    throw new ArgumentError({
      field: `options.${option}`,
      value: given,
      problem: `must be one of ${allowed.join(', ')}`,
      fix: `pass the element type of the model's '${input}' input.`,
    });
  }
  const declared = meta?.type;
  if (declared === undefined) return given ?? fallback;
  if (!allowed.includes(declared)) {
    throw new ShapeError({
      field: input,
      value: declared,
      problem: `is a model input of type ${declared}; the denoiser can feed ${allowed.join(', ')}`,
      fix:
        option === 'timestepType'
          ? 'export the UNet with an integer or floating-point timestep.'
          : 'export the UNet with float32 or float16 inputs.',
    });
  }
  if (given !== undefined && given !== declared) {
    throw new ShapeError({
      field: `options.${option}`,
      value: given,
      problem: `disagrees with the model, whose '${input}' input is ${declared}`,
      fix: `drop ${option} (it is read from the model) or pass '${declared}'.`,
    });
  }
  return declared as T;
}

function resolveTimestepShape(
  meta: OrtValueMetadata | undefined,
  given: UnetTimestepShape | undefined,
  input: string,
): { shape: UnetTimestepShape; staticLength: number | null } {
  if (given !== undefined && !TIMESTEP_SHAPES.includes(given)) {
    throw new ArgumentError({
      field: 'options.timestepShape',
      value: given,
      problem: `must be one of ${TIMESTEP_SHAPES.join(', ')}`,
      fix: "pass 'single' (dims [1], diffusers' pipelines), 'batch' or 'scalar'.",
    });
  }
  const shape = meta?.shape;
  // onnxruntime reports an unknown shape as [] too; only trust a rank 0 when the model is a scalar
  // (there is no other way to tell) if the caller did not say otherwise.
  let declared: UnetTimestepShape | null = null;
  let staticLength: number | null = null;
  if (Array.isArray(shape)) {
    if (shape.length === 0) declared = given === undefined ? 'scalar' : null;
    else if (shape.length === 1 && typeof shape[0] === 'number') {
      staticLength = shape[0];
      declared = shape[0] === 1 ? 'single' : 'batch';
    } else if (shape.length > 1) {
      throw new ShapeError({
        field: input,
        value: [...shape],
        problem: 'is a model input of rank > 1; a UNet timestep is a scalar or a vector',
        fix: "check inputNames.timestep: the denoiser feeds dims [], [1] or [batch] (diffusers' export).",
      });
    }
  }
  if (declared !== null && given !== undefined && given !== declared) {
    throw new ShapeError({
      field: 'options.timestepShape',
      value: given,
      problem: `disagrees with the model, whose '${input}' input has the static shape [${shape!.join(', ')}]`,
      fix: `drop timestepShape or pass '${declared}'.`,
    });
  }
  return { shape: declared ?? given ?? 'single', staticLength };
}

/**
 * Check dims against a model input's declared shape: the rank and the static dims. The batch dim
 * is compared after multiplying by `batchFactor` (2 under guidance), or not at all when null.
 */
function checkAgainstModel(
  dims: readonly number[],
  shape: readonly (number | string)[] | null | undefined,
  input: string,
  field: string,
  batchFactor: number | null,
): void {
  if (!shape || shape.length === 0) return;
  const render = `[${shape.join(', ')}]`;
  if (dims.length !== shape.length) {
    throw new ShapeError({
      field: `${field}.dims`,
      value: [...dims],
      problem: `has rank ${dims.length} but the model's '${input}' input is ${render}`,
      fix: `pass a tensor of rank ${shape.length}.`,
    });
  }
  for (let i = 0; i < shape.length; i++) {
    const want = shape[i];
    if (typeof want !== 'number' || (i === 0 && batchFactor === null)) continue;
    const factor = i === 0 ? batchFactor! : 1;
    if (dims[i] * factor !== want) {
      throw new ShapeError({
        field: `${field}.dims[${i}]`,
        value: dims[i],
        problem:
          factor === 2
            ? `doubled for guidance gives ${dims[i] * 2} but the model's '${input}' input is ${render}`
            : `must be ${want}: the model's '${input}' input is ${render}`,
        fix: `pass a tensor whose dim ${i} is ${want / factor}.`,
      });
    }
  }
}

/** An input array for an ONNX element type: the float dtypes as dtype.ts allocates them, the ids' integers. */
function allocateInput(type: OrtElementType, length: number): InputArray {
  switch (type) {
    case 'float32':
    case 'float64':
    case 'float16':
      return allocate(type, length);
    case 'int64':
      return new BigInt64Array(length);
    case 'int32':
      return new Int32Array(length);
    default:
      return assertNever(type, 'ONNX element type');
  }
}

/**
 * A float tensor's data as float32/float64 or float16 bits. onnxruntime returns float16 data as a
 * `Float16Array` where the JS engine has one (recent browsers, Node >= 24), else as Uint16Array
 * bits: a Float16Array is viewed as its bits, without copying.
 */
function floatData(data: unknown, type: string): { data: FloatArray; type: DType } | null {
  if (type === 'float32' && data instanceof Float32Array) return { data, type };
  if (type === 'float64' && data instanceof Float64Array) return { data, type };
  if (type === 'float16') {
    if (data instanceof Uint16Array) return { data, type };
    if (ArrayBuffer.isView(data) && (data as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT === 2) {
      const view = data as unknown as { buffer: ArrayBuffer; byteOffset: number; length: number };
      return { data: new Uint16Array(view.buffer, view.byteOffset, view.length), type };
    }
  }
  return null;
}

/** Read a caller's float tensor (ours, or an onnxruntime one, whose float16 data may be a Float16Array). */
function readFloatTensor(t: TensorLike | OrtTensorLike, field: string): FloatTensor {
  if (t !== null && typeof t === 'object' && t.type === 'float16' && !(t.data instanceof Uint16Array)) {
    const bits = floatData(t.data, 'float16');
    if (bits !== null) t = { data: bits.data, dims: t.dims, type: 'float16' };
  }
  const type = checkTensor(t as TensorLike, field);
  return { data: (t as TensorLike).data, dims: [...t.dims], type };
}

/** A copy of `t`'s data in `type`. */
function convertFloats(t: FloatTensor, type: UnetSampleType): FloatArray {
  const out = allocate(type, t.data.length) as FloatArray;
  convertInto(t.data, t.type, out, type);
  return out;
}
