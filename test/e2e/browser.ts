/**
 * Launch Debian's Chromium headless through playwright-core (never a downloaded browser), with a
 * fresh profile in a temporary folder.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * Chromium's own software WebGPU adapter (SwiftShader on Vulkan, shipped with Debian's Chromium):
 * `navigator.gpu.requestAdapter()` then finds a (fallback) adapter without a GPU.
 */
const SOFTWARE_WEBGPU_ARGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader',
];

export interface LaunchOptions {
  /** WebGPU on SwiftShader instead of no GPU at all (`--disable-gpu`). */
  softwareWebGpu?: boolean;
}

export async function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM_PATH}. Install Debian's package (apt-get install -y chromium) ` +
        'or set CHROMIUM_PATH to a Chromium binary. The e2e test never downloads a browser.',
    );
  }
  const profile = await mkdtemp(join(tmpdir(), 'ddim-e2e-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: options.softwareWebGpu
      ? [...ARGS.filter((a) => a !== '--disable-gpu'), ...SOFTWARE_WEBGPU_ARGS]
      : ARGS,
    viewport: { width: 1440, height: 1000 },
    deviceScaleFactor: 1,
    timeout: 60_000,
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
