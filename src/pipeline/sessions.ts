/**
 * The pipeline's ONNX Runtime sessions: created from a model folder's files with the `ort` the
 * caller passes (onnxruntime-node or onnxruntime-web: never imported here), their inputs' element
 * types read from the session (int32 or int64 ids, float16 or float32 tensors: exports differ,
 * see the fixture README's "Differences from Optimum exports"), and every runtime failure turned
 * into a typed error naming the model file.
 */
import { ArgumentError, DdimError, LoadError, ShapeError } from '../errors.js';
import type { ModelFiles } from '../loading/model-files.js';
import type { OrtModule, OrtSessionLike, OrtTensorLike, OrtValueMetadata } from '../runtime/onnxruntime.js';
import { convertInto, numberToFloat16 } from '../tensor/dtype.js';
import type { Float32Tensor } from '../tensor/tensor.js';

/**
 * The `ort` namespace the pipeline needs: `import * as ort from 'onnxruntime-node'` (or
 * `'onnxruntime-web'`), whose `InferenceSession.create` makes the sessions and whose `Tensor`
 * makes their inputs.
 */
export interface PipelineOrt extends OrtModule {
  /** `ort.InferenceSession`: the pipeline creates one session per model file. */
  readonly InferenceSession: {
    /** A session from a file path (Node) or the model's bytes, with session options. */
    create(model: string | Uint8Array, options?: object): Promise<OrtSessionLike>;
  };
}

/** A session and the file it was made from (for messages). */
export interface ModelSession {
  /** The model file inside the folder, e.g. "unet/model.onnx". */
  readonly file: string;
  /** The ONNX Runtime session. */
  readonly session: OrtSessionLike;
}

/** Check the `ort` option before anything is loaded. */
export function checkOrt(ort: unknown): PipelineOrt {
  const ok =
    ort !== null &&
    typeof ort === 'object' &&
    typeof (ort as PipelineOrt).Tensor === 'function' &&
    (ort as PipelineOrt).InferenceSession !== null &&
    // onnxruntime's InferenceSession is a class (a function) with a static create
    (typeof (ort as PipelineOrt).InferenceSession === 'function' ||
      typeof (ort as PipelineOrt).InferenceSession === 'object') &&
    typeof (ort as PipelineOrt).InferenceSession.create === 'function';
  if (!ok) {
    throw new ArgumentError({
      field: 'options.ort',
      value: ort,
      problem: 'must be the onnxruntime namespace (with InferenceSession.create and Tensor)',
      fix: "pass ort from `import * as ort from 'onnxruntime-node'` (Node) or 'onnxruntime-web' (browsers).",
    });
  }
  return ort as PipelineOrt;
}

/**
 * Create the session of `file`. A model file ONNX Runtime cannot load (truncated, not a model, an
 * operator it lacks) is a LoadError naming the file.
 */
export async function createSession(
  ort: PipelineOrt,
  files: ModelFiles,
  file: string,
  sessionOptions: object | undefined,
): Promise<ModelSession> {
  const model = await files.readModel(file);
  const options: Record<string, unknown> = { ...(sessionOptions ?? {}) };
  if (model.externalData.length > 0) {
    const given = Array.isArray(options.externalData) ? options.externalData : [];
    options.externalData = [...given, ...model.externalData];
  }
  let session: OrtSessionLike;
  try {
    session = await ort.InferenceSession.create(model.model, options);
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new LoadError({
      field: file,
      value: typeof model.model === 'string' ? model.model : `${model.model.length} bytes`,
      problem: `could not be loaded by ONNX Runtime (${message.length > 300 ? `${message.slice(0, 297)}...` : message})`,
      fix: `the file is truncated or not an ONNX model (or needs an operator this ONNX Runtime lacks): download or export ${file} again, or update onnxruntime.`,
      cause,
    });
  }
  return { file, session };
}

/** An input's metadata (onnxruntime >= 1.21), or undefined. */
export function inputMetadata(session: OrtSessionLike, name: string): OrtValueMetadata | undefined {
  const list = session.inputMetadata;
  if (!Array.isArray(list)) return undefined;
  return list.find((m) => m?.name === name && m.isTensor);
}

/** Element types the pipeline feeds float inputs in. */
export type FloatInputType = 'float32' | 'float16';

/** A float input's element type: the session's (float32 or float16), float32 when it does not say. */
export function floatInputType(model: ModelSession, name: string): FloatInputType {
  const type = inputMetadata(model.session, name)?.type;
  if (type === undefined || type === 'float32' || type === 'float16') return type ?? 'float32';
  throw new LoadError({
    field: model.file,
    value: type,
    problem: `has a '${name}' input of type ${type}; the pipeline feeds float32 or float16`,
    fix: 'export the model with float32 or float16 inputs (Optimum: --dtype fp32 / fp16).',
  });
}

/** A float32 tensor as an ort tensor of the model's float type (float16 rounded to nearest even). */
export function floatInput(ort: PipelineOrt, t: Float32Tensor, type: FloatInputType): OrtTensorLike {
  if (type === 'float32') return new ort.Tensor('float32', t.data, t.dims);
  const bits = new Uint16Array(t.data.length);
  for (let i = 0; i < bits.length; i++) bits[i] = numberToFloat16(t.data[i]);
  return new ort.Tensor('float16', bits, t.dims);
}

/**
 * Run a session; a failure inside ONNX Runtime (an input shape the model refuses) is a ShapeError
 * naming the model file. Returns the outputs by name.
 */
export async function runSession(
  model: ModelSession,
  feeds: Record<string, OrtTensorLike>,
): Promise<Record<string, OrtTensorLike>> {
  try {
    return await model.session.run(feeds);
  } catch (cause) {
    if (cause instanceof DdimError) throw cause;
    const message = cause instanceof Error ? cause.message : String(cause);
    throw new ShapeError({
      field: model.file,
      value: Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, `[${v.dims.join(', ')}]`])),
      problem: `failed in ONNX Runtime (${message.length > 300 ? `${message.slice(0, 297)}...` : message})`,
      fix: 'check that the model folder is one Stable Diffusion export (its components belong together), and the sizes passed.',
      cause,
    });
  }
}

/**
 * A float output as float32 (float16 outputs widened), with its dims checked against `want`
 * (numbers; null for "any").
 */
export function floatOutput(
  model: ModelSession,
  outputs: Record<string, OrtTensorLike>,
  name: string,
  want: readonly (number | null)[],
): Float32Tensor {
  const out = outputs[name];
  if (out === undefined || out === null) {
    throw new ShapeError({
      field: model.file,
      value: Object.keys(outputs),
      problem: `returned no '${name}' output`,
      fix: 'check the export: the pipeline reads the output names diffusers and Optimum write.',
    });
  }
  const dims = [...out.dims];
  if (dims.length !== want.length || want.some((w, i) => w !== null && w !== dims[i])) {
    throw new ShapeError({
      field: `${model.file} ${name}`,
      value: dims,
      problem: `has dims [${dims.join(', ')}], expected [${want.map((w) => w ?? '*').join(', ')}]`,
      fix: 'check that the model folder is one Stable Diffusion export (its components belong together).',
    });
  }
  const data = out.data;
  if (out.type === 'float32' && data instanceof Float32Array) return { data, dims, type: 'float32' };
  if (out.type === 'float16' && ArrayBuffer.isView(data) && (data as Uint16Array).BYTES_PER_ELEMENT === 2) {
    const view = data as unknown as { buffer: ArrayBuffer; byteOffset: number; length: number };
    const bits = new Uint16Array(view.buffer, view.byteOffset, view.length);
    const wide = new Float32Array(bits.length);
    convertInto(bits, 'float16', wide, 'float32');
    return { data: wide, dims, type: 'float32' };
  }
  throw new ShapeError({
    field: `${model.file} ${name}`,
    value: out.type,
    problem: 'must be a float32 or float16 tensor',
    fix: 'export the model with float32 or float16 outputs.',
  });
}

/**
 * The session of `model` with its `run` failures typed as `runSession` types them, for code that
 * runs it itself (the UNet denoiser of `ddim/onnxruntime`).
 */
export function typedSession(model: ModelSession): OrtSessionLike {
  const { session } = model;
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    ...(session.inputMetadata !== undefined ? { inputMetadata: session.inputMetadata } : {}),
    run: (feeds) => runSession(model, feeds),
  };
}

/** Free a session's native memory (onnxruntime's `release`, where the session has one). */
export async function releaseSession(session: OrtSessionLike): Promise<void> {
  const release = (session as { release?: () => Promise<void> }).release;
  if (typeof release === 'function') await release.call(session);
}
