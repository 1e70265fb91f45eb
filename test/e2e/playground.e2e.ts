/**
 * The playground in real Chromium: the built page (playground/dist, built by `npm run test:e2e`)
 * served on 127.0.0.1, driven headless through playwright-core. Every expected value is computed
 * here with the library (and, where simple, from the paper formulas), never read back from the
 * page. Requests to anything but the local server are blocked and recorded: the page must work
 * offline.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FullState } from '../../playground/src/main.js';
import { shapesDataset } from '../../src/exact/datasets.js';
import { gaussianMixtureDenoiser } from '../../src/exact/models.js';
import { ConfigError, DDIMScheduler, Generator, randnTensor, sample } from '../../src/index.js';
import { fixtureText, type HubServer, startHubServer } from '../helpers/hub-server.js';
import { type Browser, launchChromium } from './browser.js';
import { type StaticServer, serveStatic } from './static-server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DIST = join(ROOT, 'playground', 'dist');
// Each run saves its screenshot under test-results/ (not tracked: Chromium's antialiasing differs
// by a few pixels between runs). UPDATE_SCREENSHOT=1 also refreshes the committed docs/playground.png.
const SCREENSHOT = join(ROOT, 'test-results', 'playground.png');
const DOCS_SCREENSHOT = join(ROOT, 'docs', 'playground.png');

/** window.__playground: the page's state (playground/src/page.ts) with the sampling panels'. */
type PageState = FullState;

type Panel = 'sampling' | 'images';

/** Wait until a panel has finished a run for the page's current settings. */
async function settled(panel: Panel, after: number): Promise<PageState> {
  await settledOnly(panel, after);
  return state();
}

/** `settled` without reading the state back (for states of millions of numbers). */
async function settledOnly(panel: Panel, after: number): Promise<void> {
  await page.waitForFunction(
    ([p, runs]) => {
      const s = (window as unknown as { __playground: PageState }).__playground;
      const v = s[p as Panel];
      return v.runs > (runs as number) && !v.busy;
    },
    [panel, after] as const,
    { timeout: 60_000 },
  );
}

let server: StaticServer;
let hub: HubServer;
let browser: Browser;
let page: Page;
const blocked: string[] = [];
const pageErrors: string[] = [];

/** The page's state, without the image pixels (tens of thousands of numbers: read by `pixels()`). */
async function state(): Promise<PageState> {
  return page.evaluate(() => {
    const s = (window as unknown as { __playground: PageState }).__playground;
    return { ...s, images: { ...s.images, pixels: [] } };
  });
}

async function pixels(): Promise<number[]> {
  return page.evaluate(() => (window as unknown as { __playground: PageState }).__playground.images.pixels);
}

/** Run `action` and wait until the page has recomputed (its revision counter moved). */
async function editOnly(action: () => Promise<unknown>): Promise<void> {
  const before = await page.evaluate(
    () => (window as unknown as { __playground: PageState }).__playground.revision,
  );
  await action();
  await page.waitForFunction(
    (r) => (window as unknown as { __playground: PageState }).__playground.revision > r,
    before,
    { timeout: 10_000 },
  );
}

/** `editOnly`, then the page's state. */
async function edit(action: () => Promise<unknown>): Promise<PageState> {
  await editOnly(action);
  return state();
}

const field = (name: string) => `#field-${name}`;

/**
 * Each value within `rel` of the expected one: relative to max(1, |expected|) by default, or to
 * |expected| itself with `relativeOnly` (for alpha_bar computed in float64 from the definition
 * against the page's, which are diffusers' float32 values: a few 1e-7 relative after a thousand
 * cumulative products, however small alpha_bar gets).
 */
function expectClose(
  actual: readonly number[],
  expected: ArrayLike<number>,
  rel: number,
  what: string,
  relativeOnly = false,
): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const e = expected[i];
    const tol = rel * (relativeOnly ? Math.abs(e) : Math.max(1, Math.abs(e)));
    if (!(Math.abs(actual[i] - e) <= tol)) {
      throw new Error(`${what}[${i}] is ${actual[i]}, expected ${e} (tolerance ${tol})`);
    }
  }
}

/** alpha_bar of a linear (in beta, or in sqrt(beta)) schedule, straight from DDPM eq. 4. */
function alphaBarFormula(T: number, start: number, end: number, scaled: boolean): number[] {
  const out: number[] = [];
  let prod = 1;
  for (let i = 0; i < T; i++) {
    const b = scaled
      ? (Math.sqrt(start) + ((Math.sqrt(end) - Math.sqrt(start)) * i) / (T - 1)) ** 2
      : start + ((end - start) * i) / (T - 1);
    prod *= 1 - b;
    out.push(prod);
  }
  return out;
}

beforeAll(async () => {
  if (!existsSync(join(DIST, 'index.html'))) {
    throw new Error(
      `${DIST}/index.html is missing: run \`npm run build:playground\` (npm run test:e2e does).`,
    );
  }
  // A config served as a plain URL by the page's own server, and a Hub stand-in on another port
  // (another origin, with the CORS headers huggingface.co sends).
  server = await serveStatic(DIST, {
    '/models/zero-snr/scheduler/scheduler_config.json': fixtureText('zero-snr-trailing-v.json'),
  });
  hub = await startHubServer();
  const cors = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'x-repo-commit, etag' };
  hub.repos.set('stabilityai/stable-diffusion-2-1', {
    commit: '5cae40e6a2745ae2b01ad92ae5043f95f23644d6',
    files: { 'scheduler/scheduler_config.json': fixtureText('sd21-ddim-v.json') },
    headers: cors,
  });
  // What huggingface.co answers for a repo that does not exist (or is private): 401, with CORS.
  hub.repos.set('nobody/missing-model', {
    commit: '0'.repeat(40),
    files: {},
    handler: (_req, res) => {
      res.writeHead(401, { ...cors, 'x-error-code': 'RepoNotFound', 'content-type': 'text/plain' });
      res.end('Repository Not Found');
    },
  });
  browser = await launchChromium();
  await browser.context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${server.origin}/`) || url.startsWith(`${hub.url}/`)) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  page = browser.context.pages()[0] ?? (await browser.context.newPage());
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    // The browser logs the 401 of the deliberately failed Hub load; anything else is a bug.
    const expected = message.location().url.includes('/nobody/missing-model/');
    if (message.type() === 'error' && !expected)
      pageErrors.push(`${message.text()} (${message.location().url})`);
  });
  await page.goto(`${server.origin}/`);
  await page.waitForFunction(
    () => (window as unknown as { __playground?: PageState }).__playground?.ready === true,
  );
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await hub?.close();
});

describe('the built playground', () => {
  it('bundles the core without Node built-ins and loads nothing from outside', () => {
    const assets = readdirSync(join(DIST, 'assets')).filter((f) => f.endsWith('.js'));
    expect(assets.length).toBeGreaterThan(0);
    // onnxruntime-web's published bundle (the Generate panel's chunk) keeps a few Node branches of
    // its own: calls of its require shim, e.g. `qn("node:os")` where there is no navigator. They
    // are allowed there, and only there, as long as they are ones the published file has and none
    // is an import (which a browser would try to load).
    const published = readFileSync(
      join(ROOT, 'node_modules/onnxruntime-web/dist/ort.bundle.min.mjs'),
      'utf8',
    );
    const shimCalls = (code: string) =>
      new Set([...code.matchAll(/[A-Za-z_$][\w$]*\(["'](node:[a-z_/]+)["']\)/g)].map((m) => m[1]));
    const allowedInOrt = shimCalls(published);
    expect(allowedInOrt.size).toBeGreaterThan(0);
    const ortChunks = assets.filter((f) => f.startsWith('ort.bundle.min-'));
    expect(ortChunks).toHaveLength(1);
    for (const file of assets) {
      const code = readFileSync(join(DIST, 'assets', file), 'utf8');
      const imported = /\bfrom\s*["']node:|\bimport\s*\(?\s*["']node:/.exec(code);
      expect(imported?.[0], `${file} imports a Node built-in`).toBeUndefined();
      if (ortChunks.includes(file)) {
        for (const name of shimCalls(code)) expect(allowedInOrt, `${file}: ${name}`).toContain(name);
        const other = code.replace(/[A-Za-z_$][\w$]*\(["']node:[a-z_/]+["']\)/g, '');
        expect(/\bnode:[a-z_/]+/.exec(other)?.[0], `${file} references a Node built-in`).toBeUndefined();
        continue;
      }
      const hit = /\bnode:[a-z_/]+|require\(["'](?:fs|path|os|crypto|url|http|https)["']\)/.exec(code);
      expect(hit?.[0], `${file} references a Node built-in`).toBeUndefined();
    }
    // The WebAssembly binary onnxruntime-web runs is served from the page itself.
    expect(readdirSync(join(DIST, 'assets')).filter((f) => f.endsWith('.wasm'))).toHaveLength(1);
    const html = readFileSync(join(DIST, 'index.html'), 'utf8');
    expect(html.match(/(?:src|href)="https?:\/\/[^"]*"/g), 'index.html loads from another origin').toBeNull();
  });

  it('starts from diffusers defaults: 50 leading timesteps, as the library computes them', async () => {
    const s = await state();
    expect(s.error).toBeNull();
    const expected = new DDIMScheduler().setTimesteps(50).timesteps;
    expect(s.timesteps).toEqual(Array.from(expected));
    // leading: (n - 1 - i) * (T // n) + steps_offset
    expect(s.timesteps).toEqual(Array.from({ length: 50 }, (_, i) => (49 - i) * 20));
    const cells = await page.locator('#timesteps-table tbody td.t').allTextContents();
    expect(cells.map(Number)).toEqual(Array.from(expected));
  });

  it('updates the timesteps table and every chart when steps change to 10', async () => {
    const s = await edit(() => page.fill('#steps', '10'));
    const scheduler = new DDIMScheduler().setTimesteps(10);
    const ts = Array.from(scheduler.timesteps);
    expect(s.steps).toBe(10);
    expect(s.timesteps).toEqual(ts);
    expect((await page.locator('#timesteps-table tbody td.t').allTextContents()).map(Number)).toEqual(ts);

    const ab = alphaBarFormula(1000, 0.0001, 0.02, false);
    const alpha = s.charts.alphaBar.series;
    expectClose(alpha.alpha_bar.y, ab, 1e-5, 'alpha_bar line', true);
    expect(alpha.chosen.x).toEqual(ts);
    expectClose(
      alpha.chosen.y,
      ts.map((t) => scheduler.alphasCumprod[t]),
      1e-15,
      'alpha_bar at chosen t',
    );
    const logSnr = s.charts.logSnr.series;
    // log-SNR from the exact alpha_bar: near alpha_bar = 1, 1 - alpha_bar ~ 1e-4 carries the float32
    // rounding of alpha_bar (6e-8) as a 6e-4 relative change, so 1e-3 absolute in the log.
    expectClose(
      logSnr['log-SNR'].y,
      ab.map((a) => Math.log(a / (1 - a))),
      1e-3,
      'log-SNR line',
    );
    expectClose(
      logSnr.chosen.y,
      ts.map((t) => Math.log(scheduler.alphasCumprod[t] / (1 - scheduler.alphasCumprod[t]))),
      1e-12,
      'log-SNR at chosen t',
    );
    // The SVG draws what the state says: one marker per chosen timestep, at those timesteps.
    const markers = page.locator('#chart-alpha-bar [data-series="chosen"] circle');
    expect(await markers.count()).toBe(10);
    expect(
      (await markers.evaluateAll((cs) => cs.map((c) => Number((c as SVGElement).dataset.x)))).sort(
        (a, b) => b - a,
      ),
    ).toEqual(ts);
    expect(s.charts.timesteps.series.t.y).toEqual(ts);
    expect(s.charts.timesteps.series.prev.y).toEqual(ts.map((t) => (t - 100 >= 0 ? t - 100 : -1)));
    // eta = 0: deterministic DDIM adds no noise.
    expect(s.charts.sigma.series.sigma_t.y).toEqual(ts.map(() => 0));
  });

  it('draws sigma_t of DDIM eq. 16 when eta changes', async () => {
    const s = await edit(() => page.fill('#eta', '1'));
    const scheduler = new DDIMScheduler().setTimesteps(10);
    const expected = s.timesteps.map((t) => {
      const a = scheduler.alphasCumprod[t];
      const prev = t - 100;
      const ap = prev >= 0 ? scheduler.alphasCumprod[prev] : 1; // set_alpha_to_one
      return Math.sqrt(((1 - ap) / (1 - a)) * (1 - a / ap));
    });
    // The library rounds the variance to float32 at each op, as diffusers' _get_variance does.
    expectClose(s.charts.sigma.series.sigma_t.y, expected, 1e-6, 'sigma_t', true);
    await edit(() => page.fill('#eta', '0'));
  });

  it('follows the schedule fields (scaled_linear betas)', async () => {
    await edit(() => page.selectOption(field('beta_schedule'), 'scaled_linear'));
    await edit(() => page.fill(field('beta_start'), '0.00085'));
    const s = await edit(() => page.fill(field('beta_end'), '0.012'));
    expect(s.config?.beta_schedule).toBe('scaled_linear');
    const expected = alphaBarFormula(1000, 0.00085, 0.012, true);
    expectClose(s.charts.alphaBar.series.alpha_bar.y, expected, 1e-5, 'scaled_linear alpha_bar', true);
    const lib = new DDIMScheduler({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 });
    expectClose(s.charts.alphaBar.series.alpha_bar.y, lib.alphasCumprod, 1e-15, 'library alpha_bar');
  });

  it('keeps long schedules drawable: 10^5 training timesteps, 3000 steps', async () => {
    // Betas a hundredth of SD's, so 10^5 of them keep alpha_bar above float32's range floor (SD's
    // over 10^5 timesteps reach exp(-500): diffusers' float32 alpha_bar underflows to 0 and the
    // library refuses that config).
    await editOnly(() => page.fill(field('beta_start'), '0.0000085'));
    await editOnly(() => page.fill(field('beta_end'), '0.00012'));
    await editOnly(() => page.fill(field('num_train_timesteps'), '100000'));
    const runs = await page.evaluate(
      () => (window as unknown as { __playground: PageState }).__playground.sampling.runs,
    );
    await editOnly(() => page.fill('#steps', '3000'));
    // Only what this test reads: the whole state is millions of numbers here.
    const s = await page.evaluate(() => {
      const p = (window as unknown as { __playground: PageState }).__playground;
      return {
        error: p.error,
        config: p.config,
        timesteps: p.timesteps,
        alphaBar: p.charts.alphaBar.series.alpha_bar.y,
      };
    });
    const lib = new DDIMScheduler(s.config as never).setTimesteps(3000);
    expect(s.error).toBeNull();
    expect(s.timesteps).toEqual(Array.from(lib.timesteps));
    expectClose(s.alphaBar, lib.alphasCumprod, 1e-15, 'alpha_bar (T = 10^5)');
    // The table draws the first and last 1000 steps and says how many it skips.
    await expect(page.locator('#timesteps-table tbody td.t').count()).resolves.toBe(2000);
    await expect(page.locator('#timesteps-table td.gap').textContent()).resolves.toContain('1000 more steps');
    // The SVG path of the 10^5-point curve has at most ~2000 vertices.
    const vertices = await page
      .locator('#chart-alpha-bar [data-series="alpha_bar"] path')
      .evaluate((p) => (p.getAttribute('d') ?? '').split(/[ML]/).length - 1);
    expect(vertices).toBeGreaterThan(1000);
    expect(vertices).toBeLessThanOrEqual(2001);
    // The 2-D view keeps x_T and every 12th of the 3000 steps (250 frames at most), ending at the last.
    await settledOnly('sampling', runs);
    const m = await page.evaluate(() => {
      const p = (window as unknown as { __playground: PageState }).__playground.sampling;
      return { status: p.status, steps: p.steps, frames: p.frames, frameSteps: p.frameSteps };
    });
    expect([m.status, m.steps, m.frames]).toEqual(['done', 3000, 251]);
    expect(m.frameSteps).toEqual(Array.from({ length: 251 }, (_, i) => 12 * i));
    await editOnly(() => page.fill('#steps', '10'));
    await editOnly(() => page.fill(field('num_train_timesteps'), '1000'));
    await editOnly(() => page.fill(field('beta_start'), '0.00085'));
    await editOnly(() => page.fill(field('beta_end'), '0.012'));
  });

  it('warns about the previous-step stride when spacing is trailing, and not when leading', async () => {
    let s = await state();
    expect(s.warnings.map((w) => w.id)).not.toContain('prev-stride');
    s = await edit(() => page.selectOption(field('timestep_spacing'), 'trailing'));
    const config = {
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      beta_end: 0.012,
      timestep_spacing: 'trailing',
    } as const;
    const ts = Array.from(new DDIMScheduler(config).setTimesteps(10).timesteps);
    expect(s.timesteps).toEqual(ts);
    // trailing: round(arange(T, 0, -T / n)) - 1
    expect(s.timesteps).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    // T // n = 100 here, so the stride matches... until T // n differs from the spacing:
    expect(s.warnings.map((w) => w.id)).not.toContain('prev-stride');
    s = await edit(() => page.fill('#steps', '7'));
    const ts7 = Array.from(new DDIMScheduler(config).setTimesteps(7).timesteps);
    expect(s.timesteps).toEqual(ts7);
    const stride = Math.floor(1000 / 7);
    const off = ts7.slice(0, -1).filter((t, i) => t - stride !== ts7[i + 1]);
    expect(off.length).toBeGreaterThan(0);
    const warning = s.warnings.find((w) => w.id === 'prev-stride');
    expect(warning, 'prev-stride warning').toBeDefined();
    expect(warning!.message).toContain(`${off.length} of 7 steps`);
    expect(warning!.message).toContain(`from t = ${off[0]} to ${off[0] - stride}`);
    await expect(page.locator('[data-warning="prev-stride"]').isVisible()).resolves.toBe(true);
    expect(await page.locator('#timesteps-table tr.off-schedule').count()).toBe(off.length);
  });

  it('warns about zero terminal SNR with epsilon prediction', async () => {
    let s = await edit(() => page.setChecked(field('rescale_betas_zero_snr'), true));
    expect(s.warnings.map((w) => w.id)).toContain('zero-snr-epsilon');
    expect(s.charts.alphaBar.series.alpha_bar.y[999]).toBe(0);
    expect(s.charts.logSnr.series['log-SNR'].y[999]).toBe(Number.NEGATIVE_INFINITY);
    await expect(page.locator('[data-warning="zero-snr-epsilon"]').isVisible()).resolves.toBe(true);
    // The schedule is drawn, and the library's refusal to step it is on the page's state.
    expect(s.error).toBeNull();
    expect(s.timesteps[0]).toBe(999);
    let refused: unknown;
    try {
      new DDIMScheduler({ ...(s.config as object), rescale_betas_zero_snr: true }).setTimesteps(s.steps);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(ConfigError);
    expect(s.stepError).toBe((refused as Error).message);
    s = await edit(() => page.selectOption(field('prediction_type'), 'v_prediction'));
    expect(s.stepError).toBeNull();
    expect(s.warnings.map((w) => w.id)).not.toContain('zero-snr-epsilon');
    await expect(page.locator('[data-warning="zero-snr-epsilon"]').count()).resolves.toBe(0);
  });

  it('lands each step on the next timestep with previousTimestepRule "schedule"', async () => {
    let s = await state();
    expect(s.warnings.map((w) => w.id)).toContain('prev-stride'); // trailing, 7 steps
    s = await edit(() => page.selectOption('#opt-previousTimestepRule', 'schedule'));
    const config = s.config as never;
    const lib = new DDIMScheduler(config, { previousTimestepRule: 'schedule' }).setTimesteps(7);
    const ts = Array.from(lib.timesteps);
    expect(s.options.previousTimestepRule).toBe('schedule');
    expect(s.charts.timesteps.series.prev.y).toEqual(ts.map((t) => lib.previousTimestep(t)));
    expect(s.charts.timesteps.series.prev.y).toEqual([...ts.slice(1), -1]);
    expect(s.warnings.map((w) => w.id)).not.toContain('prev-stride');
    expect(await page.locator('#timesteps-table tr.off-schedule').count()).toBe(0);
    s = await edit(() => page.selectOption('#opt-previousTimestepRule', 'stride'));
    expect(s.warnings.map((w) => w.id)).toContain('prev-stride');
  });

  it("shows the library's error for an invalid value and recovers", async () => {
    let s = await edit(() => page.fill(field('beta_end'), '2'));
    expect(s.error?.field).toBe('beta_end');
    expect(s.error?.message).toContain('beta_end must be strictly between 0 and 1 (got 2)');
    await expect(page.locator('[data-field="beta_end"]').getAttribute('class')).resolves.toContain('invalid');
    await expect(page.locator('#config-error').textContent()).resolves.toContain('beta_end');
    s = await edit(() => page.fill('#steps', '5000'));
    expect(s.error?.field).toBe('beta_end');
    s = await edit(() => page.fill(field('beta_end'), '0.012'));
    expect(s.error?.field).toBe('numInferenceSteps');
    expect(s.error?.message).toContain('cannot be larger than num_train_timesteps (1000)');
    s = await edit(() => page.fill('#steps', '10'));
    expect(s.error).toBeNull();
    s = await edit(() => page.fill('#eta', '-1'));
    expect(s.error?.field).toBe('eta');
    s = await edit(() => page.fill('#eta', '0'));
    s = await edit(() => page.fill('#seed', '1.5'));
    expect(s.error?.field).toBe('seed');
    expect(s.error?.message).toContain('seed must be a decimal integer string');
    await expect(page.locator('#seed').evaluate((e) => e.closest('.field')!.className)).resolves.toContain(
      'invalid',
    );
    s = await edit(() => page.fill('#seed', '18446744073709551615')); // 2^64 - 1: a valid torch seed
    expect(s.error).toBeNull();
    await expect(page.locator('#config-error').isHidden()).resolves.toBe(true);
  });

  it('loads a scheduler_config.json from the file input, as DDIMScheduler.fromConfig reads it', async () => {
    // Stable Diffusion 1.5's scheduler config (the committed copy) is a PNDM config: DDIM ignores
    // its PNDM-only keys.
    const text = fixtureText('sd15-pndm.json');
    const sd15: unknown = JSON.parse(text);
    const s = await edit(() =>
      page.setInputFiles('#config-file', {
        name: 'scheduler_config.json',
        mimeType: 'application/json',
        buffer: Buffer.from(text),
      }),
    );
    const lib = DDIMScheduler.fromConfig(sd15, undefined, { onWarning: () => {} }).setTimesteps(10);
    expect(s.error).toBeNull();
    expect(s.config).toEqual({ ...lib.config });
    expect(s.timesteps).toEqual(Array.from(lib.timesteps));
    // leading + steps_offset 1: 901, 801, ..., 1
    expect(s.timesteps).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
    expect(s.unusedKeys).toEqual(['skip_prk_steps']);
    expect(s.loadedFrom).toBe('file scheduler_config.json');
    await expect(page.inputValue(field('steps_offset'))).resolves.toBe('1');
    await expect(page.isChecked(field('clip_sample'))).resolves.toBe(false);
    await expect(page.locator('#load-status').textContent()).resolves.toContain('skip_prk_steps');
  });

  it('loads a config dropped on the page', async () => {
    const config = {
      beta_schedule: 'squaredcos_cap_v2',
      timestep_spacing: 'linspace',
      num_train_timesteps: 500,
    } as const;
    const s = await edit(() =>
      page.evaluate((text) => {
        const data = new DataTransfer();
        data.items.add(new File([text], 'dropped_config.json', { type: 'application/json' }));
        document.body.dispatchEvent(
          new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }),
        );
      }, JSON.stringify(config)),
    );
    const lib = new DDIMScheduler(config).setTimesteps(10);
    expect(s.loadedFrom).toBe('file dropped_config.json');
    expect(s.timesteps).toEqual(Array.from(lib.timesteps));
    expectClose(s.charts.alphaBar.series.alpha_bar.y, lib.alphasCumprod, 1e-15, 'cosine alpha_bar');
    // linspace spacing: the stride T // n = 50 does not match round(linspace(0, 499, 10)).
    expect(s.warnings.map((w) => w.id)).toContain('prev-stride');
  });

  it('refuses pasted JSON with a bad value, names the field, and keeps the current config', async () => {
    const before = await state();
    await page.locator('#paste-details summary').click();
    await page.fill('#config-json', '{"beta_schedule": "cosine", "num_train_timesteps": 1000}');
    await page.click('#apply-json');
    await page.waitForFunction(
      () => (window as unknown as { __playground: PageState }).__playground.loadError !== null,
    );
    const s = await state();
    expect(s.loadError).toContain(
      'beta_schedule must be one of "linear", "scaled_linear", "squaredcos_cap_v2"',
    );
    expect(s.config).toEqual(before.config);
    expect(s.revision).toBe(before.revision);
    await page.fill('#config-json', '{"beta_schedule": ');
    await page.click('#apply-json');
    await page.waitForFunction(() =>
      (window as unknown as { __playground: PageState }).__playground.loadError?.includes('not valid JSON'),
    );
    const good = await edit(async () => {
      await page.fill('#config-json', '{"timestep_spacing": "trailing", "num_train_timesteps": 500}');
      await page.click('#apply-json');
    });
    expect(good.loadError).toBeNull();
    expect(good.loadedFrom).toBe('pasted JSON');
    expect(good.timesteps).toEqual(
      Array.from(
        new DDIMScheduler({ timestep_spacing: 'trailing', num_train_timesteps: 500 }).setTimesteps(good.steps)
          .timesteps,
      ),
    );
  });

  it('loads a config from the Hub by repo id, subfolder and revision', async () => {
    await page.fill('#remote-source', 'stabilityai/stable-diffusion-2-1');
    await page.fill('#remote-subfolder', 'scheduler');
    await page.fill('#remote-revision', 'main');
    await page.fill('#remote-endpoint', hub.url);
    const s = await edit(() => page.click('#remote-load'));
    const sd21 = JSON.parse(fixtureText('sd21-ddim-v.json'));
    const lib = DDIMScheduler.fromConfig(sd21, undefined, { onWarning: () => {} }).setTimesteps(s.steps);
    expect(s.loadError).toBeNull();
    expect(s.config).toEqual({ ...lib.config });
    expect(s.config?.prediction_type).toBe('v_prediction');
    expect(s.timesteps).toEqual(Array.from(lib.timesteps));
    expect(s.unusedKeys).toEqual(['skip_prk_steps']);
    expect(s.loadedFrom).toContain(
      `${hub.url}/stabilityai/stable-diffusion-2-1/resolve/main/scheduler/scheduler_config.json`,
    );
    expect(hub.requests.map((r) => r.path)).toContain(
      '/stabilityai/stable-diffusion-2-1/resolve/main/scheduler/scheduler_config.json',
    );
  });

  it('reports a failed Hub load and keeps the current config', async () => {
    const before = await state();
    await page.fill('#remote-source', 'nobody/missing-model');
    await page.click('#remote-load');
    await page.waitForFunction(() => {
      const s = (window as unknown as { __playground: PageState }).__playground;
      return !s.loading && s.loadError !== null;
    });
    const s = await state();
    expect(s.loadError).toMatch(/401|not found|Repository/i);
    expect(s.config).toEqual(before.config);
    await expect(page.locator('#load-status').getAttribute('class')).resolves.toContain('failed');
    await expect(page.locator('#load-status').textContent()).resolves.toContain('nobody/missing-model');
  });

  it('loads a config by URL (a folder plus subfolder) and flags nothing risky in it', async () => {
    await page.fill('#remote-source', `${server.origin}/models/zero-snr`);
    await page.fill('#remote-subfolder', 'scheduler');
    const s = await edit(() => page.click('#remote-load'));
    const lib = DDIMScheduler.fromConfig(JSON.parse(fixtureText('zero-snr-trailing-v.json'))).setTimesteps(
      s.steps,
    );
    expect(s.loadedFrom).toBe(`${server.origin}/models/zero-snr/scheduler/scheduler_config.json`);
    expect(s.config).toEqual({ ...lib.config });
    expect(s.timesteps[0]).toBe(999);
    expect(s.unusedKeys).toEqual([]);
    expect(s.warnings.filter((w) => w.level === 'warning').map((w) => w.id)).not.toContain(
      'zero-snr-epsilon',
    );
  });

  it('opens a config and settings given in the query string', async () => {
    const other = await browser.context.newPage();
    try {
      const url = `${server.origin}/models/zero-snr/scheduler/scheduler_config.json`;
      await other.goto(`${server.origin}/?config=${encodeURIComponent(url)}&steps=25&eta=0.5`);
      await other.waitForFunction(() => {
        const s = (window as unknown as { __playground?: PageState }).__playground;
        return s?.ready === true && !s.loading && s.loadedFrom.includes('zero-snr');
      });
      const s = await other.evaluate(() => (window as unknown as { __playground: PageState }).__playground);
      const lib = DDIMScheduler.fromConfig(JSON.parse(fixtureText('zero-snr-trailing-v.json'))).setTimesteps(
        25,
      );
      expect(s.steps).toBe(25);
      expect(s.eta).toBe(0.5);
      expect(s.timesteps).toEqual(Array.from(lib.timesteps));
    } finally {
      await other.close();
    }
  });

  it('samples 2-D particles with the exact mixture denoiser: they end at the modes, in proportion', async () => {
    await edit(() => page.click('[data-preset="diffusers defaults"]'));
    await edit(() => page.fill('#eta', '0'));
    await edit(() => page.fill('#seed', '7'));
    const runs = (await state()).sampling.runs;
    await page.selectOption('#mixture-preset', '3 unequal modes');
    await page.fill('#mixture-particles', '600');
    let s = await edit(() => page.fill('#steps', '100'));
    s = await settled('sampling', runs);
    const m = s.sampling;
    expect(m.error).toBeNull();
    expect(m.status).toBe('done');
    expect(m.mixture.name).toBe('3 unequal modes');
    expect([m.particles, m.steps, m.seed, m.frames]).toEqual([600, 100, '7', 101]);
    expect(m.frameSteps).toEqual(Array.from({ length: 101 }, (_, i) => i));

    // x_T is torch.randn((600, 2), generator=torch.Generator().manual_seed(7)), drawn by the library.
    const noise = randnTensor([600, 2], { generator: new Generator().manualSeed(7) }).data;
    expectClose(m.initial.flat(), noise, 1e-6, 'x_T');

    // Each particle ends within 5 standard deviations of a mode (a 2-D Gaussian puts exp(-12.5) =
    // 3.7e-6 of its mass beyond that), and each mode gets a share of particles near its weight
    // (within 4 binomial standard deviations).
    const { means, stds, weights } = m.mixture;
    const counts = weights.map(() => 0);
    m.final.forEach(([x, y], i) => {
      const dist = means.map(([mx, my]) => Math.hypot(x - mx, y - my));
      const k = dist.indexOf(Math.min(...dist));
      if (!(dist[k] <= 5 * stds[k])) {
        throw new Error(
          `particle ${i} ends at (${x}, ${y}), ${dist[k]} from the nearest mode ${k} (std ${stds[k]})`,
        );
      }
      counts[k]++;
    });
    weights.forEach((w, k) => {
      const share = counts[k] / 600;
      const tolerance = 4 * Math.sqrt((w * (1 - w)) / 600);
      expect(Math.abs(share - w), `mode ${k}: share ${share}, weight ${w}`).toBeLessThanOrEqual(tolerance);
    });
    // x_T itself is nowhere near that: most points are far from every mode.
    const nearAtStart = m.initial.filter(([x, y]) =>
      means.some(([mx, my], k) => Math.hypot(x - mx, y - my) <= 5 * stds[k]),
    ).length;
    expect(nearAtStart / 600).toBeLessThan(0.5);

    // The page ran the library's loop: the same loop in Node gives the same particles.
    const scheduler = new DDIMScheduler();
    const denoiser = gaussianMixtureDenoiser(scheduler, {
      weights,
      means,
      variances: stds.map((v) => v * v),
    });
    const generator = new Generator().manualSeed(7);
    const latents = randnTensor([600, 2], { generator });
    const node = await sample(scheduler, denoiser, { numInferenceSteps: 100, eta: 0, generator, latents });
    expectClose(m.final.flat(), node.latents.data, 1e-5, 'final particles (page vs Node)');

    // With 10 steps DDIM's discretisation error shows: many particles stop between modes.
    const before = s.sampling.runs;
    await edit(() => page.fill('#steps', '10'));
    s = await settled('sampling', before);
    const off = s.sampling.final.filter(
      ([x, y]) => !means.some(([mx, my], k) => Math.hypot(x - mx, y - my) <= 5 * stds[k]),
    ).length;
    expect(s.sampling.steps).toBe(10);
    expect(off / 600, 'share of particles off the modes after 10 steps').toBeGreaterThan(0.05);
    await edit(() => page.fill('#steps', '50'));
  });

  it('animates the particles step by step from x_T', async () => {
    await page.click('#mixture-animate');
    // Seen mid-way: playing, past x_T and not yet at the end.
    await page.waitForFunction(() => {
      const m = (window as unknown as { __playground: PageState }).__playground.sampling;
      return m.playing && m.frame > 0 && m.frame < m.frames - 1;
    });
    await page.waitForFunction(() => {
      const m = (window as unknown as { __playground: PageState }).__playground.sampling;
      return !m.playing && m.frame === m.frames - 1;
    });
    await expect(page.locator('#mixture-caption').textContent()).resolves.toContain('after step 50 of 50');
    expect((await state()).sampling.frames).toBe(51);
  });

  it('renders an image grid from the exact image model: samples reproduce training images', async () => {
    let s = await state();
    if (s.images.busy) s = await settled('images', s.images.runs);
    const im = s.images;
    expect(im.error).toBeNull();
    expect([im.status, im.count, im.size, im.steps]).toEqual(['done', 16, 32, 50]);
    await expect(page.locator('#images-grid canvas').count()).resolves.toBe(16);
    im.pixels = await pixels();
    expect(im.pixels.length).toBe(16 * 3 * 32 * 32);
    const data = shapesDataset({ size: 32, count: 48 }).images.data;
    const D = 3 * 32 * 32;
    for (let i = 0; i < 16; i++) {
      let best = Number.POSITIVE_INFINITY;
      for (let j = 0; j < 48; j++) {
        let sum = 0;
        for (let p = 0; p < D; p++) sum += (im.pixels[i * D + p] - data[j * D + p]) ** 2;
        best = Math.min(best, Math.sqrt(sum / D));
      }
      // An exact denoiser of a finite set, run to t = 0, lands on one of its items.
      expect(best, `image ${i}: RMS distance to the nearest training image`).toBeLessThan(0.02);
      expect(im.nearestRms[i]).toBeCloseTo(best, 6);
    }
  });

  it("shows why zero SNR with epsilon prediction is flagged: sampling fails with the library's ConfigError", async () => {
    let runs = (await state()).sampling.runs;
    await edit(() => page.selectOption(field('timestep_spacing'), 'trailing'));
    await edit(() => page.setChecked(field('rescale_betas_zero_snr'), true));
    let s = await settled('sampling', runs);
    expect(s.warnings.map((w) => w.id)).toContain('zero-snr-epsilon');
    expect(s.sampling.status).toBe('error');
    expect(s.sampling.error).toContain('prediction_type cannot step from timestep 999');
    expect(s.sampling.error).toBe(s.stepError);
    await expect(page.locator('#mixture-caption').textContent()).resolves.toContain('Sampling failed');
    // With the clamp option alpha_bar[999] = 2^-24 and the same loop runs.
    runs = s.sampling.runs;
    await edit(() => page.setChecked('#opt-clampZeroTerminalSnr', true));
    s = await settled('sampling', runs);
    expect(s.charts.alphaBar.series.alpha_bar.y[999]).toBe(2 ** -24);
    expect(s.warnings.map((w) => w.id)).toEqual(expect.arrayContaining(['zero-snr-clamped']));
    expect(s.sampling.status).toBe('done');
    expect(s.sampling.final.flat().every(Number.isFinite)).toBe(true);
    await edit(() => page.setChecked('#opt-clampZeroTerminalSnr', false));
    await edit(() => page.setChecked(field('rescale_betas_zero_snr'), false));
  });

  it('renders with no page errors and no request leaving 127.0.0.1; saves a screenshot', async () => {
    // The README's picture: a zero-SNR trailing config, the 8-mode ring, the image grid.
    await page.fill('#remote-source', '');
    await page.fill('#remote-endpoint', 'https://huggingface.co');
    await page.selectOption('#mixture-preset', '8 modes on a ring');
    await edit(() => page.click('[data-preset="zero SNR + trailing (Lin et al.)"]'));
    await edit(() => page.fill('#seed', '0'));
    const before = await state();
    await edit(() => page.fill('#steps', '25'));
    let s = await settled('sampling', before.sampling.runs);
    if (s.images.busy || s.images.runs === before.images.runs)
      s = await settled('images', before.images.runs);
    expect([s.sampling.status, s.images.status]).toEqual(['done', 'done']);
    await page.evaluate(() => {
      (document.getElementById('paste-details') as HTMLDetailsElement).open = false;
      (document.activeElement as HTMLElement | null)?.blur();
      window.scrollTo(0, 0);
    });
    await page.mouse.move(1, 1); // no hover state on the last button clicked
    await page.setViewportSize({ width: 1440, height: 1360 });
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    const png = await page.screenshot({ fullPage: false });
    await writeFile(SCREENSHOT, png);
    if (process.env.UPDATE_SCREENSHOT === '1') await writeFile(DOCS_SCREENSHOT, png);
    expect(pageErrors, 'errors in the page').toEqual([]);
    expect(blocked, 'requests to other origins').toEqual([]);
  });
});
