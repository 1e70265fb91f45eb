/**
 * Hostile model folders and generate inputs: each is a typed error naming the file or option and
 * the fix, raised before any model runs (the recording ort sees no session created, or no call).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, ArgumentError, ConfigError, LoadError, ShapeError, StateError } from '../src/errors.js';
import type { ModelFiles } from '../src/loading/model-files.js';
import { pickedModelFiles } from '../src/loading/picked-files.js';
import { openModelFolder } from '../src/node/pipeline.js';
import { Generator } from '../src/noise/generator.js';
import { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import { DDIMScheduler } from '../src/scheduler/ddim.js';
import { DDIMInverseScheduler } from '../src/scheduler/ddim-inverse.js';
import { guardNetwork, startHubServer } from './helpers/hub-server.js';
import {
  FOLDER_FILES,
  folderCopy,
  initImage,
  type RecordedCall,
  recordingOrt,
  removeFolderCopies,
  tinySdDir,
} from './helpers/sd-pipeline.js';

afterAll(removeFolderCopies);

/** Load with a recording ort; returns the error and what ran. */
async function loadError(
  source: string | ReturnType<typeof pickedModelFiles>,
): Promise<{ error: unknown; created: number }> {
  const calls: RecordedCall[] = [];
  let created = 0;
  const base = recordingOrt(calls);
  const ort = {
    Tensor: base.Tensor,
    InferenceSession: {
      create: (model: string | Uint8Array, options?: object) => {
        created++;
        return base.InferenceSession.create(model, options);
      },
    },
  };
  try {
    await StableDiffusionPipeline.fromPretrained(source, { ort, onWarning: () => {} });
  } catch (error) {
    return { error, created };
  }
  throw new Error('expected the load to fail');
}

describe('hostile model folders: a LoadError naming the file, before any model runs', () => {
  it('a missing unet/model.onnx (no session is created)', async () => {
    const { error, created } = await loadError(folderCopy({ 'unet/model.onnx': null }));
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).field).toBe('unet/model.onnx');
    expect((error as LoadError).message).toMatch(/the UNet/);
    expect((error as LoadError).fix).toMatch(/optimum-cli export onnx/);
    expect(created).toBe(0);
  });

  it('several missing files are named at once', async () => {
    const { error } = await loadError(folderCopy({ 'unet/model.onnx': null, 'tokenizer/merges.txt': null }));
    expect((error as LoadError).message).toMatch(/unet\/model\.onnx: the UNet; tokenizer\/merges\.txt/);
  });

  it('a tokenizer without merges.txt', async () => {
    const { error, created } = await loadError(folderCopy({ 'tokenizer/merges.txt': null }));
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).field).toBe('tokenizer/merges.txt');
    expect(created).toBe(0);
  });

  it('a malformed tokenizer file (vocab.json not JSON; merges.txt without its header)', async () => {
    const vocab = await loadError(folderCopy({ 'tokenizer/vocab.json': '{"a": 1,' }));
    expect(vocab.error).toBeInstanceOf(LoadError);
    expect((vocab.error as LoadError).field).toBe('tokenizer/vocab.json');
    expect(vocab.created).toBe(0);
    const merges = readFileSync(join(tinySdDir, 'tokenizer', 'merges.txt'), 'utf8');
    const headless = await loadError(
      folderCopy({ 'tokenizer/merges.txt': merges.slice(merges.indexOf('\n') + 1) }),
    );
    expect((headless.error as LoadError).field).toBe('tokenizer/merges.txt');
    expect(headless.created).toBe(0);
  });

  it('a malformed scheduler config, VAE config and UNet config', async () => {
    const scheduler = await loadError(folderCopy({ 'scheduler/scheduler_config.json': '[1, 2]' }));
    expect((scheduler.error as LoadError).field).toBe('scheduler/scheduler_config.json');
    const bad = await loadError(
      folderCopy({ 'scheduler/scheduler_config.json': JSON.stringify({ beta_schedule: 'cubic' }) }),
    );
    expect(bad.error).toBeInstanceOf(ConfigError);
    expect((bad.error as ConfigError).field).toBe('beta_schedule');
    const vae = await loadError(
      folderCopy({ 'vae_decoder/config.json': JSON.stringify({ scaling_factor: -1 }) }),
    );
    expect((vae.error as LoadError).field).toBe('vae_decoder/config.json scaling_factor');
    const polluted = await loadError(folderCopy({ 'unet/config.json': '{"__proto__": {"x": 1}}' }));
    expect(polluted.error).toBeInstanceOf(LoadError);
    for (const r of [scheduler, bad, vae, polluted]) expect(r.created).toBe(0);
  });

  it("a model whose inputs are not a UNet's (the VAE decoder under unet/)", async () => {
    const { error } = await loadError(
      folderCopy({ 'unet/model.onnx': readFileSync(join(tinySdDir, 'vae_decoder', 'model.onnx')) }),
    );
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).field).toBe('unet/model.onnx');
    expect((error as LoadError).message).toMatch(
      /'latent_sample'.*'sample', 'timestep', 'encoder_hidden_states'/,
    );
  });

  it('a text encoder or VAE that is another component', async () => {
    const text = await loadError(
      folderCopy({ 'text_encoder/model.onnx': readFileSync(join(tinySdDir, 'vae_decoder', 'model.onnx')) }),
    );
    expect((text.error as LoadError).field).toBe('text_encoder/model.onnx');
    const vae = await loadError(
      folderCopy({ 'vae_decoder/model.onnx': readFileSync(join(tinySdDir, 'vae_encoder', 'model.onnx')) }),
    );
    expect((vae.error as LoadError).field).toBe('vae_decoder/model.onnx');
  });

  it('a truncated .onnx file (from a folder: ONNX Runtime refuses it; as bytes: refused before it)', async () => {
    const unet = readFileSync(join(tinySdDir, 'unet', 'model.onnx'));
    const cut = unet.subarray(0, unet.length - 1000);
    const folder = await loadError(folderCopy({ 'unet/model.onnx': cut }));
    expect(folder.error).toBeInstanceOf(LoadError);
    expect((folder.error as LoadError).field).toBe('unet/model.onnx');
    expect((folder.error as LoadError).message).toMatch(/could not be loaded by ONNX Runtime/);
    const empty = await loadError(folderCopy({ 'unet/model.onnx': new Uint8Array(0) }));
    expect((empty.error as LoadError).field).toBe('unet/model.onnx');
    expect((empty.error as LoadError).message).toMatch(/empty/);
    // Picked files hand over bytes: the protobuf walk finds the cut before ONNX Runtime runs.
    const files = FOLDER_FILES.map((file) => {
      const bytes = file === 'unet/model.onnx' ? cut : readFileSync(join(tinySdDir, file));
      return {
        name: file.split('/').pop()!,
        webkitRelativePath: `tiny-sd/${file}`,
        size: bytes.length,
        arrayBuffer: async () => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      };
    });
    const picked = await loadError(pickedModelFiles(files));
    expect((picked.error as LoadError).field).toBe('unet/model.onnx');
    expect((picked.error as LoadError).message).toMatch(/truncated/);
    // The text encoder was made (it comes first); the truncated UNet never reached ONNX Runtime.
    expect(picked.created).toBe(1);
  });

  it('a path that is a file, or no folder at all', async () => {
    const file = await loadError(join(tinySdDir, 'model_index.json'));
    expect((file.error as LoadError).message).toMatch(/is a file, not a model folder/);
    const none = await loadError('./no-such-folder');
    expect((none.error as LoadError).message).toMatch(/not an existing folder/);
    // Not a path and not a folder: a Hub repo id. Asked of a Hub-like server on 127.0.0.1 that has
    // no such repository (401, as the Hub answers for missing and private repos alike).
    const server = await startHubServer();
    const restoreFetch = guardNetwork();
    const cacheDir = mkdtempSync(join(tmpdir(), 'ddim-hostile-'));
    try {
      const hub = await StableDiffusionPipeline.fromPretrained('org/no-such-model', {
        ort: recordingOrt([]),
        endpoint: server.url,
        cacheDir,
        token: false,
      }).catch((e: unknown) => e);
      expect(hub).toBeInstanceOf(LoadError);
      expect((hub as LoadError).field).toBe('token');
      expect((hub as LoadError).message).toContain('org/no-such-model');
      expect(server.requests.map((r) => r.path)).toEqual([
        '/api/models/org/no-such-model/revision/main?blobs=true',
      ]);
    } finally {
      restoreFetch();
      await server.close();
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
});

describe('hostile generate inputs: typed errors before any model runs', () => {
  const calls: RecordedCall[] = [];
  let pipe: StableDiffusionPipeline;
  const warnings: string[] = [];

  beforeAll(async () => {
    pipe = await StableDiffusionPipeline.fromPretrained(tinySdDir, {
      ort: recordingOrt(calls),
      onWarning: (m) => warnings.push(m),
    });
  });

  /** generate's error, asserting that no model ran. */
  async function refused(options: Record<string, unknown>): Promise<Error & { field: string }> {
    calls.length = 0;
    let error: unknown;
    try {
      await pipe.generate({ numInferenceSteps: 2, ...options } as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(Error);
    expect(calls).toEqual([]);
    return error as Error & { field: string };
  }

  it('height or width not a multiple of 8 (diffusers requires 8 for text-to-image, though this VAE scales by 2)', async () => {
    const error = await refused({ prompt: 'a cat', height: 60 });
    expect(error).toBeInstanceOf(ArgumentError);
    expect(error.field).toBe('options.height');
    expect(error.message).toMatch(/multiple of 8.*VAE factor is 2.*use 56 or 64/);
    expect((await refused({ prompt: 'a cat', width: 36 })).message).toMatch(/use 32 or 40/);
    expect((await refused({ prompt: 'a cat', height: 0 })).field).toBe('options.height');
  });

  it('a prompt that is not a string (or a list of them); no prompt at all', async () => {
    for (const prompt of [42, null, ['ok', 7], [], { text: 'a cat' }]) {
      const error = await refused({ prompt });
      expect(error).toBeInstanceOf(ArgumentError);
      expect(error.field).toMatch(/^options\.prompt/);
    }
    expect((await refused({})).field).toBe('options.prompt');
    expect((await refused({ prompt: 'x'.repeat(20_001) })).message).toMatch(/20001 characters/);
  });

  it('negative prompts that do not go with the prompts; text and embeddings both given', async () => {
    expect((await refused({ prompt: 'a', negativePrompt: ['b'] })).message).toMatch(/TypeError/);
    expect((await refused({ prompt: ['a', 'b'], negativePrompt: ['c'] })).message).toMatch(
      /has 1 prompt but there are 2/,
    );
    const embeds = { data: new Float32Array(77 * 32), dims: [1, 77, 32] };
    expect((await refused({ prompt: 'a', promptEmbeds: embeds })).field).toBe('options.promptEmbeds');
    expect((await refused({ prompt: 'a', negativePrompt: 'b', negativePromptEmbeds: embeds })).field).toBe(
      'options.negativePromptEmbeds',
    );
    const wrong = await refused({ promptEmbeds: { data: new Float32Array(77 * 16), dims: [1, 77, 16] } });
    expect(wrong).toBeInstanceOf(ShapeError);
  });

  it('strength outside [0, 1], strength without an image, a strength that runs 0 steps', async () => {
    const image = initImage();
    for (const strength of [-0.1, 1.5, Number.NaN]) {
      const error = await refused({ prompt: 'a', image, strength });
      expect(error).toBeInstanceOf(ArgumentError);
      expect(error.field).toBe('options.strength');
    }
    const alone = await refused({ prompt: 'a', strength: 0.5 });
    expect(alone.message).toMatch(/needs options\.image/);
    // int(4 * 0.2) = 0 steps: diffusers crashes in its VAE decode; refused up front.
    const zero = await refused({ prompt: 'a', image, strength: 0.2, numInferenceSteps: 4 });
    expect(zero.message).toMatch(/int\(4 \* 0\.2\) = 0 denoising steps/);
    expect((await refused({ prompt: 'a', image, strength: 0 })).field).toBe('options.strength');
  });

  it('an image whose size contradicts height / width, or is not a multiple of the VAE factor', async () => {
    const image = initImage();
    const contradicts = await refused({ prompt: 'a', image, height: 32 });
    expect(contradicts.message).toMatch(/contradicts the image's height 64/);
    const odd = { width: 63, height: 64, data: new Uint8Array(63 * 64 * 3) };
    const error = await refused({ prompt: 'a', image: odd });
    expect(error.field).toBe('options.image.width');
    expect(error.message).toMatch(/multiple of the VAE factor 2.*62 or 64.*62 with Lanczos/);
    expect(
      (await refused({ prompt: 'a', image, latents: { data: new Float32Array(4096), dims: [1, 4, 32, 32] } }))
        .field,
    ).toBe('options.latents');
  });

  it('an aborted signal is an AbortError, before any model runs', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    const error = await refused({ prompt: 'a', signal: controller.signal });
    expect(error).toBeInstanceOf(AbortError);
  });

  it('a signal aborted during the loop stops it with an AbortError', async () => {
    const controller = new AbortController();
    calls.length = 0;
    const run = pipe.generate({
      prompt: 'a',
      numInferenceSteps: 5,
      signal: controller.signal,
      onStep: (info) => {
        if (info.index === 1) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(calls.filter((c) => c.file === 'unet/model.onnx')).toHaveLength(2);
    expect(calls.filter((c) => c.file === 'vae_decoder/model.onnx')).toHaveLength(0);
  });

  it('generators: a list of the wrong length (diffusers: one per image), or not generators', async () => {
    const list = [new Generator().manualSeed(1)];
    const error = await refused({ prompt: ['a', 'b'], generator: list });
    expect(error.message).toMatch(/list of 1 generators, but the run makes 2 images/);
    expect((await refused({ prompt: 'a', numImagesPerPrompt: 2, generator: list })).field).toBe(
      'options.generator',
    );
    expect((await refused({ prompt: 'a', generator: 42 })).field).toBe('options.generator');
    expect(
      (await refused({ prompt: 'a', generator: [new Generator(), {}], numImagesPerPrompt: 2 })).field,
    ).toBe('options.generator[1]');
  });

  it('latents of the wrong shape are a ShapeError (diffusers fails inside the UNet)', async () => {
    const error = await refused({
      prompt: 'a',
      numImagesPerPrompt: 2,
      latents: { data: new Float32Array(4096), dims: [1, 4, 32, 32] },
    });
    expect(error).toBeInstanceOf(ShapeError);
    expect(error.message).toMatch(/must be \[2, 4, 32, 32\]/);
  });

  it('other numbers and options: steps past the schedule, bad guidance, unknown keys', async () => {
    expect((await refused({ prompt: 'a', numInferenceSteps: 1001 })).field).toMatch(/numInferenceSteps/);
    expect((await refused({ prompt: 'a', numInferenceSteps: 2.5 })).field).toBe('options.numInferenceSteps');
    expect((await refused({ prompt: 'a', guidanceScale: Number.POSITIVE_INFINITY })).field).toBe(
      'options.guidanceScale',
    );
    expect((await refused({ prompt: 'a', guidanceRescale: -1 })).field).toBe('options.guidanceRescale');
    expect((await refused({ prompt: 'a', eta: -1 })).field).toBe('options.eta');
    expect((await refused({ prompt: 'a', numImagesPerPrompt: 0 })).field).toBe('options.numImagesPerPrompt');
    expect((await refused({ prompt: 'a', guidance_scale: 7 })).field).toBe('options.guidance_scale');
    expect((await refused({ prompt: 'a', onStep: 'log' })).field).toBe('options.onStep');
    expect((await refused({ prompt: 'a', signal: {} })).field).toBe('options.signal');
    await expect(pipe.generate(undefined as never)).rejects.toBeInstanceOf(ArgumentError);
  });

  it('the scheduler is a DDIMScheduler; a released pipeline cannot generate', async () => {
    expect(() => {
      pipe.scheduler = DDIMInverseScheduler.fromConfig(pipe.scheduler.config) as never;
    }).toThrow(ArgumentError);
    expect(pipe.scheduler).toBeInstanceOf(DDIMScheduler);
    const other = await StableDiffusionPipeline.fromPretrained(tinySdDir, {
      ort: recordingOrt([]),
      onWarning: () => {},
    });
    await other.release();
    await expect(other.generate({ prompt: 'a' })).rejects.toBeInstanceOf(StateError);
  });

  it('image-to-image on a folder without a VAE encoder: a LoadError naming the missing file', async () => {
    const folder = folderCopy({ 'vae_encoder/model.onnx': null, 'vae_encoder/config.json': null });
    const textOnly = await StableDiffusionPipeline.fromPretrained(folder, {
      ort: recordingOrt(calls),
      onWarning: () => {},
    });
    try {
      expect(textOnly.vaeEncoderStyle).toBeNull();
      calls.length = 0;
      const error = await textOnly.generate({ prompt: 'a', image: initImage() }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LoadError);
      expect((error as LoadError).field).toBe('vae_encoder/model.onnx');
      expect(calls).toEqual([]);
    } finally {
      await textOnly.release();
    }
  });

  it('fromPretrained options: ort is required, unknown keys refused', async () => {
    await expect(StableDiffusionPipeline.fromPretrained(tinySdDir, {} as never)).rejects.toBeInstanceOf(
      ArgumentError,
    );
    await expect(
      StableDiffusionPipeline.fromPretrained(tinySdDir, {
        ort: recordingOrt([]),
        sesionOptions: {},
      } as never),
    ).rejects.toThrow(/options\.sesionOptions/);
    await expect(
      StableDiffusionPipeline.fromPretrained(42 as never, { ort: recordingOrt([]) }),
    ).rejects.toBeInstanceOf(LoadError);
  });
});

describe('loading that fails part-way', () => {
  it('a ModelFiles whose methods throw anything: a LoadError naming the folder', async () => {
    const folder = await openModelFolder(tinySdDir);
    const broken: ModelFiles = {
      location: 'broken folder',
      has: (path) => folder.has(path),
      readModel: (path) => folder.readModel(path),
      readText: async () => {
        throw new TypeError('disk on fire');
      },
    };
    const error = await StableDiffusionPipeline.fromPretrained(broken, { ort: recordingOrt([]) }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LoadError);
    expect((error as LoadError).message).toMatch(
      /could not be read \(TypeError: disk on fire\) \(got "broken folder"\)/,
    );
  });

  it('a load aborted between two models: an AbortError, and the sessions made so far are released', async () => {
    const controller = new AbortController();
    const released: string[] = [];
    const base = recordingOrt([]);
    const ort = {
      Tensor: base.Tensor,
      InferenceSession: {
        async create(model: string | Uint8Array, options?: object) {
          const session = await base.InferenceSession.create(model, options);
          controller.abort();
          return Object.assign(session, {
            release: async () => {
              released.push(String(model).split('/').slice(-2).join('/'));
            },
          });
        },
      },
    };
    const error = await StableDiffusionPipeline.fromPretrained(tinySdDir, {
      ort,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).message).toMatch(/before loading unet\/model\.onnx/);
    expect(released).toEqual(['text_encoder/model.onnx']);
  });
});
