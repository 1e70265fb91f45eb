/**
 * The pipeline where it meets runtimes and model files: concurrent generate calls, element types
 * read from the sessions (int64 ids, float16 models), the old export script's sampling VAE
 * encoder, weights in external data files (a folder under onnxruntime-node; picked files and a
 * directory handle under onnxruntime-web, as in a browser), and the ONNX file walk.
 */
import { readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import onnxProto from 'onnx-proto';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadError } from '../src/errors.js';
import { openModelFiles } from '../src/loading/model-files.js';
import { inspectOnnxModel } from '../src/loading/onnx-file.js';
import {
  type DirectoryHandleLike,
  directoryModelFiles,
  type PickedFile,
  pickedModelFiles,
} from '../src/loading/picked-files.js';
import { openModelFolder } from '../src/node/pipeline.js';
import { Generator } from '../src/noise/generator.js';
import { randnTensor } from '../src/noise/randn.js';
import { SAMPLING_ENCODER_WARNING } from '../src/pipeline/latents.js';
import { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { DDIMScheduler } from '../src/scheduler/ddim.js';
import { attr, GraphBuilder } from './helpers/onnx-graph.js';
import { toyUnetModel } from './helpers/onnx-models.js';
import {
  checkCase,
  extraDir,
  FOLDER_FILES,
  floats,
  folderCopy,
  generateOptionsOf,
  initImage,
  type JsonTensor,
  loadCase,
  type RecordedCall,
  recordingOrt,
  relError,
  removeFolderCopies,
  runCase,
  tinySdDir,
} from './helpers/sd-pipeline.js';

const { onnx } = onnxProto;

afterAll(removeFolderCopies);

describe('concurrent generate calls', () => {
  it('each steps its own copy of the scheduler: two runs at once equal the same runs one after the other', async () => {
    const calls: RecordedCall[] = [];
    const pipe = await StableDiffusionPipeline.fromPretrained(tinySdDir, { ort: recordingOrt(calls) });
    const folder = pipe.scheduler;
    const trailing = DDIMScheduler.fromConfig(folder.config, { timestep_spacing: 'trailing' });
    const options = (seed: number) => ({
      prompt: 'a lighthouse',
      numInferenceSteps: 5,
      height: 32,
      width: 32,
      generator: new Generator().manualSeed(seed),
    });
    const alone1 = await pipe.generate(options(1));
    pipe.scheduler = trailing;
    const alone2 = await pipe.generate(options(2));
    // At once, and the scheduler reassigned while the first call runs: each keeps its own.
    pipe.scheduler = folder;
    const first = pipe.generate(options(1));
    pipe.scheduler = trailing;
    const second = pipe.generate(options(2));
    pipe.scheduler = folder;
    const [both1, both2] = await Promise.all([first, second]);
    expect(both1.latents.data).toEqual(alone1.latents.data);
    expect(both2.latents.data).toEqual(alone2.latents.data);
    expect(both1.images[0].data).toEqual(alone1.images[0].data);
    expect(relError(alone1.latents.data, alone2.latents.data)).toBeGreaterThan(0.01);
    // The pipeline's scheduler was never stepped: a fresh scheduler's state.
    expect(folder.numInferenceSteps).toBeNull();
    await pipe.release();
  });
});

/** A toy Stable Diffusion folder (tiny-sd's tokenizer and configs) with models of the given element types. */
function toyFolder(ids: 'int32' | 'int64', io: 'float32' | 'float16'): string {
  // Text encoder: last_hidden_state[b, s, k] = ids[b, s] / 49408 * (k + 1) / 32.
  const text = new GraphBuilder();
  text.input('input_ids', ids, ['batch', 77]);
  text.output('last_hidden_state', io, ['batch', 77, 32]);
  const idsF = text.op('Div', [text.cast('input_ids', 'float32'), text.f32([49408], [])]);
  const ramp = text.f32(
    Array.from({ length: 32 }, (_, k) => (k + 1) / 32),
    [32],
  );
  const hidden = text.op('Mul', [text.op('Unsqueeze', [idsF, text.i64([2])]), ramp]);
  if (io === 'float32') text.op('Identity', [hidden], [], 'last_hidden_state');
  else text.cast(hidden, 'float16', 'last_hidden_state');
  // VAE decoder: tanh of the first 3 latent channels, upsampled x2 (nearest).
  const dec = new GraphBuilder();
  dec.input('latent_sample', io, ['batch', 4, 'h', 'w']);
  dec.output('sample', io, ['batch', 3, 'H', 'W']);
  const l = io === 'float32' ? 'latent_sample' : dec.cast('latent_sample', 'float32');
  const three = dec.op('Slice', [l, dec.i64([0]), dec.i64([3]), dec.i64([1])]);
  const up = dec.op('Resize', [three, '', dec.f32([1, 1, 2, 2], [4])]); // mode 'nearest' (the default)
  const decoded = dec.op('Tanh', [up]);
  if (io === 'float32') dec.op('Identity', [decoded], [], 'sample');
  else dec.cast(decoded, 'float16', 'sample');
  // VAE encoder: a 2x2 stride-2 convolution to 8 channels (mean, logvar).
  const enc = new GraphBuilder();
  enc.input('sample', io, ['batch', 3, 'H', 'W']);
  enc.output('latent_parameters', io, ['batch', 8, 'h', 'w']);
  const x = io === 'float32' ? 'sample' : enc.cast('sample', 'float32');
  const weights = Array.from({ length: 8 * 3 * 4 }, (_, i) => Math.sin(i * 1.7) * 0.3);
  const params = enc.op('Conv', [x, enc.f32(weights, [8, 3, 2, 2])], [attr.ints('strides', [2, 2])]);
  if (io === 'float32') enc.op('Identity', [params], [], 'latent_parameters');
  else enc.cast(params, 'float16', 'latent_parameters');
  return folderCopy({
    'text_encoder/model.onnx': text.encode(),
    'unet/model.onnx': toyUnetModel({ io }),
    'vae_decoder/model.onnx': dec.encode(),
    'vae_encoder/model.onnx': enc.encode(),
  });
}

describe("element types are read from the sessions (Optimum's int64 ids, float16 exports)", () => {
  const run = async (ids: 'int32' | 'int64', io: 'float32' | 'float16') => {
    const calls: RecordedCall[] = [];
    const pipe = await StableDiffusionPipeline.fromPretrained(toyFolder(ids, io), {
      ort: recordingOrt(calls),
    });
    const common = { prompt: 'a red cube', numInferenceSteps: 4 };
    const txt = await pipe.generate({
      ...common,
      height: 32,
      width: 32,
      generator: new Generator().manualSeed(3),
    });
    const img = await pipe.generate({
      ...common,
      image: initImage(),
      strength: 0.75,
      generator: new Generator().manualSeed(4),
    });
    await pipe.release();
    return { txt, img, calls };
  };

  it('int64 ids give what int32 ids give; float16 models get float16 inputs and agree to float16 precision', async () => {
    const base = await run('int32', 'float32');
    const wide = await run('int64', 'float32');
    const half = await run('int32', 'float16');
    const types = (calls: RecordedCall[], file: string) => calls.find((c) => c.file === file)!.types;
    expect(types(base.calls, 'text_encoder/model.onnx')).toEqual({ input_ids: 'int32' });
    expect(types(wide.calls, 'text_encoder/model.onnx')).toEqual({ input_ids: 'int64' });
    expect(types(half.calls, 'unet/model.onnx')).toEqual({
      sample: 'float16',
      timestep: 'int64',
      encoder_hidden_states: 'float16',
    });
    expect(types(half.calls, 'vae_decoder/model.onnx')).toEqual({ latent_sample: 'float16' });
    expect(types(half.calls, 'vae_encoder/model.onnx')).toEqual({ sample: 'float16' });
    expect(wide.txt.latents.data).toEqual(base.txt.latents.data);
    expect(wide.img.latents.data).toEqual(base.img.latents.data);
    // float16: 11-bit significands through every model call; the loop itself runs in float32.
    expect(half.txt.latents.type).toBe('float32');
    const txtRel = relError(half.txt.latents.data, base.txt.latents.data);
    const imgRel = relError(half.img.latents.data, base.img.latents.data);
    console.log(
      `float16 toy models vs float32: latents rel ${txtRel.toExponential(1)} (txt2img), ${imgRel.toExponential(1)} (img2img)`,
    );
    expect(txtRel).toBeLessThan(1e-2);
    expect(imgRel).toBeLessThan(1e-2);
    expect(txtRel).toBeGreaterThan(0);
  });
});

describe("the old export script's VAE encoder (samples inside the graph)", () => {
  it('works, warns that it cannot match diffusers, and its latent is a sample of the encoder distribution', async () => {
    const calls: RecordedCall[] = [];
    const warnings: string[] = [];
    const folder = folderCopy({
      'vae_encoder/model.onnx': readFileSync(join(tinySdDir, 'extra', 'vae_encoder_sampling', 'model.onnx')),
    });
    const pipe = await StableDiffusionPipeline.fromPretrained(folder, {
      ort: recordingOrt(calls),
      onWarning: (m) => warnings.push(m),
    });
    expect(pipe.vaeEncoderStyle).toBe('latent_sample');
    const c = loadCase(join(tinySdDir, 'pipeline'), 'e_img2img');
    const options = generateOptionsOf(c);
    const result = await pipe.generate(options);
    expect(warnings).toEqual([SAMPLING_ENCODER_WARNING]);
    expect(result.images).toHaveLength(1);
    expect(result.latents.data.every(Number.isFinite)).toBe(true);
    // The first UNet input is sqrt(a) init + sqrt(1 - a) noise, the noise drawn first from the seed
    // (this encoder draws nothing from the generator); so init / scaling_factor is the in-graph
    // sample, and (sample - mean) / std of the deterministic encoder's distribution is N(0, 1).
    const xT = calls.find((call) => call.file === 'unet/model.onnx')!.floats.sample.subarray(0, 4096);
    const scheduler = DDIMScheduler.fromConfig(pipe.scheduler.config);
    const a = scheduler.alphasCumprod[c.timesteps[0]];
    const noise = randnTensor([1, 4, 32, 32], { generator: new Generator().manualSeed(3) }).data;
    const params = floats(loadCaseParams());
    const eps: number[] = [];
    for (let i = 0; i < 4096; i++) {
      const init = (xT[i] - Math.sqrt(1 - a) * noise[i]) / Math.sqrt(a);
      const latent = init / 0.18215;
      const std = Math.exp(0.5 * Math.min(Math.max(params[4096 + i], -30), 20));
      eps.push((latent - params[i]) / std);
    }
    const mean = eps.reduce((s, v) => s + v, 0) / eps.length;
    const sd = Math.sqrt(eps.reduce((s, v) => s + (v - mean) ** 2, 0) / (eps.length - 1));
    // 4096 draws: the standard error of the mean is 0.016; these bounds are about 6 sigma.
    expect(Math.abs(mean)).toBeLessThan(0.1);
    expect(Math.abs(sd - 1)).toBeLessThan(0.07);
    // Unseeded: the same seed gives another image.
    const again = await pipe.generate(generateOptionsOf(c));
    expect(relError(again.latents.data, result.latents.data)).toBeGreaterThan(1e-3);
    await pipe.release();
  });
});

/** e_img2img's vae_latent_parameters (torch's encoder output for init.png). */
function loadCaseParams() {
  const img2img = loadCase(join(tinySdDir, 'pipeline'), 'e_img2img').img2img as unknown as {
    vae_latent_parameters: JsonTensor;
  };
  return img2img.vae_latent_parameters;
}

/** A model with every initializer of 1 KiB or more moved into one external data file. */
function externalize(bytes: Uint8Array, location: string): { model: Uint8Array; data: Uint8Array } {
  const model = onnx.ModelProto.decode(bytes);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const tensor of model.graph!.initializer!) {
    const raw = tensor.rawData;
    if (!raw || raw.length < 1024) continue;
    tensor.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
    tensor.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ];
    tensor.rawData = new Uint8Array(0);
    chunks.push(raw);
    offset += raw.length;
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.length;
  }
  return { model: onnx.ModelProto.encode(model).finish(), data };
}

const unetBytes = () => readFileSync(join(tinySdDir, 'unet', 'model.onnx'));
const textEncoderBytes = () => readFileSync(join(tinySdDir, 'text_encoder', 'model.onnx'));

describe('weights in external data files', () => {
  it('inspectOnnxModel finds them (and finds none in a self-contained model)', async () => {
    expect((await inspectOnnxModel(unetBytes(), 'unet/model.onnx')).externalData).toEqual([]);
    const { model, data } = externalize(unetBytes(), 'weights.pb');
    expect(model.length).toBeLessThan(unetBytes().length / 5);
    expect(data.length).toBeGreaterThan(5_000_000);
    expect((await inspectOnnxModel(model, 'unet/model.onnx')).externalData).toEqual(['weights.pb']);
  });

  it('a folder (onnxruntime-node, by path): diffusers\u2019 latents with the UNet and text encoder weights outside their models', async () => {
    const unet = externalize(unetBytes(), 'weights.pb');
    const text = externalize(textEncoderBytes(), 'model.onnx_data');
    const folder = folderCopy({
      'unet/model.onnx': unet.model,
      'unet/weights.pb': unet.data,
      'text_encoder/model.onnx': text.model,
      'text_encoder/model.onnx_data': text.data,
    });
    const calls: RecordedCall[] = [];
    const pipe = await StableDiffusionPipeline.fromPretrained(pathToFileURL(folder).href, {
      ort: recordingOrt(calls),
    });
    const c = loadCase(extraDir, 'h_nipp2_one_generator');
    checkCase(c, await runCase(pipe, c, calls, []));
    await pipe.release();
  });

  /** The folder's files as an <input webkitdirectory> gives them, with the UNet's weights outside it. */
  function pickedFiles(): PickedFile[] {
    const unet = externalize(unetBytes(), 'model.onnx_data');
    const entries: [string, Uint8Array][] = FOLDER_FILES.map((file) => [
      file,
      file === 'unet/model.onnx' ? unet.model : new Uint8Array(readFileSync(join(tinySdDir, file))),
    ]);
    entries.push(['unet/model.onnx_data', unet.data], ['README.md', new Uint8Array([35])]);
    return entries.map(([file, bytes]) => ({
      name: basename(file),
      webkitRelativePath: `my-models/tiny-sd/${file}`,
      size: bytes.length,
      arrayBuffer: async () => bytes.slice().buffer,
    }));
  }

  it("picked files (onnxruntime-web, as a browser): the model's bytes and its external data, diffusers' latents", async () => {
    const files = pickedModelFiles(pickedFiles());
    expect(files.location).toBe('picked folder my-models/tiny-sd');
    expect(await files.has('unet/model.onnx')).toBe(true);
    expect(await files.has('tiny-sd/unet/model.onnx')).toBe(false);
    const unet = await files.readModel('unet/model.onnx');
    expect(unet.model).toBeInstanceOf(Uint8Array);
    expect(unet.externalData.map((e) => [e.path, e.data.length])).toEqual([
      ['model.onnx_data', externalize(unetBytes(), 'x').data.length],
    ]);
    await expect(files.readModel('unet/../scheduler/scheduler_config.json')).rejects.toBeInstanceOf(
      LoadError,
    );
    const calls: RecordedCall[] = [];
    const pipe = await StableDiffusionPipeline.fromPretrained(files, {
      ort: recordingOrt(calls, ortWeb as never),
    });
    const c = loadCase(join(tinySdDir, 'pipeline'), 'g_no_cfg');
    checkCase(c, await runCase(pipe, c, calls, []));
    await pipe.release();
  });

  it('picked files without the external data file the model names: a LoadError naming it', async () => {
    const files = pickedFiles().filter((f) => f.name !== 'model.onnx_data');
    const error = await pickedModelFiles(files)
      .readModel('unet/model.onnx')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).field).toBe('unet/model.onnx_data');
    expect((error as LoadError).message).toMatch(/unet\/model\.onnx keeps its weights in it/);
  });

  it('a directory handle (showDirectoryPicker) over the folder', async () => {
    const files = directoryModelFiles(fsHandle(tinySdDir));
    expect(files.location).toBe('picked folder tiny-sd');
    expect(await files.has('unet/model.onnx')).toBe(true);
    expect(await files.has('unet/nothing.onnx')).toBe(false);
    expect(await files.has('nothing/model.onnx')).toBe(false);
    expect(await files.has('unet')).toBe(false);
    expect(JSON.parse(await files.readText('scheduler/scheduler_config.json')).steps_offset).toBe(1);
    const model = await files.readModel('vae_decoder/model.onnx');
    expect((model.model as Uint8Array).length).toBe(
      statSync(join(tinySdDir, 'vae_decoder', 'model.onnx')).size,
    );
    await expect(files.readText('tokenizer/none.json')).rejects.toThrow(
      /is missing from picked folder tiny-sd/,
    );
    const pipe = await StableDiffusionPipeline.fromPretrained(files, {
      ort: recordingOrt([], ortWeb as never),
    });
    expect(pipe.location).toBe('picked folder tiny-sd');
    await pipe.release();
  });
});

/** A FileSystemDirectoryHandle look-alike over a folder on disk (DOMException names as browsers throw). */
function fsHandle(dir: string): DirectoryHandleLike {
  const fail = (name: string) => Object.assign(new Error(`${name} for ${dir}`), { name });
  const kind = (p: string) => {
    try {
      const stat = statSync(p);
      return stat.isDirectory() ? 'dir' : 'file';
    } catch {
      return 'none';
    }
  };
  return {
    name: basename(dir),
    async getDirectoryHandle(name) {
      const p = join(dir, name);
      if (kind(p) === 'none') throw fail('NotFoundError');
      if (kind(p) === 'file') throw fail('TypeMismatchError');
      return fsHandle(p);
    },
    async getFileHandle(name) {
      const p = join(dir, name);
      if (kind(p) === 'none') throw fail('NotFoundError');
      if (kind(p) === 'dir') throw fail('TypeMismatchError');
      return {
        getFile: async () => {
          const bytes = readFileSync(p);
          return { name, size: bytes.length, arrayBuffer: async () => new Uint8Array(bytes).buffer };
        },
      };
    },
  };
}

describe('the ONNX file walk', () => {
  it('refuses cut, foreign and empty bytes, naming the file', async () => {
    const bytes = unetBytes();
    for (const cut of [bytes.length - 1, bytes.length - 100_000, 1000, 10]) {
      await expect(inspectOnnxModel(bytes.subarray(0, cut), 'unet/model.onnx')).rejects.toThrow(/truncated/);
    }
    const json = new TextEncoder().encode('{"_class_name": "UNet2DConditionModel"}');
    await expect(inspectOnnxModel(json, 'unet/model.onnx')).rejects.toThrow(LoadError);
    await expect(inspectOnnxModel(new Uint8Array(0), 'unet/model.onnx')).rejects.toThrow(/holds no graph/);
    await expect(inspectOnnxModel(new Uint8Array([0x08, 0x07]), 'x.onnx')).rejects.toThrow(/holds no graph/);
    await expect(inspectOnnxModel(new Uint8Array([0x0f, 0x01]), 'x.onnx')).rejects.toThrow(
      /not an ONNX model/,
    );
  });
});

describe('the local folder source', () => {
  let folder: string;
  beforeAll(() => {
    folder = folderCopy({});
  });

  it('opens folders by path, relative path and file: URL; reads files by relative paths only', async () => {
    const files = await openModelFolder(folder);
    expect(files.location).toBe(folder);
    expect((await files.readModel('unet/model.onnx')).model).toBe(join(folder, 'unet', 'model.onnx'));
    expect(await files.has('unet/model.onnx')).toBe(true);
    expect(await files.has('unet')).toBe(false);
    for (const bad of ['../x', 'unet/../../x', '/etc/passwd', 'unet\\model.onnx', '']) {
      await expect(files.readText(bad)).rejects.toBeInstanceOf(LoadError);
    }
    await expect(files.readText('unet')).rejects.toThrow(/not a regular file/);
    await expect(files.readModel('unet/none.onnx')).rejects.toThrow(/is missing in the model folder/);
    expect((await openModelFiles(pathToFileURL(folder).href)).location).toBe(folder);
    await expect(openModelFiles('file://host%/x')).rejects.toBeInstanceOf(LoadError);
  });

  it('refuses a file that is not UTF-8 text where text is read', async () => {
    const dir = folderCopy({ 'tokenizer/merges.txt': new Uint8Array([0xff, 0xfe, 0x00]) });
    const files = await openModelFolder(dir);
    await expect(files.readText('tokenizer/merges.txt')).rejects.toThrow(/not UTF-8/);
  });
});

describe('the pipeline reads the model folder it is given', () => {
  it('defaults: 64 x 64 (sample_size 32 x VAE factor 2), scaling_factor 0.18215; without configs 512 and 8', async () => {
    // The onnxruntime-node namespace itself (InferenceSession is a class with a static create).
    const pipe = await StableDiffusionPipeline.fromPretrained(tinySdDir, { ort: ortNode });
    expect([pipe.defaultSize, pipe.vaeScaleFactor, pipe.scalingFactor]).toEqual([64, 2, 0.18215]);
    const { images } = await pipe.generate({ prompt: 'a', numInferenceSteps: 1, height: 16, width: 16 });
    expect([images[0].width, images[0].height]).toEqual([16, 16]);
    expect(pipe.vaeEncoderStyle).toBe('latent_parameters');
    expect(pipe.tokenizer.modelMaxLength).toBe(77);
    const calls: RecordedCall[] = [];
    pipe.scheduler = DDIMScheduler.fromConfig(pipe.scheduler.config);
    const recorded = await StableDiffusionPipeline.fromPretrained(tinySdDir, { ort: recordingOrt(calls) });
    await recorded.generate({ prompt: 'a', numInferenceSteps: 1, generator: new Generator().manualSeed(0) });
    expect(calls.find((c) => c.file === 'unet/model.onnx')!.dims.sample).toEqual([2, 4, 32, 32]);
    await Promise.all([pipe.release(), recorded.release()]);
    // diffusers' convert script writes no config.json: SD's defaults then apply.
    const bare = folderCopy({
      'vae_decoder/config.json': null,
      'vae_encoder/config.json': null,
      'unet/config.json': null,
    });
    const plain = await StableDiffusionPipeline.fromPretrained(bare, { ort: recordingOrt([]) });
    expect([plain.defaultSize, plain.vaeScaleFactor, plain.scalingFactor]).toEqual([512, 8, 0.18215]);
    await plain.release();
  });

  it("a folder naming another scheduler class (SD 1.5's PNDM) gives a DDIMScheduler, with the unused keys reported", async () => {
    const pndm = {
      _class_name: 'PNDMScheduler',
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      num_train_timesteps: 1000,
      set_alpha_to_one: false,
      skip_prk_steps: true,
      steps_offset: 1,
      trained_betas: null,
      clip_sample: false,
    };
    const warnings: string[] = [];
    const pipe = await StableDiffusionPipeline.fromPretrained(
      folderCopy({ 'scheduler/scheduler_config.json': JSON.stringify(pndm) }),
      { ort: recordingOrt([]), onWarning: (m) => warnings.push(m) },
    );
    expect(pipe.scheduler).toBeInstanceOf(DDIMScheduler);
    expect(pipe.scheduler.config).toMatchObject({
      steps_offset: 1,
      clip_sample: false,
      set_alpha_to_one: false,
    });
    expect(warnings).toEqual([
      'The config attributes "skip_prk_steps" were passed to DDIMScheduler, but are not used by it and will be ignored.',
    ]);
    await pipe.release();
  });
});

describe('guidanceRescale in image-to-image (an extension: diffusers\u2019 img2img pipeline has no such argument)', () => {
  it('rescales the guided prediction of each step as in text-to-image', async () => {
    const calls: RecordedCall[] = [];
    const pipe = await StableDiffusionPipeline.fromPretrained(tinySdDir, { ort: recordingOrt(calls) });
    const c = loadCase(join(tinySdDir, 'pipeline'), 'e_img2img');
    const plain = await pipe.generate({ ...generateOptionsOf(c), numInferenceSteps: 4, strength: 0.5 });
    const steps: Float32Array[] = [];
    const rescaled = await pipe.generate({
      ...generateOptionsOf(c),
      numInferenceSteps: 4,
      strength: 0.5,
      guidanceRescale: 0.7,
      onStep: (info) => {
        steps.push((info.sample.data as Float32Array).slice());
      },
    });
    expect(relError(rescaled.latents.data, plain.latents.data)).toBeGreaterThan(1e-3);
    // Step 1 by hand from the UNet's outputs: cfg, then rescale_noise_cfg with phi 0.7, then DDIM.
    const unet = calls.filter((call) => call.file === 'unet/model.onnx');
    const first = unet[unet.length - 2];
    const session = await ortNode.InferenceSession.create(join(tinySdDir, 'unet', 'model.onnx'));
    const out = (
      await session.run({
        sample: new ortNode.Tensor('float32', first.floats.sample, first.dims.sample),
        timestep: new ortNode.Tensor('int64', BigInt64Array.from([BigInt(first.values.timestep[0])]), [1]),
        encoder_hidden_states: new ortNode.Tensor(
          'float32',
          first.floats.encoder_hidden_states,
          first.dims.encoder_hidden_states,
        ),
      })
    ).out_sample.data as Float32Array;
    await session.release();
    const n = out.length / 2;
    const cfg = Array.from({ length: n }, (_, i) => out[i] + 7.5 * (out[n + i] - out[i]));
    const std = (v: ArrayLike<number>) => {
      let mean = 0;
      for (let i = 0; i < v.length; i++) mean += v[i] / v.length;
      let ss = 0;
      for (let i = 0; i < v.length; i++) ss += (v[i] - mean) ** 2;
      return Math.sqrt(ss / (v.length - 1));
    };
    const factor = 0.7 * (std(out.subarray(n)) / std(cfg)) + 0.3;
    const scheduler = DDIMScheduler.fromConfig(pipe.scheduler.config);
    scheduler.setTimesteps(4);
    const t = first.values.timestep[0];
    const aT = scheduler.alphasCumprod[t];
    const aPrev = scheduler.alphasCumprod[t - 250];
    const x = first.floats.sample.subarray(0, n);
    const want = Array.from({ length: n }, (_, i) => {
      const eps = cfg[i] * factor;
      const x0 = (x[i] - Math.sqrt(1 - aT) * eps) / Math.sqrt(aT);
      return Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * eps;
    });
    expect(steps).toHaveLength(2);
    expect(relError(steps[0], want)).toBeLessThan(1e-5);
    await pipe.release();
  });
});
