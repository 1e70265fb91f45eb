// Differential check of the built package (dist/) against the cases written by
// scripts/torch_ddim_reference.py (diffusers' DDIM in torch float32, validated on test/fixtures).
//
//   /usr/bin/python3 scripts/torch_ddim_reference.py generate --seed 1 --out out/torch-diff-cases.json
//   npm run build && node scripts/torch-diff.mjs out/torch-diff-cases.json [--report out/torch-diff-report.json]
//
// The comparison rule is test/fixtures/README.md's: |got - want| <= tol * max(1, max|want|) per
// tensor, timesteps exactly, errors by kind. Where diffusers itself raises or gives NaN / Inf the
// case is not compared with diffusers: the script records what `ddim` does instead, and, when the
// reference computed the documented fix (`fixed`), compares with that. Not part of `npm test`: it
// needs torch to make the cases.
import { readFileSync, writeFileSync } from 'node:fs';
import { DDIMInverseScheduler, DDIMScheduler, Generator } from '../dist/index.js';

const args = process.argv.slice(2);
const file = args.find((a) => !a.startsWith('--')) ?? 'out/torch-diff-cases.json';
const reportIndex = args.indexOf('--report');
const reportFile = reportIndex >= 0 ? args[reportIndex + 1] : 'out/torch-diff-report.json';

const { cases, source } = JSON.parse(readFileSync(file, 'utf8'));
const quiet = { onWarning: () => {} };

/** Largest |got - want| / max(1, max|want|); Infinity for NaN or a length mismatch. */
function scaledError(got, want) {
  if (got.length !== want.length) return Number.POSITIVE_INFINITY;
  let maxAbs = 0;
  for (const w of want) maxAbs = Math.max(maxAbs, Math.abs(w));
  const scale = Math.max(1, maxAbs);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= Number.MAX_VALUE)) return Number.POSITIVE_INFINITY;
    worst = Math.max(worst, d / scale);
  }
  return worst;
}

function tensor(values, dims) {
  return { data: Float32Array.from(values), dims, type: 'float32' };
}

/** The fixtures' toy model eps(x, t) = x * t / (t + 1) in torch's float32 order of operations. */
function toyModel(x, t) {
  const data = new Float32Array(x.data.length);
  const t32 = Math.fround(t);
  const t1 = Math.fround(t + 1);
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(Math.fround(x.data[i] * t32) / t1);
  return { data, dims: x.dims, type: 'float32' };
}

function generators(seeds) {
  if (seeds === undefined || seeds === null) return undefined;
  if (Array.isArray(seeds)) return seeds.map((s) => new Generator().manualSeed(s));
  return new Generator().manualSeed(seeds);
}

function describeError(e) {
  return {
    threw: e?.constructor?.name ?? typeof e,
    field: e?.field,
    message: String(e?.message ?? e).slice(0, 240),
  };
}

/** Run ours; returns { values } (named tensors / lists) or { threw, field, message }. */
function runOurs(c) {
  try {
    switch (c.kind) {
      case 'timesteps': {
        const Cls = c.scheduler === 'ddim_inverse' ? DDIMInverseScheduler : DDIMScheduler;
        return {
          values: {
            timesteps: Array.from(new Cls(c.config, quiet).setTimesteps(c.num_inference_steps).timesteps),
          },
        };
      }
      case 'schedule': {
        const s = new DDIMScheduler(c.config, quiet);
        // diffusers' inverse scheduler refuses linspace only in set_timesteps, ours at construction
        // (docs/validation.md); its alphas do not depend on the spacing.
        const inv = new DDIMInverseScheduler({ ...c.config, timestep_spacing: 'leading' }, quiet);
        return {
          values: {
            betas: s.betas,
            alphas_cumprod: s.alphasCumprod,
            final_alpha_cumprod: [s.finalAlphaCumprod],
            initial_alpha_cumprod: [inv.initialAlphaCumprod],
          },
        };
      }
      case 'step': {
        const s = new DDIMScheduler(c.config, quiet).setTimesteps(c.num_inference_steps);
        const options = { eta: c.eta, useClippedModelOutput: c.use_clipped_model_output };
        if (c.variance_noise) options.varianceNoise = tensor(c.variance_noise, c.shape);
        else if (c.generator_seeds !== undefined && c.generator_seeds !== null)
          options.generator = generators(c.generator_seeds);
        const out = s.step(tensor(c.model_output, c.shape), c.timestep, tensor(c.sample, c.shape), options);
        return {
          values: { prev_sample: out.prevSample.data, pred_original_sample: out.predOriginalSample.data },
        };
      }
      case 'loop': {
        const s = new DDIMScheduler(c.config, quiet).setTimesteps(c.num_inference_steps);
        const generator = generators(c.generator_seeds);
        let x = tensor(c.initial, c.shape);
        for (const t of s.timesteps) {
          const options = c.eta > 0 ? { eta: c.eta, generator } : {};
          x = s.step(toyModel(x, t), t, x, options).prevSample;
        }
        return { values: { final: x.data }, timesteps: Array.from(s.timesteps) };
      }
      case 'inverse_loop': {
        const s = new DDIMInverseScheduler(c.config, quiet).setTimesteps(c.num_inference_steps);
        let x = tensor(c.initial, c.shape);
        for (const t of s.timesteps) x = s.step(toyModel(x, t), t, x).prevSample;
        return { values: { final: x.data }, timesteps: Array.from(s.timesteps) };
      }
      case 'add_noise': {
        const s = new DDIMScheduler(c.config, quiet);
        const x0 = tensor(c.original_samples, c.shape);
        const noise = tensor(c.noise, c.shape);
        return {
          values: {
            noisy_samples: s.addNoise(x0, noise, c.timesteps).data,
            velocity: s.getVelocity(x0, noise, c.timesteps).data,
          },
        };
      }
      default:
        throw new Error(`unknown case kind ${c.kind}`);
    }
  } catch (e) {
    return describeError(e);
  }
}

/** Compare ours with an expectation object (keys as in the case); returns { ok, worst, what }. */
function compare(c, ours, want) {
  if (ours.threw) return { ok: false, worst: Number.POSITIVE_INFINITY, what: `ours threw ${ours.threw}` };
  let worst = 0;
  let what = '';
  for (const [key, got] of Object.entries(ours.values)) {
    let expected = want[key];
    if (expected === undefined) continue;
    if (!Array.isArray(expected)) expected = [expected];
    if (key === 'timesteps') {
      const same = got.length === expected.length && got.every((v, i) => v === expected[i]);
      if (!same) return { ok: false, worst: Number.POSITIVE_INFINITY, what: 'timesteps differ' };
      continue;
    }
    const err = scaledError(got, expected) / c.tol;
    if (err > worst) {
      worst = err;
      what = key;
    }
  }
  if (worst <= 1 && worst > worstMatch.value) Object.assign(worstMatch, { value: worst, kind: c.kind, what });
  return { ok: worst <= 1, worst, what };
}

/** The largest error / tol among the cases that agree: how much room the comparisons leave. */
const worstMatch = { value: 0, kind: '', what: '' };

function size(c) {
  const elems = (c.shape ?? [1]).reduce((a, b) => a * b, 1);
  return elems * (c.kind.includes('loop') ? Math.max(1, c.num_inference_steps) : 1);
}

const tally = new Map();
/** Every case not matching diffusers or the fixed reference: index into `cases`, class, error. */
const mismatchList = [];
const groups = new Map();
function count(key) {
  tally.set(key, (tally.get(key) ?? 0) + 1);
}
function group(signature, c, detail) {
  const g = groups.get(signature) ?? { count: 0, example: null, detail: null };
  g.count++;
  if (!g.example || size(c) < size(g.example)) {
    g.example = c;
    g.detail = detail;
  }
  groups.set(signature, g);
}

function features(c) {
  const cfg = { ...c.config };
  const f = [];
  if (cfg.trained_betas) f.push('trained');
  else f.push(cfg.beta_schedule ?? 'linear');
  f.push(cfg.prediction_type ?? 'epsilon');
  f.push(cfg.timestep_spacing ?? 'leading');
  if (cfg.rescale_betas_zero_snr) f.push('zero-snr');
  if (cfg.thresholding) f.push('thresholding');
  else if (cfg.clip_sample ?? true) f.push('clip');
  if (c.eta > 0) f.push(`eta>0`);
  if (c.use_clipped_model_output) f.push('clipped-eps');
  return f.join(' ');
}

/**
 * The two causes found so far (docs/validation.md, "Differential check against PyTorch"), as a
 * hint only: the analysis behind them compared each case with float64 and float32 variants of
 * the reference.
 */
function hint(c, r) {
  const cfg = c.config;
  if (c.kind !== 'inverse_loop' && cfg.thresholding && (cfg.sample_max_value ?? 1) < 1 && r.worst >= 10)
    return 'A: thresholding with sample_max_value < 1: torch.clamp(q, min=1, max=smv) gives smv, ours 1 when q < 1';
  if (r.worst < 10)
    return 'B (small): diffusers computes the step coefficients in float32 (cancellation near alpha_bar 1 or eta > 0)';
  return 'unexplained';
}

/**
 * Refusals docs/diffusers-differences.md and docs/validation.md announce even where diffusers'
 * numbers for this particular call are finite: zero SNR with an epsilon model refuses a schedule
 * that contains T - 1 (#3851), and the inverse scheduler refuses linspace at construction.
 */
function documentedRefusal(c, ours) {
  if (!ours.threw) return null;
  const cfg = c.config;
  if (
    ours.threw === 'ConfigError' &&
    ours.field === 'prediction_type' &&
    cfg.rescale_betas_zero_snr &&
    (cfg.prediction_type ?? 'epsilon') === 'epsilon'
  )
    return 'zero SNR + epsilon refused (#3851)';
  if (ours.threw === 'ArgumentError' && ours.field === 'timestep' && c.timestep < 0)
    return "timestep -1 refused (it is only scheduled by numpy's extra trailing timestep)";
  if (ours.threw === 'ConfigError' && ours.field === 'timestep_spacing' && c.scheduler === 'ddim_inverse')
    return 'inverse linspace refused at construction';
  return null;
}

const started = Date.now();
for (const [index, c] of cases.entries()) {
  const ours = runOurs(c);
  if (!c.diffusers) {
    const r = compare(c, ours, c);
    if (r.ok) {
      count(`${c.kind}: match`);
      continue;
    }
    const documented = documentedRefusal(c, ours);
    if (documented) {
      count(`${c.kind}: diffusers finite, ours refuses as documented`);
      group(`${c.kind}: diffusers finite | ours throws ${ours.threw}(${ours.field}): ${documented}`, c, {
        ours,
      });
      continue;
    }
    count(`${c.kind}: MISMATCH`);
    const how = ours.threw ? `ours threw ${ours.threw} (${ours.field})` : `values off (${r.what})`;
    group(`MISMATCH ${c.kind}: ${how}`, c, { worstOverTol: r.worst, ours: ours.threw ? ours : undefined });
    mismatchList.push({
      index,
      signature: `MISMATCH ${c.kind}: ${how}`,
      worstOverTol: r.worst,
      hint: hint(c, r),
      features: features(c),
    });
    continue;
  }
  // diffusers raises, gives NaN / Inf, or steps through an extra timestep.
  const d = c.diffusers;
  const diffusersSays =
    d.status === 'raises'
      ? `raises ${d.error}`
      : d.status === 'nonfinite'
        ? `gives ${d.nan ? 'NaN' : 'Inf'}`
        : 'extra timestep';
  let oursSays;
  if (ours.threw) oursSays = `ours throws ${ours.threw}(${ours.field})`;
  else if (c.fixed) {
    const r = compare(c, ours, c.fixed);
    oursSays = r.ok ? 'ours = fixed reference' : `ours != fixed reference (${r.what})`;
    if (!r.ok)
      mismatchList.push({
        index,
        signature: `fixed reference: ${c.kind}`,
        worstOverTol: r.worst,
        hint: hint(c, r),
        features: features(c),
      });
  } else oursSays = 'ours returns values (no fixed reference)';
  const sig = `diffusers ${diffusersSays} | ${oursSays}`;
  count(`${c.kind}: diffusers fails`);
  group(`${c.kind}: ${sig}`, c, { ours: ours.threw ? ours : undefined, diffusers: d });
}

const summary = {
  source,
  cases: cases.length,
  seconds: (Date.now() - started) / 1000,
  tally: Object.fromEntries([...tally.entries()].sort()),
  groups: [...groups.entries()].sort().map(([signature, g]) => ({
    signature,
    count: g.count,
    features: features(g.example),
    detail: g.detail,
    example: g.example,
  })),
  mismatches: mismatchList,
};
writeFileSync(reportFile, JSON.stringify(summary, null, 1));

console.log(`${cases.length} cases from ${file} (${source}) in ${summary.seconds.toFixed(1)} s`);
for (const [k, v] of Object.entries(summary.tally)) console.log(`  ${k}: ${v}`);
console.log('classes (count, smallest example):');
for (const g of summary.groups) {
  const e = g.example;
  const where = `T=${e.config.num_train_timesteps} n=${e.num_inference_steps ?? '-'}${e.timestep !== undefined ? ` t=${e.timestep}` : ''} shape=${JSON.stringify(e.shape ?? null)}`;
  console.log(
    `  [${g.count}] ${g.signature}\n      ${where} ${g.features}\n      config ${JSON.stringify({ ...e.config, trained_betas: e.config.trained_betas ? `[${e.config.trained_betas.length}]` : undefined })}`,
  );
  if (g.detail?.ours) console.log(`      ours: ${g.detail.ours.message}`);
  if (g.detail?.worstOverTol !== undefined) console.log(`      worst error / tol: ${g.detail.worstOverTol}`);
}
console.log(
  `worst error / tol among agreeing cases: ${worstMatch.value.toPrecision(3)} (${worstMatch.kind} ${worstMatch.what})`,
);
console.log(`report: ${reportFile}`);
const hints = new Map();
for (const m of mismatchList) hints.set(m.hint, (hints.get(m.hint) ?? 0) + 1);
for (const [h, k] of hints) console.log(`  [${k}] ${h}`);
console.log(
  `${mismatchList.length} cases disagree with diffusers (or with the fixed reference where diffusers fails)`,
);
process.exitCode = mismatchList.length > 0 ? 1 : 0;
