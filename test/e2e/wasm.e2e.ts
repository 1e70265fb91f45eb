/**
 * The WebAssembly kernels in real Chromium, bundled by vite like an application would bundle the
 * library: the module compiles synchronously on the page's main thread (the library's default
 * backend there is 'wasm'), no Node built-in reaches the bundle, and the kernels' results equal the
 * JS path's there too -- noise, float16, the step and a sampling loop with its buffers in kernel
 * memory (test/e2e/wasm-page/main.ts computes both in the page, through the public API).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, launchChromium } from './browser.js';
import { type StaticServer, serveStatic } from './static-server.js';
import type { WasmPageResult } from './wasm-page/main.js';

const PAGE = fileURLToPath(new URL('./wasm-page', import.meta.url));

let out: string;
let server: StaticServer;
let browser: Browser;
let result: WasmPageResult;
const blocked: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'ddim-wasm-page-'));
  await build({
    root: PAGE,
    base: './',
    logLevel: 'silent',
    configFile: false,
    build: { outDir: out, emptyOutDir: true, target: 'es2022', assetsInlineLimit: 0 },
  });
  server = await serveStatic(out);
  browser = await launchChromium();
  const page = await browser.context.newPage();
  page.on('pageerror', (error) => pageErrors.push(String(error)));
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(server.origin)) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  await page.goto(`${server.origin}/index.html`);
  await page.waitForFunction(() => (window as unknown as { __wasm?: unknown }).__wasm !== undefined, null, {
    timeout: 60_000,
  });
  result = await page.evaluate(() => (window as unknown as { __wasm: WasmPageResult }).__wasm);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (out !== undefined) await rm(out, { recursive: true, force: true });
});

describe('the WebAssembly kernels in Chromium, bundled by vite', () => {
  it('load on the main thread, synchronously', () => {
    expect(result.error).toBeNull();
    expect(pageErrors).toEqual([]);
    expect(result.backend).toBe('wasm');
    expect(result.backendAfterForcingJs).toBe('js');
  });

  it('draw the JS path’s noise bit for bit, in every dtype', () => {
    expect(result.randnEqual).toEqual({ float32: true, float16: true, float64: true });
  });

  it('convert float16 bit for bit, and step as the JS path does', () => {
    expect(result.decodeEqual).toBe(true);
    expect(result.encodeEqual).toBe(true);
    expect(result.stepEqual).toBe(true);
    expect(result.stepClose).toBe(true);
  });

  it('run a sampling loop (buffers in kernel memory) to the JS path’s latents', () => {
    expect(result.loopEqual).toBe(true);
  });

  it('bundle without Node built-ins, and fetch nothing but the page', () => {
    const assets = join(out, 'assets');
    for (const file of readdirSync(assets).filter((f) => f.endsWith('.js'))) {
      const code = readFileSync(join(assets, file), 'utf8');
      expect(/\bnode:[a-z_/]+/.exec(code)).toBeNull();
    }
    expect(blocked).toEqual([]);
  });
});
