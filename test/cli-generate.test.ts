/**
 * `ddim generate` as a user runs it (`node cli/dist/index.js generate ...` in a child process) on
 * the tiny model folder (test/fixtures/tiny-sd): the PNG files it writes hold diffusers' images for
 * the fixture's calls (within the README's uint8 tolerance) and exactly the pixels `pipe.generate`
 * gives in-process; image-to-image from a PNG; several images; the zero-SNR recipe; what it prints;
 * usage errors (exit 2) and library errors (exit 1).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as ort from 'onnxruntime-node';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngImage } from '../cli/src/png-image.js';
import { Generator } from '../src/noise/generator.js';
import '../src/node/pipeline.js';
import type { GenerateOptions } from '../src/pipeline/generate-options.js';
import { StableDiffusionPipeline } from '../src/pipeline/pipeline.js';
import type { PipelineOrt } from '../src/pipeline/sessions.js';
import { CLI, runCli } from './helpers/cli.js';
import { type HubServer, startHubServer } from './helpers/hub-server.js';
import { tinySdRepo } from './helpers/model-repo.js';
import { DEFAULT_TOLERANCE, loadCase, tinySdDir, uint8Difference } from './helpers/sd-pipeline.js';

let work: string;
let pipe: StableDiffusionPipeline;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ddim-generate-'));
  pipe = await StableDiffusionPipeline.fromPretrained(tinySdDir, {
    ort: ort as unknown as PipelineOrt,
    onWarning: () => {},
  });
});
afterAll(async () => {
  await pipe.release();
  rmSync(work, { recursive: true, force: true });
});

const caseDir = join(tinySdDir, 'pipeline');
const initPng = join(caseDir, 'init.png');

/** A written PNG as the pipeline's image shape (RGBA), checking it is an 8-bit RGB file. */
function readOutput(file: string): { width: number; height: number; data: Uint8ClampedArray } {
  const bytes = readFileSync(file);
  expect([bytes[24], bytes[25]]).toEqual([8, 2]); // IHDR: 8-bit, colour type 2 (RGB)
  const image = readPngImage(bytes, file);
  return { width: image.width, height: image.height, data: new Uint8ClampedArray(image.data) };
}

/** The fixture's tolerance: at most 1 level off on at most 0.5 % of the values. */
function expectFixtureImages(
  images: { width: number; height: number; data: Uint8ClampedArray }[],
  caseName: string,
): void {
  const c = loadCase(caseDir, caseName);
  const tolerance = c.tolerance ?? DEFAULT_TOLERANCE;
  const diff = uint8Difference(images, c.image_uint8);
  expect(diff.maxDiff).toBeLessThanOrEqual(tolerance.image_uint8_max_diff);
  expect(diff.fraction).toBeLessThanOrEqual(tolerance.image_uint8_max_fraction_differing);
}

/** In-process pipe.generate with the folder's scheduler. */
async function inProcess(options: GenerateOptions) {
  return (await pipe.generate(options)).images;
}

const A_PROMPT = 'a photo of an astronaut riding a horse on mars';

describe('ddim generate on the tiny model folder', () => {
  it("text-to-image: a_txt2img's call gives diffusers' image, the same pixels as pipe.generate", async () => {
    const out = join(work, 'a.png');
    const r = await runCli([
      'generate',
      '--model',
      tinySdDir,
      '--prompt',
      A_PROMPT,
      '--steps',
      '10',
      '--seed',
      '42',
      '--out',
      out,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const image = readOutput(out);
    expectFixtureImages([image], 'a_txt2img');
    const [want] = await inProcess({
      prompt: A_PROMPT,
      numInferenceSteps: 10,
      generator: new Generator().manualSeed(42),
    });
    expect(Buffer.from(image.data).equals(Buffer.from(want.data))).toBe(true);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe(`ddim generate: ${tinySdDir}`);
    expect(lines[1]).toBe(
      'scheduler: DDIM: scaled_linear 0.00085..0.012 (T=1000), terminal SNR 0.00468, leading spacing, steps_offset 1, epsilon',
    );
    expect(lines[2]).toBe(`prompt: "${A_PROMPT}"`);
    expect(lines[3]).toBe('64x64, 1 image, 10 steps, guidance 7.5, rescale 0, eta 0, seed 42');
    expect(lines[4]).toBe(`wrote ${out}`);
    // The closing line: the stages, then each step split into the UNet's session.run and the rest.
    const time = lines[5].match(
      /^time: ([\d.]+) (s|ms) \(load [\d.]+ m?s, text encoder [\d.]+ m?s, VAE decoder [\d.]+ m?s\); per step ([\d.]+) ms = model \(UNet session\.run\) ([\d.]+) ms \+ the rest ([\d.e-]+) ms \(([\d.e-]+) %\)$/,
    );
    expect(time, lines[5]).not.toBeNull();
    const [perStep, model, rest, percent] = time!.slice(3).map(Number);
    expect(model).toBeGreaterThan(0);
    expect(rest).toBeGreaterThan(0);
    // The parts add up (to the printed digits: 3 significant each).
    expect(Math.abs(model + rest - perStep)).toBeLessThanOrEqual(0.006 * perStep + 0.001);
    expect(Math.abs(percent - (100 * rest) / perStep)).toBeLessThanOrEqual(0.06 * percent + 0.01);
    expect(lines).toHaveLength(6);
  });

  it("the zero-SNR recipe (--zero-snr --prediction v_prediction) gives b_zero_snr's image (trailing, rescale 0.7)", async () => {
    const out = join(work, 'b.png');
    const r = await runCli([
      'generate',
      '--model',
      tinySdDir,
      '--prompt',
      'a lighthouse at night',
      '--steps',
      '10',
      '--seed',
      '0',
      '--zero-snr',
      '--prediction',
      'v_prediction',
      '--out',
      out,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('zero terminal SNR, trailing spacing, steps_offset 1, v_prediction');
    expect(r.stdout).toContain('guidance 7.5, rescale 0.7, eta 0, seed 0');
    expectFixtureImages([readOutput(out)], 'b_zero_snr');
  });

  it("--zero-snr on an epsilon model: the library's ConfigError (diffusers #3851), exit 1, nothing written", async () => {
    const out = join(work, 'eps-zero-snr.png');
    const r = await runCli(['generate', '--model', tinySdDir, '--prompt', 'x', '--zero-snr', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: prediction_type cannot step from timestep 999: .*#3851.*v_prediction/);
    expect(() => readFileSync(out)).toThrow();
  });

  it("image-to-image from init.png: e_img2img's image; an RGBA copy with transparency gives the same pixels, with a warning", async () => {
    const out = join(work, 'e.png');
    const args = ['--prompt', 'a watercolor painting', '--steps', '20', '--seed', '3', '--strength', '0.6'];
    const r = await runCli(['generate', '--model', tinySdDir, '--image', initPng, ...args, '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `64x64, 1 image, 12 of 20 steps (strength 0.6, from ${initPng}: 64x64 RGB, 8-bit), guidance 7.5`,
    );
    expect(r.stdout).toMatch(/\(load .*, text encoder .*, VAE encoder [\d.]+ m?s, VAE decoder/);
    const image = readOutput(out);
    expectFixtureImages([image], 'e_img2img');

    // The same picture as RGBA with varying alpha: alpha is dropped as PIL's convert("RGB") does.
    const init = PNG.sync.read(readFileSync(initPng));
    const rgba = new PNG({ width: init.width, height: init.height });
    init.data.copy(rgba.data);
    for (let p = 3; p < rgba.data.length; p += 4) rgba.data[p] = (p * 7) % 256;
    const rgbaFile = join(work, 'init-rgba.png');
    writeFileSync(rgbaFile, PNG.sync.write(rgba, { colorType: 6 }));
    const out2 = join(work, 'e-rgba.png');
    const r2 = await runCli(['generate', '--model', tinySdDir, '--image', rgbaFile, ...args, '--out', out2]);
    expect(r2.code).toBe(0);
    expect(r2.stderr).toBe(
      `warning: ${rgbaFile} has transparent pixels: their alpha is ignored and the colours they store are used, as diffusers' PIL convert("RGB") does\n`,
    );
    expect(Buffer.from(readOutput(out2).data).equals(Buffer.from(image.data))).toBe(true);
  });

  it('--num-images 2 writes out-0.png and out-1.png: the images of pipe.generate in order, one generator', async () => {
    const out = join(work, 'two.png');
    const r = await runCli([
      'generate',
      '--model',
      tinySdDir,
      '--prompt',
      'a red cube',
      '--negative-prompt',
      'blurry',
      '--steps',
      '4',
      '--seed',
      '11',
      '--eta',
      '1',
      '--num-images',
      '2',
      '--out',
      out,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const files = [join(work, 'two-0.png'), join(work, 'two-1.png')];
    expect(r.stdout).toContain(`64x64, 2 images, 4 steps, guidance 7.5, rescale 0, eta 1, seed 11`);
    expect(r.stdout).toContain(`wrote ${files.join(', ')}`);
    expect(r.stdout).toContain('prompt: "a red cube", negative prompt: "blurry"');
    expect(() => readFileSync(out)).toThrow();
    const want = await inProcess({
      prompt: 'a red cube',
      negativePrompt: 'blurry',
      numInferenceSteps: 4,
      eta: 1,
      numImagesPerPrompt: 2,
      generator: new Generator().manualSeed(11),
    });
    const got = files.map(readOutput);
    for (const i of [0, 1]) expect(Buffer.from(got[i].data).equals(Buffer.from(want[i].data))).toBe(true);
    expect(Buffer.from(got[0].data).equals(Buffer.from(got[1].data))).toBe(false);
  });

  it('--width / --height: another size (48 x 80), the same pixels as pipe.generate', async () => {
    const out = join(work, 'size.png');
    const r = await runCli([
      'generate',
      '--model',
      tinySdDir,
      '--prompt',
      'a tall tower',
      '--steps',
      '2',
      '--guidance-scale',
      '1',
      '--width',
      '48',
      '--height',
      '80',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('48x80, 1 image, 2 steps, guidance 1, rescale 0');
    const [want] = await inProcess({
      prompt: 'a tall tower',
      numInferenceSteps: 2,
      guidanceScale: 1,
      width: 48,
      height: 80,
      generator: new Generator().manualSeed(0),
    });
    const image = readOutput(out);
    expect([image.width, image.height]).toEqual([48, 80]);
    expect(Buffer.from(image.data).equals(Buffer.from(want.data))).toBe(true);
  });
});

describe('ddim generate --model org/name: what reaches the model source', () => {
  it('passes --revision, --local-files-only, --cache-dir and a progress callback; one line per downloaded file', async () => {
    // A source standing in for the Hub's, preloaded into the CLI's process (test/helpers/fake-hub-source.mjs).
    const record = join(work, 'hub-options.json');
    const out = join(work, 'hub.png');
    const preload = pathToFileURL(join(import.meta.dirname, 'helpers', 'fake-hub-source.mjs')).href;
    const r = await runCli(
      [
        'generate',
        '--model',
        'tiny/sd-onnx',
        '--revision',
        'onnx',
        '--local-files-only',
        '--cache-dir',
        join(work, 'hub-cache'),
        '--prompt',
        A_PROMPT,
        '--steps',
        '10',
        '--seed',
        '42',
        '--out',
        out,
      ],
      {
        env: {
          NODE_OPTIONS: `--import ${preload}`,
          DDIM_TEST_HUB_REPO: 'tiny/sd-onnx',
          DDIM_TEST_HUB_RECORD: record,
          DDIM_TEST_HUB_FOLDER: tinySdDir,
        },
      },
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(record, 'utf8'))).toEqual({
      revision: 'onnx',
      localFilesOnly: true,
      cacheDir: join(work, 'hub-cache'),
      onProgress: 'function',
      onWarning: 'function',
      signal: 'AbortSignal',
    });
    // stderr is not a terminal here: no bars, one line per downloaded file (a file of unknown size
    // when the loading is over).
    expect(r.stderr).toBe('downloaded unet/model.onnx (2.00 MB)\ndownloaded tokenizer/vocab.json (862 kB)\n');
    expect(r.stdout.split('\n')[0]).toBe(`ddim generate: tiny/sd-onnx (${tinySdDir})`);
    expectFixtureImages([readOutput(out)], 'a_txt2img');
  });
});

describe('ddim generate --model org/name from a Hub-like server on 127.0.0.1', () => {
  const COMMIT = 'c1100000000000000000000000000000000000a1';
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer();
    // tiny-sd as a Hub repository, the UNet's and VAE decoder's weights in external data files.
    hub.repos.set('tiny/sd-onnx', tinySdRepo(COMMIT, 'external'));
  });
  afterAll(async () => {
    await hub.close();
  });

  it("downloads into HF_HUB_CACHE (a line per file), gives a_txt2img's image, then the same offline", async () => {
    const cache = mkdtempSync(join(work, 'hf-cache-'));
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_HOME: join(work, 'hf-home'), HF_TOKEN: '' };
    const args = [
      'generate',
      '--model',
      'tiny/sd-onnx',
      '--prompt',
      A_PROMPT,
      '--steps',
      '10',
      '--seed',
      '42',
    ];
    const out = join(work, 'hub-a.png');
    const r = await runCli([...args, '--out', out], { env });
    expect(r.code, r.stderr).toBe(0);
    // stderr is not a terminal: no bars, one line per downloaded file, with its size.
    const lines = r.stderr.trim().split('\n');
    for (const line of lines) expect(line).toMatch(/^downloaded \S+ \(\d[\d.]* (B|kB|MB)\)$/);
    const files = lines.map((line) => line.split(' ')[1]);
    expect(files).toEqual(
      expect.arrayContaining([
        'unet/model.onnx',
        'unet/weights.pb',
        'vae_decoder/model.onnx_data',
        'text_encoder/model.onnx',
        'tokenizer/vocab.json',
        'scheduler/scheduler_config.json',
      ]),
    );
    expect(lines).toContain('downloaded unet/weights.pb (5.67 MB)');
    expect(new Set(files).size).toBe(files.length);
    // The other frameworks' weights in the repository are never fetched.
    expect(files.filter((f) => /safetensors|pytorch_model|README/.test(f))).toEqual([]);
    expect(r.stdout.split('\n')[0]).toBe(`ddim generate: tiny/sd-onnx (revision "main", commit ${COMMIT})`);
    expectFixtureImages([readOutput(out)], 'a_txt2img');
    // The cache layout Python reads: models--tiny--sd-onnx/snapshots/<commit>.
    expect(readdirSync(join(cache, 'models--tiny--sd-onnx', 'snapshots'))).toEqual([COMMIT]);

    // Offline from the same cache (--local-files-only): no request, nothing downloaded, the same file.
    hub.requests.length = 0;
    const out2 = join(work, 'hub-b.png');
    const r2 = await runCli([...args, '--local-files-only', '--out', out2], { env });
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stderr).toBe('');
    expect(hub.requests).toEqual([]);
    expect(readFileSync(out2).equals(readFileSync(out))).toBe(true);
  });

  it('a repo the Hub does not have: exit 1 with the LoadError, nothing written', async () => {
    const cache = mkdtempSync(join(work, 'hf-cache-'));
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache, HF_HOME: join(work, 'hf-home'), HF_TOKEN: '' };
    const out = join(work, 'hub-missing.png');
    const r = await runCli(['generate', '--model', 'tiny/not-there', '--prompt', 'x', '--out', out], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*tiny\/not-there/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(() => readFileSync(out)).toThrow();
  });
});

describe('ddim generate: errors', () => {
  it('usage errors exit 2 with a pointer to --help, before any model loads', async () => {
    const base = ['generate', '--model', tinySdDir, '--prompt', 'x'];
    const cases: [string[], RegExp][] = [
      [['generate', '--prompt', 'x'], /required option '--model <folder\|org\/name>' not specified/],
      [['generate', '--model', tinySdDir], /required option '--prompt <text>' not specified/],
      [[...base, '--strength', '0.5'], /--strength is for image-to-image: pass --image/],
      [[...base, '--strength', '1.5', '--image', initPng], /'--strength <s>' argument '1.5' is invalid/],
      [[...base, '--steps', '0'], /'--steps <n>' argument '0' is invalid/],
      [[...base, '--num-images', '0'], /'--num-images <n>' argument '0' is invalid/],
      [[...base, '--out', 'x.jpg'], /must end in \.png/],
      [
        [...base, '--guidance-scale', '1', '--negative-prompt', 'y'],
        /--negative-prompt acts through guidance/,
      ],
      [[...base, '--guidance-scale', '1', '--guidance-rescale', '0.5'], /--guidance-rescale acts on guided/],
      [[...base, '--spacing', 'sideways'], /argument 'sideways' is invalid. Allowed choices are leading/],
      [[...base, '--no-such-flag'], /unknown option '--no-such-flag'/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('(run with --help for usage)');
      expect(r.stdout).toBe('');
    }
  });

  it('a missing model folder, a folder without the models, a mistyped name: exit 1 with the LoadError', async () => {
    const missing = await runCli(['generate', '--model', join(work, 'nothing-here'), '--prompt', 'x']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      `error: source is not an existing folder (resolved to ${join(work, 'nothing-here')}) (got "${join(work, 'nothing-here')}"). Fix: check the path; relative paths are resolved against the working folder ${process.cwd()}.\n`,
    );
    const empty = mkdtempSync(join(work, 'empty-'));
    const r = await runCli(['generate', '--model', empty, '--prompt', 'x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*unet\/model\.onnx/);
    expect(r.stderr.split('\n')).toHaveLength(2); // one line, no stack trace
    const typo = await runCli(['generate', '--model', 'tiny-sdd', '--prompt', 'x'], { cwd: work });
    expect(typo.code).toBe(1);
    expect(typo.stderr).toContain('error: --model is not an existing folder, nor a Hub repo id (org/name)');
  });

  it('Ctrl-C stops at the next step: exit 1 saying so, no image written', async () => {
    const folder = mkdtempSync(join(work, 'sigint-'));
    const child = spawn(
      process.execPath,
      [
        CLI,
        'generate',
        '--model',
        tinySdDir,
        '--prompt',
        'x',
        '--steps',
        '200',
        '--out',
        join(folder, 'x.png'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
    );
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    // The prompt line is printed after loading, as the steps start.
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk;
        if (stdout.includes('prompt: "x"')) resolve();
      });
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stderr).toBe(
      '\ninterrupted: stopping at the next step (Ctrl-C again to quit now)\nerror: generate was interrupted (Ctrl-C) (got "SIGINT"). Fix: run the command again; no image was written.\n',
    );
    expect(readdirSync(folder)).toEqual([]);
  });

  it('a height the model cannot take, an unreadable or non-PNG --image: exit 1 naming the fix', async () => {
    const base = ['generate', '--model', tinySdDir, '--prompt', 'x', '--steps', '2'];
    const height = await runCli([...base, '--height', '60']);
    expect(height.code).toBe(1);
    expect(height.stderr).toContain('error: options.height must be a multiple of 8');
    expect(height.stderr).toContain('Fix: use 56 or 64.');
    const absent = await runCli([...base, '--image', join(work, 'absent.png')]);
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain('error: --image could not be read (ENOENT)');
    const notPng = join(work, 'not.png');
    writeFileSync(notPng, 'GIF89a');
    const bad = await runCli([...base, '--image', notPng]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`error: --image is not a readable PNG file`);
  });

  it('--help lists the flags and exits 0', async () => {
    const r = await runCli(['generate', '--help']);
    expect(r.code).toBe(0);
    for (const flag of [
      '--model <folder|org/name>',
      '--prompt <text>',
      '--negative-prompt <text>',
      '--steps <n>',
      '--guidance-scale <w>',
      '--guidance-rescale <phi>',
      '--eta <eta>',
      '--seed <seed>',
      '--width <px>',
      '--height <px>',
      '--num-images <n>',
      '--image <file>',
      '--strength <s>',
      '--zero-snr',
      '--revision <rev>',
      '--local-files-only',
      '--cache-dir <dir>',
      '--threads <n>',
      '--out <file>',
      '--no-progress',
    ]) {
      expect(r.stdout).toContain(flag);
    }
    const top = await runCli(['--help']);
    expect(top.stdout).toMatch(/^\s+generate \[options\]/m);
  });
});
