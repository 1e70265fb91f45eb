/**
 * The playground's Generate panel in real Chromium: the tiny Stable Diffusion folder
 * (test/fixtures/tiny-sd: real architectures, random weights) loaded into the built page and run
 * by `ddim/pipeline` on onnxruntime-web (WebAssembly), against the same pipeline run here in the
 * test process on onnxruntime-node, and against diffusers' images in the fixture. Requests to
 * anything but the local server are blocked and recorded.
 *
 * Tolerances are the fixture README's: uint8 images at most 1 level off on at most 0.5 % of
 * values (ONNX Runtime's WebAssembly kernels are not its native ones, and float sums differ in
 * their last bits).
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FullState } from '../../playground/src/main.js';
import { StableDiffusionPipeline } from '../../src/node/pipeline.js';
import { Generator } from '../../src/noise/generator.js';
import type { PipelineImage } from '../../src/pipeline/image.js';
import { DDIMScheduler } from '../../src/scheduler/ddim.js';
import { type HubServer, startHubServer } from '../helpers/hub-server.js';
import { tinySdRepo } from '../helpers/model-repo.js';
import {
  bytesOf,
  FOLDER_FILES,
  generateOptionsOf,
  loadCase,
  type PipelineCase,
  tinySdDir,
  uint8Difference,
} from '../helpers/sd-pipeline.js';
import { type Browser, launchChromium } from './browser.js';
import { type StaticServer, serveStatic } from './static-server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST = join(ROOT, 'playground', 'dist');
const CASES = join(tinySdDir, 'pipeline');
const SCREENSHOT = join(ROOT, 'test-results', 'generate.png');
const DOCS_SCREENSHOT = join(ROOT, 'docs', 'playground-generate.png');

type GenState = FullState['generate'];
type Picture = { width: number; height: number; data: number[] };

let server: StaticServer;
let hub: HubServer;
const HUB_COMMIT = 'a'.repeat(40);
/** What huggingface.co sends so that pages of other origins can read its answers. */
const HUB_CORS = {
  'access-control-allow-origin': '*',
  'access-control-expose-headers':
    'x-repo-commit, x-linked-etag, x-linked-size, etag, content-range, location',
};
let browser: Browser;
let page: Page;
let node: StableDiffusionPipeline;
const blocked: string[] = [];
const pageErrors: string[] = [];

/** The panel's state without its pictures (read those with `pictures()`). */
async function genState(target: Page = page): Promise<GenState> {
  return target.evaluate(() => {
    const g = (window as unknown as { __playground: FullState }).__playground.generate;
    return {
      ...g,
      image: null,
      initImage: null,
      previews: g.previews.map((p) => ({ ...p, data: [] })),
    };
  });
}

async function pictures(target: Page = page): Promise<{ image: Picture | null; previews: Picture[] }> {
  return target.evaluate(() => {
    const g = (window as unknown as { __playground: FullState }).__playground.generate;
    return { image: g.image, previews: g.previews };
  });
}

/** Run `action`, then wait until the panel finished a load (counter `loads`) or a run (`runs`). */
async function until(
  counter: 'loads' | 'runs',
  action: () => Promise<unknown>,
  target: Page = page,
): Promise<GenState> {
  const before = await target.evaluate(
    (c) => (window as unknown as { __playground: FullState }).__playground.generate[c],
    counter,
  );
  await action();
  await target.waitForFunction(
    ([c, n]) => {
      const g = (window as unknown as { __playground: FullState }).__playground.generate;
      return g[c as 'loads' | 'runs'] > (n as number) && !g.busy;
    },
    [counter, before] as const,
    { timeout: 110_000 },
  );
  return genState(target);
}

/** Set the panel's form to a fixture case's call (the scheduler overrides through the toggles). */
async function fillCase(c: PipelineCase, preview: string, target: Page = page): Promise<void> {
  const call = c.call as Record<string, number | string | null>;
  await target.fill('#gen-prompt', String(call.prompt));
  await target.fill('#gen-negative', call.negative_prompt ? String(call.negative_prompt) : '');
  await target.fill('#gen-steps', String(call.num_inference_steps));
  await target.fill('#gen-guidance', String(call.guidance_scale));
  await target.fill('#gen-rescale', String(call.guidance_rescale ?? 0));
  await target.fill('#gen-eta', String(call.eta ?? 0));
  await target.fill('#gen-seed', String(c.generator.seeds_str));
  if (c.pipeline === 'StableDiffusionPipeline') {
    await target.fill('#gen-width', String(call.width));
    await target.fill('#gen-height', String(call.height));
  } else {
    await target.fill('#gen-strength', String(call.strength));
  }
  const o = c.scheduler.overrides as Record<string, unknown>;
  const zeroSnr = o.rescale_betas_zero_snr === true;
  expect(zeroSnr ? o.timestep_spacing : undefined, 'the toggle sets zero SNR with trailing').toBe(
    zeroSnr ? 'trailing' : undefined,
  );
  await target.setChecked('#gen-zero-snr', zeroSnr);
  await target.selectOption('#gen-prediction', (o.prediction_type as string | undefined) ?? '');
  await target.selectOption('#gen-preview', preview);
}

/** What the Node pipeline gives for a case: the images, and each step's x0 decoded by the VAE. */
async function nodeRun(
  c: PipelineCase,
): Promise<{ images: PipelineImage[]; x0: PipelineImage[]; timesteps: number[] }> {
  const folder = node.scheduler;
  node.scheduler = DDIMScheduler.fromConfig(folder.config, c.scheduler.overrides);
  const x0: { data: Float32Array; dims: number[] }[] = [];
  const timesteps: number[] = [];
  try {
    const options = generateOptionsOf(c);
    const result = await node.generate({
      ...options,
      onStep: (info) => {
        timesteps.push(info.timestep);
        x0.push({
          data: (info.predOriginalSample.data as Float32Array).slice(),
          dims: [...info.predOriginalSample.dims],
        });
      },
    });
    const decoded: PipelineImage[] = [];
    for (const latents of x0) decoded.push((await node.decode(latents))[0]);
    return { images: result.images, x0: decoded, timesteps };
  } finally {
    node.scheduler = folder;
  }
}

/** Two RGBA pictures compared on RGB: the largest difference and the fraction of values that differ. */
function rgbDifference(a: Picture, b: PipelineImage): { maxDiff: number; fraction: number } {
  expect([a.width, a.height]).toEqual([b.width, b.height]);
  let maxDiff = 0;
  let count = 0;
  for (let p = 0; p < a.width * a.height; p++) {
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(a.data[p * 4 + c] - b.data[p * 4 + c]);
      if (d > 0) count++;
      maxDiff = Math.max(maxDiff, d);
    }
    expect(a.data[p * 4 + 3]).toBe(255);
  }
  return { maxDiff, fraction: count / (a.width * a.height * 3) };
}

function expectSameImage(a: Picture, b: PipelineImage, what: string): void {
  const d = rgbDifference(a, b);
  expect(d.maxDiff, `${what}: largest difference`).toBeLessThanOrEqual(1);
  expect(d.fraction, `${what}: fraction of values off`).toBeLessThanOrEqual(0.005);
}

/** The page's final image against the Node pipeline's and diffusers' (the fixture's image_uint8). */
function expectCaseImage(image: Picture | null, c: PipelineCase, nodeImage: PipelineImage): void {
  expect(image).not.toBeNull();
  expectSameImage(image!, nodeImage, `${c.name}: page vs Node pipeline`);
  const diffusers = uint8Difference(
    [{ ...image!, data: Uint8ClampedArray.from(image!.data) }],
    c.image_uint8,
  );
  expect(diffusers.maxDiff, `${c.name}: page vs diffusers`).toBeLessThanOrEqual(1);
  expect(diffusers.fraction, `${c.name}: page vs diffusers`).toBeLessThanOrEqual(0.005);
}

/**
 * Copy the tiny-sd folder into the page's origin private file system (served by the test's
 * server), and return nothing: the page keeps the handle on `window.__tinySd`. A real
 * FileSystemDirectoryHandle, as `showDirectoryPicker()` and a dropped folder give.
 */
async function copyToOpfs(target: Page): Promise<void> {
  await target.evaluate(async (files) => {
    const root = await navigator.storage.getDirectory();
    const dir = await root.getDirectoryHandle('tiny-sd', { create: true });
    for (const path of files) {
      const parts = path.split('/');
      let folder = dir;
      for (const part of parts.slice(0, -1)) folder = await folder.getDirectoryHandle(part, { create: true });
      const file = await folder.getFileHandle(parts[parts.length - 1], { create: true });
      const body = await (await fetch(`/models/tiny-sd/${path}`)).arrayBuffer();
      const writable = await file.createWritable();
      await writable.write(body);
      await writable.close();
    }
    (window as unknown as { __tinySd: FileSystemDirectoryHandle }).__tinySd = dir;
  }, FOLDER_FILES);
}

async function openPage(query = '', b: Browser = browser): Promise<Page> {
  const p = await b.context.newPage();
  p.on('pageerror', (error) => pageErrors.push(error.message));
  p.on('console', (message) => {
    // The browser logs the 404s of the deliberately wrong URL; anything else is a bug.
    const expected = message.location().url.includes('/models/nothing-here/');
    if (message.type() === 'error' && !expected)
      pageErrors.push(`${message.text()} (${message.location().url})`);
  });
  await p.goto(`${server.origin}/${query}`);
  await p.waitForFunction(
    () => (window as unknown as { __playground?: FullState }).__playground?.ready === true,
  );
  return p;
}

beforeAll(async () => {
  if (!existsSync(join(DIST, 'index.html'))) {
    throw new Error(
      `${DIST}/index.html is missing: run \`npm run build:playground\` (npm run test:e2e does).`,
    );
  }
  node = await StableDiffusionPipeline.fromPretrained(tinySdDir, { ort, onWarning: () => {} });
  server = await serveStatic(DIST, {}, { '/models/tiny-sd/': tinySdDir });
  browser = await launchChromium();
  hub = await startHubServer();
  await browser.context.route('**/*', async (route) => {
    const url = route.request().url();
    if (url.startsWith(`${server.origin}/`)) return route.continue();
    if (url.startsWith(`${hub.url}/`) || url.startsWith(`${hub.cdnUrl}/`)) {
      // The Hub stand-in answers as huggingface.co does but without its CORS headers: added here.
      // Its redirects of LFS files to the CDN are followed here (Chromium would follow a fulfilled
      // redirect without passing the CDN's answer through this route, so without CORS headers).
      const response = await route.fetch();
      return route.fulfill({ response, headers: { ...response.headers(), ...HUB_CORS } });
    }
    blocked.push(url);
    return route.abort();
  });
  page = await openPage();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await hub?.close();
  await node?.release();
});

describe('the Generate panel', () => {
  it('loads the tiny model from the folder input on WebAssembly, in a cross-origin isolated page', async () => {
    await page.selectOption('#gen-backend', 'wasm');
    const s = await until('loads', () => page.setInputFiles('#gen-folder', tinySdDir));
    expect(s.error).toBeNull();
    expect(s.status).toBe('ready');
    expect(s.model).toMatchObject({
      location: 'picked folder tiny-sd',
      from: 'folder input',
      backend: 'wasm',
      crossOriginIsolated: true,
      defaultSize: node.defaultSize,
      vaeScaleFactor: node.vaeScaleFactor,
      scalingFactor: node.scalingFactor,
      vaeEncoderStyle: 'latent_parameters',
    });
    expect(s.model!.scheduler).toEqual(JSON.parse(JSON.stringify(node.scheduler.toJSON())));
    expect(await page.isEnabled('#gen-run')).toBe(true);
  });

  it("a_txt2img: the page's image is the Node pipeline's and diffusers'; each step's x0 is the VAE's decode of it", async () => {
    const c = loadCase(CASES, 'a_txt2img');
    await fillCase(c, 'vae');
    const s = await until('runs', () => page.click('#gen-run'));
    expect(s.error).toBeNull();
    expect(s.status).toBe('done');
    const want = await nodeRun(c);
    expect(s.steps.map((t) => t.timestep)).toEqual(c.timesteps);
    expect(want.timesteps).toEqual(c.timesteps);
    expect(s.progress).toEqual({ step: 10, total: 10 });
    const { image, previews } = await pictures();
    expectCaseImage(image, c, want.images[0]);
    expect(previews).toHaveLength(10);
    for (const [i, p] of previews.entries()) expectSameImage(p, want.x0[i], `x0 preview of step ${i}`);
    expect(s.previews.map((p) => p.kind)).toEqual(Array(10).fill('vae'));
    // Timing: every step timed, the UNet's run within it.
    for (const t of s.steps) {
      expect(t.ms).toBeGreaterThan(0);
      expect(t.unetMs).toBeGreaterThan(0);
      expect(t.unetMs).toBeLessThanOrEqual(t.ms + 1e-6);
      expect(t.previewMs).toBeGreaterThan(0);
    }
    expect(s.timing!.totalMs).toBeGreaterThan(s.timing!.setupMs + s.timing!.decodeMs);
    expect(await page.locator('#gen-previews canvas').count()).toBe(10);
    expect(await page.locator('#gen-timing tbody tr').count()).toBe(10);
    // The panel after this run: saved under test-results/ on every run; UPDATE_SCREENSHOT=1 also
    // refreshes the picture in docs/playground.md.
    const png = await page.locator('#generate-section').screenshot();
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await writeFile(SCREENSHOT, png);
    if (process.env.UPDATE_SCREENSHOT === '1') await writeFile(DOCS_SCREENSHOT, png);
  });

  it('b_zero_snr: the zero-SNR toggle (trailing) with v-prediction and guidance rescale 0.7', async () => {
    const c = loadCase(CASES, 'b_zero_snr');
    await fillCase(c, 'off');
    const s = await until('runs', () => page.click('#gen-run'));
    expect(s.error).toBeNull();
    expect(s.scheduler).toMatchObject(c.scheduler.effective_config);
    expect(s.steps.map((t) => t.timestep)).toEqual(c.timesteps);
    expect(s.previews).toEqual([]);
    expect(s.steps.every((t) => t.preview === null && t.previewMs === 0)).toBe(true);
    expectCaseImage((await pictures()).image, c, (await nodeRun(c)).images[0]);
    // The folder's scheduler is back for the next run.
    await page.setChecked('#gen-zero-snr', false);
    await page.selectOption('#gen-prediction', '');
  });

  it('e_img2img: init.png through the starting-image input, strength 0.6', async () => {
    const c = loadCase(CASES, 'e_img2img');
    await page.setInputFiles('#gen-init', join(CASES, 'init.png'));
    await page.waitForFunction(
      () => (window as unknown as { __playground: FullState }).__playground.generate.initImage !== null,
    );
    // The browser decoded the PNG to the fixture's pixels (RGB + opaque alpha).
    const init = await page.evaluate(
      () => (window as unknown as { __playground: FullState }).__playground.generate.initImage!,
    );
    const rgb = bytesOf(c.img2img!.init_image_uint8!);
    expect([init.width, init.height]).toEqual([64, 64]);
    expect(init.data.filter((_, i) => i % 4 !== 3)).toEqual(Array.from(rgb));
    expect(await page.isDisabled('#gen-width')).toBe(true);
    await fillCase(c, 'auto');
    const s = await until('runs', () => page.click('#gen-run'));
    expect(s.error).toBeNull();
    expect(s.steps.map((t) => t.timestep)).toEqual(c.timesteps);
    expect(s.steps).toHaveLength(c.img2img!.steps_run);
    const want = await nodeRun(c);
    const { image, previews } = await pictures();
    expectCaseImage(image, c, want.images[0]);
    // auto: the first x0 decoded with the VAE and timed; the VAE again on every step when that
    // decode cost at most half its step, else the fitted colour map.
    const kinds = s.previews.map((p) => p.kind);
    expect(kinds[0]).toBe('vae');
    const cheap = s.steps[0].previewMs <= 0.5 * s.steps[0].ms;
    expect(kinds.slice(1)).toEqual(Array(kinds.length - 1).fill(cheap ? 'vae' : 'linear'));
    expectSameImage(previews[0], want.x0[0], 'first x0 preview');
    await page.click('#gen-init-clear');
    expect(await page.isDisabled('#gen-strength')).toBe(true);
  });

  it("draws x0 with the fitted colour map: the model's own VAE, approximated per latent pixel", async () => {
    const c = loadCase(CASES, 'g_no_cfg');
    await fillCase(c, 'linear');
    const s = await until('runs', () => page.click('#gen-run'));
    expect(s.error).toBeNull();
    // The map was fitted on the earlier runs' VAE decodes: no VAE decode for previews here.
    expect(s.previews.map((p) => p.kind)).toEqual(Array(6).fill('linear'));
    const want = await nodeRun(c);
    const { image, previews } = await pictures();
    expectCaseImage(image, c, want.images[0]);
    // Each preview approximates the VAE's picture of the same x0 better than its mean colour does.
    previews.forEach((p, i) => {
      const vae = want.x0[i];
      let err = 0;
      let spread = 0;
      for (let ch = 0; ch < 3; ch++) {
        let mean = 0;
        for (let q = 0; q < p.width * p.height; q++) mean += vae.data[q * 4 + ch];
        mean /= p.width * p.height;
        for (let q = 0; q < p.width * p.height; q++) {
          err += (p.data[q * 4 + ch] - vae.data[q * 4 + ch]) ** 2;
          spread += (vae.data[q * 4 + ch] - mean) ** 2;
        }
      }
      expect(err, `preview ${i}: squared error below the VAE picture's variance`).toBeLessThan(spread);
    });
  });

  it('Stop aborts a run between steps; the next run works', async () => {
    await page.fill('#gen-steps', '400');
    await page.selectOption('#gen-preview', 'off');
    const before = (await genState()).runs;
    await page.click('#gen-run');
    await page.waitForFunction(
      () => (window as unknown as { __playground: FullState }).__playground.generate.progress.step >= 2,
      undefined,
      { timeout: 60_000 },
    );
    await page.click('#gen-stop');
    await page.waitForFunction(
      (n) => (window as unknown as { __playground: FullState }).__playground.generate.runs > n,
      before,
      { timeout: 60_000 },
    );
    const s = await genState();
    expect(s.status).toBe('stopped');
    expect(s.error).toMatch(/aborted/);
    expect(s.progress.step).toBeGreaterThanOrEqual(2);
    expect(s.progress.step).toBeLessThan(400);
    expect((await pictures()).image).toBeNull();
    expect(await page.isEnabled('#gen-run')).toBe(true);
    const c = loadCase(CASES, 'g_no_cfg');
    await fillCase(c, 'off');
    const again = await until('runs', () => page.click('#gen-run'));
    expect(again.status).toBe('done');
    expectCaseImage((await pictures()).image, c, (await nodeRun(c)).images[0]);
  });

  it('loading a folder during a run stops the run first, then loads', async () => {
    await page.fill('#gen-steps', '400');
    await page.selectOption('#gen-preview', 'off');
    const before = await genState();
    await page.click('#gen-run');
    await page.waitForFunction(
      () => (window as unknown as { __playground: FullState }).__playground.generate.progress.step >= 1,
      undefined,
      { timeout: 60_000 },
    );
    const s = await until('loads', () => page.setInputFiles('#gen-folder', tinySdDir));
    expect(s.runs).toBe(before.runs + 1);
    expect(s.progress.step).toBeLessThan(400);
    expect(s.status).toBe('ready');
    expect(s.error).toBeNull();
    const c = loadCase(CASES, 'g_no_cfg');
    await fillCase(c, 'off');
    const run = await until('runs', () => page.click('#gen-run'));
    expect(run.status).toBe('done');
    expectCaseImage((await pictures()).image, c, (await nodeRun(c)).images[0]);
  });

  it('loads the tiny model by URL from the page server (fetched into memory) and gives the same image', async () => {
    const url = `${server.origin}/models/tiny-sd`;
    await page.fill('#gen-url', url);
    const served = server.requests.length;
    const s = await until('loads', () => page.click('#gen-url-load'));
    expect(s.error).toBeNull();
    expect(s.model).toMatchObject({ location: url, from: 'url', backend: 'wasm' });
    // Download progress per file, complete.
    for (const file of ['unet/model.onnx', 'text_encoder/model.onnx', 'vae_decoder/model.onnx']) {
      const p = s.download[file];
      expect(p, file).toBeDefined();
      expect(p.loaded).toBe(statSync(join(tinySdDir, file)).size);
    }
    const fetched = server.requests.slice(served).filter((r) => r.startsWith('/models/tiny-sd/'));
    expect(fetched).toContain('/models/tiny-sd/unet/model.onnx');
    const c = loadCase(CASES, 'g_no_cfg');
    await fillCase(c, 'off');
    const run = await until('runs', () => page.click('#gen-run'));
    expect(run.error).toBeNull();
    expectCaseImage((await pictures()).image, c, (await nodeRun(c)).images[0]);
  });

  it('loads a Hub repo id (revision, endpoint) with external-data weights from a Hub stand-in, hashes checked', async () => {
    // tiny-sd as a Hub repository, the UNet's and VAE decoder's weights in external data files,
    // LFS files redirected to a CDN on another port, as huggingface.co serves them.
    hub.repos.set('tiny/sd-onnx', tinySdRepo(HUB_COMMIT, 'external'));
    await page.fill('#gen-url', 'tiny/sd-onnx');
    await page.fill('#gen-revision', 'main');
    await page.fill('#gen-endpoint', hub.url);
    // One flipped byte in the UNet's weights on the way: refused by its sha256 (WebCrypto in the page).
    hub.faults.push({ file: 'unet/weights.pb', kind: 'corrupt' });
    const refused = await until('loads', () => page.click('#gen-url-load'));
    expect(refused.status).toBe('error');
    expect(refused.error).toMatch(/unet\/weights\.pb[\s\S]*sha256/);
    const before = hub.requests.length;
    const s = await until('loads', () => page.click('#gen-url-load'));
    expect(s.error).toBeNull();
    expect(s.warnings.filter((w) => /not checked/.test(w))).toEqual([]);
    expect(s.model).toMatchObject({ from: 'url', backend: 'wasm' });
    expect(s.model!.location).toContain('tiny/sd-onnx');
    const cdn = hub.requests.slice(before).filter((r) => r.server === 'cdn');
    expect(cdn.map((r) => r.file).sort()).toEqual(
      expect.arrayContaining(['unet/weights.pb', 'vae_decoder/model.onnx_data', 'unet/model.onnx']),
    );
    // Files an ONNX pipeline never needs were never fetched.
    const fetched = hub.requests.slice(before).map((r) => r.file ?? r.path);
    for (const unneeded of ['unet/diffusion_pytorch_model.safetensors', 'text_encoder/pytorch_model.bin'])
      expect(
        fetched.some((f) => f.includes(unneeded)),
        unneeded,
      ).toBe(false);
    expect(s.download['unet/weights.pb']?.loaded).toBeGreaterThan(0);
    const c = loadCase(CASES, 'g_no_cfg');
    await fillCase(c, 'off');
    const run = await until('runs', () => page.click('#gen-run'));
    expect(run.error).toBeNull();
    expectCaseImage((await pictures()).image, c, (await nodeRun(c)).images[0]);
    await page.fill('#gen-endpoint', 'https://huggingface.co');
  });

  it('reports a URL that is not a model folder, naming the missing files', async () => {
    await page.fill('#gen-url', `${server.origin}/models/nothing-here`);
    const s = await until('loads', () => page.click('#gen-url-load'));
    expect(s.status).toBe('error');
    expect(s.model).toBeNull();
    expect(s.error).toContain('unet/model.onnx');
    expect(await page.textContent('#gen-model-status')).toContain(s.error!);
    expect(await page.isDisabled('#gen-run')).toBe(true);
    // Back to the folder for the next tests.
    const again = await until('loads', () => page.setInputFiles('#gen-folder', tinySdDir));
    expect(again.status).toBe('ready');
  });

  it("shows the library's errors: zero SNR with epsilon prediction, a size that is not a multiple of 8", async () => {
    await page.setChecked('#gen-zero-snr', true);
    let s = await until('runs', () => page.click('#gen-run'));
    expect(s.status).toBe('error');
    expect(s.error).toMatch(/zero terminal SNR|rescale_betas_zero_snr/);
    expect(await page.textContent('#gen-status')).toContain(s.error!);
    await page.setChecked('#gen-zero-snr', false);
    await page.fill('#gen-width', '60');
    s = await until('runs', () => page.click('#gen-run'));
    expect(s.status).toBe('error');
    expect(s.error).toMatch(/width/);
    await page.fill('#gen-width', '64');
  });

  it('loads a folder from a directory handle: a drop (getAsFileSystemHandle, or webkitGetAsEntry) and showDirectoryPicker', async () => {
    await copyToOpfs(page);
    const c = loadCase(CASES, 'g_no_cfg');
    const want = await nodeRun(c);
    const load = async (how: 'handle' | 'entry' | 'picker') =>
      until('loads', () =>
        page.evaluate(async (mode) => {
          const dir = (window as unknown as { __tinySd: FileSystemDirectoryHandle }).__tinySd;
          if (mode === 'picker') {
            (window as unknown as { showDirectoryPicker: () => Promise<unknown> }).showDirectoryPicker =
              async () => dir;
            (document.getElementById('gen-open-folder') as HTMLButtonElement).click();
            return;
          }
          // A FileSystemDirectoryEntry look-alike over the same folder (a drop's webkitGetAsEntry()).
          const entry = (d: FileSystemDirectoryHandle): unknown => ({
            name: d.name,
            isDirectory: true,
            getDirectory: (n: string, _o: object, ok: (e: unknown) => void, fail: (e: unknown) => void) =>
              d.getDirectoryHandle(n).then((h) => ok(entry(h)), fail),
            getFile: (n: string, _o: object, ok: (e: unknown) => void, fail: (e: unknown) => void) =>
              d.getFileHandle(n).then(
                (h) =>
                  ok({
                    file: (yes: (f: File) => void, no: (e: unknown) => void) => h.getFile().then(yes, no),
                  }),
                fail,
              ),
          });
          const item = {
            kind: 'file',
            type: '',
            webkitGetAsEntry: () => entry(dir),
            ...(mode === 'handle' ? { getAsFileSystemHandle: async () => dir } : {}),
          };
          const event = new DragEvent('drop', { bubbles: true, cancelable: true });
          Object.defineProperty(event, 'dataTransfer', { value: { items: [item], files: [] } });
          document.getElementById('gen-drop')!.dispatchEvent(event);
        }, how),
      );
    for (const how of ['handle', 'entry', 'picker'] as const) {
      const s = await load(how);
      expect(s.error, how).toBeNull();
      expect(s.model).toMatchObject({
        location: 'picked folder tiny-sd',
        from: how === 'picker' ? 'directory picker' : 'drop',
      });
      await fillCase(c, 'off');
      const run = await until('runs', () => page.click('#gen-run'));
      expect(run.error, how).toBeNull();
      expectCaseImage((await pictures()).image, c, want.images[0]);
    }
  });

  it('runs on 2 WebAssembly threads (cross-origin isolated) with the same image', async () => {
    const threaded = await openPage();
    await threaded.selectOption('#gen-backend', 'wasm');
    await threaded.fill('#gen-threads', '2');
    const s = await until('loads', () => threaded.setInputFiles('#gen-folder', tinySdDir), threaded);
    expect(s.error).toBeNull();
    expect(s.model).toMatchObject({ threads: 2, crossOriginIsolated: true, backend: 'wasm' });
    const c = loadCase(CASES, 'a_txt2img');
    await fillCase(c, 'off', threaded);
    const run = await until('runs', () => threaded.click('#gen-run'), threaded);
    expect(run.error).toBeNull();
    expectCaseImage((await pictures(threaded)).image, c, (await nodeRun(c)).images[0]);
    // ONNX Runtime's threads are emscripten pthreads: web workers of the page (none on one thread).
    expect(threaded.workers().length).toBeGreaterThanOrEqual(1);
    expect(page.workers()).toHaveLength(0);
    await threaded.close();
  });

  it("runs on WebGPU where the browser has an adapter (Chromium's software one here): the Node pipeline's image", async () => {
    // A second browser with SwiftShader's WebGPU adapter (the first has no GPU at all). Software
    // WebGPU is slow (seconds per UNet call), so the run is small: 2 steps at 32 x 32.
    const gpuBrowser = await launchChromium({ softwareWebGpu: true });
    try {
      await gpuBrowser.context.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith(`${server.origin}/`)) return route.continue();
        blocked.push(url);
        return route.abort();
      });
      const gpu = await openPage('', gpuBrowser);
      expect(await gpu.selectOption('#gen-backend', 'auto')).toEqual(['auto']);
      const s = await until('loads', () => gpu.setInputFiles('#gen-folder', tinySdDir), gpu);
      expect(s.error).toBeNull();
      // ONNX Runtime's WebGPU backend made its device on SwiftShader's adapter.
      expect(s.model).toMatchObject({
        backend: 'webgpu',
        backendReason: 'WebGPU, found',
        gpuAdapter: 'google swiftshader',
      });
      const call = { prompt: 'a red barn', steps: 2, size: 32, guidance: 7.5, seed: '11' };
      await gpu.fill('#gen-prompt', call.prompt);
      await gpu.fill('#gen-negative', '');
      await gpu.fill('#gen-steps', String(call.steps));
      await gpu.fill('#gen-width', String(call.size));
      await gpu.fill('#gen-height', String(call.size));
      await gpu.fill('#gen-guidance', String(call.guidance));
      await gpu.fill('#gen-seed', call.seed);
      await gpu.selectOption('#gen-preview', 'vae');
      const run = await until('runs', () => gpu.click('#gen-run'), gpu);
      expect(run.error).toBeNull();
      const x0: { data: Float32Array; dims: number[] }[] = [];
      const want = await node.generate({
        prompt: call.prompt,
        numInferenceSteps: call.steps,
        width: call.size,
        height: call.size,
        guidanceScale: call.guidance,
        generator: new Generator().manualSeed(call.seed),
        onStep: (info) => {
          x0.push({
            data: (info.predOriginalSample.data as Float32Array).slice(),
            dims: [...info.predOriginalSample.dims],
          });
        },
      });
      const { image, previews } = await pictures(gpu);
      expectSameImage(image!, want.images[0], 'WebGPU page vs Node pipeline');
      expect(previews).toHaveLength(2);
      for (const [i, p] of previews.entries())
        expectSameImage(p, (await node.decode(x0[i]))[0], `WebGPU x0 preview ${i}`);
      await gpu.close();
    } finally {
      await gpuBrowser.close();
    }
  });

  it('made no request beyond 127.0.0.1 and logged no errors', () => {
    expect(blocked, 'requests to other origins').toEqual([]);
    expect(pageErrors, 'errors in the page').toEqual([]);
    // The bundled .wasm was fetched from the page's own assets.
    expect(server.requests.some((r) => /^\/assets\/ort-wasm-simd-threaded\.jsep-[\w-]+\.wasm$/.test(r))).toBe(
      true,
    );
  });
});
