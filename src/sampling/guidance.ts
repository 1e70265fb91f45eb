/**
 * Classifier-free guidance and guidance rescale, as diffusers' Stable Diffusion pipelines apply them
 * to the two halves of the UNet's output.
 *
 *   cfg:     eps = eps_uncond + w (eps_text - eps_uncond)
 *            (Ho & Salimans 2022, "Classifier-Free Diffusion Guidance", eq. 6; w = guidance_scale)
 *   rescale: eps <- phi * eps * std(eps_text) / std(eps) + (1 - phi) * eps
 *            (Lin et al. 2023, "Common Diffusion Noise Schedules and Sample Steps are Flawed",
 *            sec. 3.4, eq. 15-16; phi = guidance_rescale; diffusers' `rescale_noise_cfg`)
 *
 * `std` is torch's `std(dim=[1..n], keepdim=True)`: one standard deviation per batch element, over
 * every other axis, unbiased (divides by count - 1). Statistics are accumulated in float64; the
 * values written have the first argument's dtype.
 */
import { checkNumber } from '../guard.js';
import { decodeTable, readElement, writeElement } from '../tensor/dtype.js';
import { checkSameDims, checkTensor, outputLike, type Tensor, type TensorLike } from '../tensor/tensor.js';

/**
 * Classifier-free guidance: `uncond + scale * (text - uncond)`, elementwise. The result has
 * `uncond`'s dims and dtype; `out` (same dims and dtype) may alias either input.
 */
export function classifierFreeGuidance(
  uncond: TensorLike,
  text: TensorLike,
  scale: number,
  out?: TensorLike,
): Tensor {
  const uType = checkTensor(uncond, 'uncond');
  const tType = checkTensor(text, 'text');
  checkSameDims(uncond, 'uncond', text, 'text');
  checkNumber(scale, 'scale', {}, 'pass the guidance scale, e.g. 7.5 (1 means no guidance).');
  const result = outputLike(out, 'out', uncond, 'uncond', uType);
  const n = uncond.data.length;
  const ud = uncond.data;
  const td = text.data;
  const od = result.data;
  // Same association as diffusers (uncond + scale * (text - uncond)), so float32 results round alike.
  if (decodeTable(uType) === null && decodeTable(tType) === null) {
    // Plain numbers (float32 / float64): the loop the pipeline runs every step, without the
    // per-element dtype dispatch (about 3x faster on SD latents).
    for (let i = 0; i < n; i++) {
      const u = ud[i];
      od[i] = u + scale * (td[i] - u);
    }
    return result;
  }
  for (let i = 0; i < n; i++) {
    const u = readElement(ud, uType, i);
    writeElement(od, uType, i, u + scale * (readElement(td, tType, i) - u));
  }
  return result;
}

/**
 * Unbiased standard deviation of each batch element (dims[0]) over all other axes, in float64.
 * Returns NaN for a batch element with fewer than 2 values (torch does the same).
 */
export function batchStd(t: TensorLike, field = 'tensor'): Float64Array {
  const type = checkTensor(t, field);
  const batch = t.dims.length > 0 ? t.dims[0] : 1;
  const per = batch > 0 ? t.data.length / batch : 0;
  const data = t.data;
  const result = new Float64Array(batch);
  // Two passes (mean, then squared deviations): exact enough to match torch within float32 rounding,
  // and free of the cancellation of sum(x^2) - n mean^2.
  // float16 is read through its decoding table, other data as they are (no per-element dispatch).
  const table = decodeTable(type);
  for (let b = 0; b < batch; b++) {
    const start = b * per;
    let sum = 0;
    if (table === null) for (let k = start; k < start + per; k++) sum += data[k];
    else for (let k = start; k < start + per; k++) sum += table[data[k]];
    const mean = sum / per;
    let ss = 0;
    if (table === null) {
      for (let k = start; k < start + per; k++) {
        const d = data[k] - mean;
        ss += d * d;
      }
    } else {
      for (let k = start; k < start + per; k++) {
        const d = table[data[k]] - mean;
        ss += d * d;
      }
    }
    result[b] = per >= 2 ? Math.sqrt(ss / (per - 1)) : Number.NaN;
  }
  return result;
}

/**
 * diffusers' `rescale_noise_cfg`: pull the guided prediction's per-batch-element standard
 * deviation back towards the text prediction's,
 * `guidanceRescale * noiseCfg * std(noiseText) / std(noiseCfg) + (1 - guidanceRescale) * noiseCfg`.
 *
 * The result has `noiseCfg`'s dims and dtype; `out` may alias `noiseCfg` (the pipelines rescale in
 * place). Where the ratio is undefined -- a batch element whose guided prediction is constant
 * (std 0) or has a single value -- torch returns NaN or Inf; we leave that element's prediction
 * unchanged (factor 1), since there is no spread to rescale.
 */
export function rescaleNoiseCfg(
  noiseCfg: TensorLike,
  noiseText: TensorLike,
  guidanceRescale: number,
  out?: TensorLike,
): Tensor {
  const cType = checkTensor(noiseCfg, 'noiseCfg');
  checkTensor(noiseText, 'noiseText');
  checkSameDims(noiseCfg, 'noiseCfg', noiseText, 'noiseText');
  checkNumber(guidanceRescale, 'guidanceRescale', {}, 'pass a number in [0, 1], e.g. 0.7 (0 disables it).');
  const result = outputLike(out, 'out', noiseCfg, 'noiseCfg', cType);
  const stdText = batchStd(noiseText, 'noiseText');
  const stdCfg = batchStd(noiseCfg, 'noiseCfg');
  const batch = stdCfg.length;
  const per = batch > 0 ? noiseCfg.data.length / batch : 0;
  const src = noiseCfg.data;
  const od = result.data;
  for (let b = 0; b < batch; b++) {
    const ratio = stdCfg[b] > 0 && Number.isFinite(stdText[b]) ? stdText[b] / stdCfg[b] : 1;
    // phi * (x * ratio) + (1 - phi) * x, folded into one factor per batch element.
    const factor = guidanceRescale * ratio + (1 - guidanceRescale);
    const start = b * per;
    if (decodeTable(cType) === null) for (let k = start; k < start + per; k++) od[k] = src[k] * factor;
    else
      for (let k = start; k < start + per; k++)
        writeElement(od, cType, k, readElement(src, cType, k) * factor);
  }
  return result;
}
