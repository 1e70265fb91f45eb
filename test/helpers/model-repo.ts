/**
 * tiny-sd as a Hub model repository for the Hub-like server: the files a diffusers ONNX repository
 * holds (model_index.json and one folder per component), optionally with the UNet's and the VAE
 * decoder's weights in external data files (test/fixtures/tiny-sd-external, made by
 * scripts/make_external_data_fixture.mjs), plus files a pipeline must never download.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RepoSpec } from './hub-server.js';

export const TINY_SD = fileURLToPath(new URL('../fixtures/tiny-sd/', import.meta.url));
export const TINY_SD_EXTERNAL = fileURLToPath(new URL('../fixtures/tiny-sd-external/', import.meta.url));

/** Sizes of the external data files of tiny-sd-external, read from the fixture (not copied from an output). */
export const UNET_WEIGHTS_BYTES = statSync(path.join(TINY_SD_EXTERNAL, 'unet', 'weights.pb')).size;
export const VAE_DATA_BYTES = statSync(path.join(TINY_SD_EXTERNAL, 'vae_decoder', 'model.onnx_data')).size;

/** The folders of a diffusers ONNX Stable Diffusion repository. */
export const COMPONENTS = ['scheduler', 'text_encoder', 'tokenizer', 'unet', 'vae_decoder', 'vae_encoder'];

function filesUnder(root: string, folder: string): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const name of readdirSync(path.join(root, folder))) {
    out[`${folder}/${name}`] = readFileSync(path.join(root, folder, name));
  }
  return out;
}

/**
 * The repository's files (path -> bytes). `external`: unet/model.onnx + unet/weights.pb (diffusers'
 * export script's layout) and vae_decoder/model.onnx + vae_decoder/model.onnx_data (Optimum's).
 */
export function tinySdFiles(variant: 'embedded' | 'external' = 'embedded'): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {
    'model_index.json': readFileSync(path.join(TINY_SD, 'model_index.json')),
  };
  for (const component of COMPONENTS) Object.assign(files, filesUnder(TINY_SD, component));
  if (variant === 'external') {
    delete files['unet/model.onnx'];
    delete files['vae_decoder/model.onnx'];
    Object.assign(files, filesUnder(TINY_SD_EXTERNAL, 'unet'), filesUnder(TINY_SD_EXTERNAL, 'vae_decoder'));
  }
  return files;
}

/** Files a model repository also has that an ONNX pipeline never needs: they must never be downloaded. */
export const UNNEEDED_FILES: Record<string, Uint8Array> = {
  'README.md': new TextEncoder().encode('# tiny-sd\n'),
  '.gitattributes': new TextEncoder().encode('*.onnx filter=lfs diff=lfs merge=lfs -text\n'),
  'unet/diffusion_pytorch_model.safetensors': new Uint8Array(4096).fill(7),
  'text_encoder/pytorch_model.bin': new Uint8Array(2048).fill(9),
};

/** The Hub's default .gitattributes puts these in LFS (plus Optimum's external data). */
export const isLfs = (file: string): boolean => /\.(onnx|pb|onnx_data|safetensors|bin)$/.test(file);

/** A RepoSpec serving tiny-sd (and the unneeded files) as the Hub does, LFS files through the CDN. */
export function tinySdRepo(
  commit: string,
  variant: 'embedded' | 'external' = 'embedded',
  extra: Partial<RepoSpec> = {},
): RepoSpec {
  return { commit, files: { ...tinySdFiles(variant), ...UNNEEDED_FILES }, lfs: isLfs, ...extra };
}
