/**
 * The `ddim` CLI as a user runs it: `node cli/dist/index.js ...` in a child process (the library
 * and the CLI are built once by test/global-setup.ts), checking what it prints, what it writes,
 * and its exit code.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePng } from '../cli/src/png.js';
import { CLI, runCli } from './helpers/cli.js';
import { fixtureText, type HubServer, startHubServer } from './helpers/hub-server.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ddim-cli-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Stable Diffusion's alpha_bar, derived here from the definition (scaled_linear betas, cumprod). */
function sdAlphaBar(): number[] {
  const T = 1000;
  const a = Math.sqrt(0.00085);
  const b = Math.sqrt(0.012);
  const out: number[] = [];
  let prod = 1;
  for (let i = 0; i < T; i++) {
    prod *= 1 - (a + ((b - a) * i) / (T - 1)) ** 2;
    out.push(prod);
  }
  return out;
}

/** The default config's alpha_bar (linear betas 0.0001..0.02, T = 1000), from the definition. */
function linearAlphaBar(): number[] {
  const out: number[] = [];
  let prod = 1;
  for (let i = 0; i < 1000; i++) {
    prod *= 1 - (0.0001 + ((0.02 - 0.0001) * i) / 999);
    out.push(prod);
  }
  return out;
}

describe('ddim timesteps', () => {
  it('prints the trailing SD timesteps with prev t, alpha_bar, SNR and sigma_t (JSON)', async () => {
    const r = await runCli([
      'timesteps',
      '--config',
      'sd',
      '--steps',
      '10',
      '--spacing',
      'trailing',
      '--eta',
      '0.5',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      rows: { t: number; prev: number; alphaBar: number; alphaBarPrev: number; snr: number; sigma: number }[];
    };
    // trailing: round(arange(1000, 0, -100)) - 1
    expect(out.rows.map((row) => row.t)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
    // diffusers' previous timestep is t - T // n for every spacing; past 0 it is "the end" (-1).
    expect(out.rows.map((row) => row.prev)).toEqual([899, 799, 699, 599, 499, 399, 299, 199, 99, -1]);
    const ab = sdAlphaBar();
    for (const row of out.rows) {
      // set_alpha_to_one false: the end uses alpha_bar_0. The CLI prints diffusers' float32
      // schedule and variance; this float64 derivation agrees to float32 rounding (~1e-7).
      const prev = row.prev >= 0 ? ab[row.prev] : ab[0];
      expect(row.alphaBar).toBeCloseTo(ab[row.t], 6);
      expect(row.alphaBarPrev).toBeCloseTo(prev, 6);
      expect(row.snr / (ab[row.t] / (1 - ab[row.t]))).toBeCloseTo(1, 5);
      const sigma = 0.5 * Math.sqrt(((1 - prev) / (1 - ab[row.t])) * (1 - ab[row.t] / prev));
      expect(row.sigma).toBeCloseTo(sigma, 6);
    }
  });

  it('prints a readable table by default, zero SNR shown as SNR 0', async () => {
    const r = await runCli(['timesteps', '--config', 'sd-zero-snr', '--steps', '4']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('zero terminal SNR, trailing spacing');
    const lines = r.stdout.split('\n');
    const header = lines.findIndex((l) => /^\s*i\s+t\s+prev t/.test(l));
    expect(header).toBeGreaterThanOrEqual(0);
    const first = lines[header + 2].trim().split(/\s+/);
    expect(first.slice(0, 3)).toEqual(['0', '999', '749']);
    expect(first[5]).toBe('0'); // SNR at t = 999 after the zero-SNR rescale
    expect(first[6]).toBe('-inf');
    expect(lines[header + 5]).toContain('-1 (end)');
  });

  it('stops quietly, exit code 0, when the reader of its output goes away (| head)', async () => {
    // 1000 rows are more than a pipe holds, so the CLI is still writing when stdout closes.
    const child = spawn(process.execPath, [CLI, 'timesteps', '--steps', '1000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('reads a diffusers scheduler_config.json, warning about keys DDIM does not use', async () => {
    const file = join(work, 'scheduler_config.json');
    writeFileSync(file, fixtureText('sd15-pndm.json'));
    const r = await runCli(['timesteps', '--config', file, '--steps', '3']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('scaled_linear 0.00085..0.012');
    expect(r.stdout).toMatch(/^\s*0\s+667\s+334\s/m);
    expect(r.stderr).toContain('warning: The config attributes "skip_prk_steps"');
  });

  it('reads a diffusers model folder (scheduler/scheduler_config.json)', async () => {
    const model = join(work, 'model');
    mkdirSync(join(model, 'scheduler'), { recursive: true });
    writeFileSync(join(model, 'scheduler', 'scheduler_config.json'), fixtureText('zero-snr-trailing-v.json'));
    const r = await runCli(['timesteps', '--config', model, '--steps', '2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('zero terminal SNR, trailing spacing');
  });
});

describe('ddim --config from a Hub repo (a Hub-like server on 127.0.0.1)', () => {
  let hub: HubServer;
  beforeAll(async () => {
    hub = await startHubServer();
    hub.repos.set('org/model', {
      commit: 'a'.repeat(40),
      files: { 'scheduler/scheduler_config.json': fixtureText('zero-snr-trailing-v.json') },
    });
    hub.repos.set('org/scheduler-only', {
      commit: 'b'.repeat(40),
      files: { 'scheduler_config.json': fixtureText('sd21-ddim-v.json') },
    });
  });
  afterAll(async () => {
    await hub.close();
  });
  /** The Hub stand-in, a cache of the test's own, and no token from the environment or a login file. */
  const env = () => ({
    HF_ENDPOINT: hub.url,
    HF_HOME: join(work, 'hf-home'),
    HF_HUB_CACHE: join(work, 'hf-cache'),
    HF_TOKEN: '',
  });

  it('finds scheduler/scheduler_config.json of org/name and caches it', async () => {
    const r = await runCli(['timesteps', '--config', 'org/model', '--steps', '2', '--json'], { env: env() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { scheduler: Record<string, unknown> };
    expect(out.scheduler.rescale_betas_zero_snr).toBe(true);
    expect(out.scheduler.prediction_type).toBe('v_prediction');
    expect(
      hub.requests.some((q) => q.path.includes('/org/model/resolve/main/scheduler/scheduler_config.json')),
    ).toBe(true);
    // In the Hugging Face cache layout, where Python finds it too.
    expect(existsSync(join(work, 'hf-cache', 'models--org--model', 'refs', 'main'))).toBe(true);
  });

  it('falls back to the top of a repo that holds only a scheduler config', async () => {
    const r = await runCli(['timesteps', '--config', 'org/scheduler-only', '--steps', '2', '--json'], {
      env: env(),
    });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { scheduler: Record<string, unknown> };
    expect(out.scheduler.prediction_type).toBe('v_prediction');
    expect(out.scheduler.rescale_betas_zero_snr).toBe(false);
  });

  it('reads a config from a URL', async () => {
    const url = `${hub.url}/org/model/resolve/main/scheduler/scheduler_config.json`;
    const r = await runCli(['timesteps', '--config', url, '--steps', '2', '--json'], { env: env() });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { config: string; scheduler: Record<string, unknown> };
    expect(out.scheduler.rescale_betas_zero_snr).toBe(true);
    expect(out.scheduler.timestep_spacing).toBe('trailing');
    expect(hub.requests.filter((q) => q.path === new URL(url).pathname).length).toBeGreaterThan(0);
  });

  it('reports a missing repo as an error with exit code 1', async () => {
    const r = await runCli(['timesteps', '--config', 'org/missing'], { env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*org\/missing/m);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace without --verbose
  });
});

describe('ddim plot', () => {
  it('writes an SVG with a line per config in each panel and the chosen timesteps marked', async () => {
    const out = join(work, 'plot.svg');
    const r = await runCli(['plot', '--steps', '10', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`wrote ${out} (2 schedules)`);
    const svg = readFileSync(out, 'utf8');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.match(/<polyline class="series"/g)?.length).toBe(4);
    expect(svg.match(/<circle class="marker"/g)?.length).toBe(2 * 2 * 10);
    expect(svg).toContain('data-label="sd (scaled_linear, leading: 901 801 701 601 501 401 301 201 101 1)"');
    expect(svg).toContain('data-label="sd-zero-snr (scaled_linear, zero SNR, trailing: 999 899');
    expect(svg).toContain('-inf (zero SNR)');
  });

  it('compares any number of --config sources', async () => {
    const out = join(work, 'three.svg');
    const r = await runCli([
      'plot',
      '--config',
      'ddim',
      '--config',
      'sd',
      '--config',
      'sd-zero-snr',
      '--steps',
      '5',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    const svg = readFileSync(out, 'utf8');
    expect(svg.match(/<polyline class="series"/g)?.length).toBe(6);
    expect(svg.match(/<circle class="marker"/g)?.length).toBe(2 * 3 * 5);
  });
});

describe.concurrent('usage errors exit 2 with a clear message; --help exits 0', () => {
  it.each([
    [['timesteps', '--bogus'], "unknown option '--bogus'"],
    [['timesteps', '--steps', 'abc'], "option '--steps <n>' argument 'abc' is invalid. must be an integer"],
    [['timesteps', '--eta', '-1'], "option '--eta <eta>' argument '-1' is invalid. must be a number >= 0"],
    [['timesteps', '--spacing', 'foo'], 'Allowed choices are leading, trailing, linspace'],
    [['plot', '--prediction', 'x0'], 'Allowed choices are epsilon, sample, v_prediction'],
    [['frobnicate'], "unknown command 'frobnicate'"],
    [['timesteps', 'extra'], 'too many arguments'],
    [
      ['sample', '--count', '0'],
      "option '--count <n>' argument '0' is invalid. must be an integer from 1 to 256",
    ],
    [['sample', '--seed', '-5'], "option '--seed <seed>' argument '-5' is invalid"],
    [['sample', '--steps', '1.5'], "option '--steps <n>' argument '1.5' is invalid"],
    [['sample', '--zero-snr', 'yes'], 'too many arguments'],
    [['experiment', 'table2'], "unknown command 'table2'"],
    [['experiment', 'table1', '--samples', 'many'], "option '--samples <n>' argument 'many' is invalid"],
    [['experiment', 'brightness', '--eta', '0'], "unknown option '--eta'"],
    [['bench', 'nope'], "unknown benchmark 'nope'; available: randn"],
    [['sample', '--shape', 'blob'], 'Allowed choices are disc, square, ring, stripes, gradient, triangle'],
    [['sample', '--guidance-scale', '3'], '--guidance-scale needs a condition: pass --shape <kind>'],
    [
      ['sample', '--shape', 'disc', '--guidance-rescale', '0.7'],
      '--guidance-rescale acts on guided predictions',
    ],
    [
      ['sample', '--shape', 'disc', '--guidance-scale', '3', '--guidance-rescale', '2'],
      "argument '2' is invalid",
    ],
    [['bench', '--time', '0'], "option '--time <ms>' argument '0' is invalid"],
    // Each writes one format: a name promising another would be a file viewers reject.
    [['plot', '--out', 'chart.png'], "argument 'chart.png' is invalid. must end in .svg"],
    [['sample', '--out', 'grid.svg'], "argument 'grid.svg' is invalid. must end in .png"],
  ])('%j', async (args, message) => {
    const r = await runCli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stderr).toContain('--help');
    expect(r.stdout).toBe('');
  });

  it('reports a library refusal (too many steps) with exit code 1 and the fix', async () => {
    const r = await runCli(['timesteps', '--steps', '5000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('numInferenceSteps cannot be larger than num_train_timesteps (1000)');
  });

  it('prints the stack trace only with --verbose (or DEBUG)', async () => {
    const r = await runCli(['timesteps', '--steps', '5000', '--verbose']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^ArgumentError: numInferenceSteps cannot be larger/m);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('reports an output folder that cannot be made (under /proc) with exit code 1, at once', async () => {
    // Node's recursive mkdir never settles there; the CLI's must fail with the ENOENT.
    const r = await runCli(['plot', '--out', '/proc/ddim-cli-test/plot.svg'], { timeoutMs: 20_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: ENOENT: .*\/proc\/ddim-cli-test/m);
  });

  it('refuses an eta that a step would refuse (DDIM eq. 12), naming the largest one that fits', async () => {
    const r = await runCli(['timesteps', '--steps', '10', '--eta', '2']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    // First step 900 -> 800 of the default linear schedule: sigma^2 = 4 * variance > 1 - alpha_bar_800.
    expect(r.stderr).toContain('eta is too large for the step from timestep 900 to 800');
    const allowed = Number(/allows eta up to (\S+) here/.exec(r.stderr)![1]);
    const ab = linearAlphaBar();
    const variance = ((1 - ab[800]) / (1 - ab[900])) * (1 - ab[900] / ab[800]);
    // (float32 schedule and variance in the library, float64 here: equal to ~1e-7)
    expect(allowed).toBeCloseTo(Math.sqrt((1 - ab[800]) / variance), 6);
    // eta = 1 always fits, and slightly above 1 fits where eq. 12 allows it.
    expect((await runCli(['timesteps', '--steps', '10', '--eta', '1'])).code).toBe(0);
  });

  it('reports a word that is no preset, file or Hub id without going to the network', async () => {
    const r = await runCli(['timesteps', '--config', 'sd-zerosnr']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--config is not a preset, nor an existing file or folder, nor a Hub id');
    expect(r.stderr).toContain('(ddim, sd, sd-zero-snr)');
    expect(r.stderr).not.toContain('huggingface');
  });

  it('reports a missing config file with exit code 1', async () => {
    const r = await runCli(['plot', '--config', join(work, 'nope.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is not an existing file');
  });

  it('asks for a subcommand when given none (help on stderr, exit 2)', async () => {
    const r = await runCli(['experiment']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: ddim experiment');
  });

  it.each([
    [['--help']],
    [['sample', '--help']],
    [['timesteps', '--help']],
    [['plot', '--help']],
    [['experiment', '--help']],
    [['experiment', 'table1', '--help']],
    [['experiment', 'brightness', '--help']],
    [['bench', '--help']],
    [['help', 'plot']],
  ])('%j', async (args) => {
    const r = await runCli(args);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: ddim/);
  });

  it('--version names both packages: ddim-cli and the ddim library it runs on', async () => {
    const version = (file: string) =>
      (JSON.parse(readFileSync(new URL(file, import.meta.url), 'utf8')) as { version: string }).version;
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${version('../cli/package.json')} (ddim ${version('../package.json')})\n`);
  });
});

/** The RGBA bytes of tile `k` of a decoded grid (3x upscaled 32-pixel tiles, gap 4). */
function tile(png: ReturnType<typeof decodePng>, x0: number, y0: number): number[] {
  const out: number[] = [];
  for (let y = 0; y < 96; y++) {
    for (let x = 0; x < 96; x++) {
      const o = 4 * ((y0 + y) * png.width + x0 + x);
      out.push(png.data[o], png.data[o + 1], png.data[o + 2]);
    }
  }
  return out;
}

describe('ddim sample', () => {
  it('writes a PNG of the samples above their nearest dataset images and prints the figures', async () => {
    const out = join(work, 'samples.png');
    const r = await runCli(['sample', '--count', '4', '--steps', '10', '--seed', '1', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('steps: 10, eta 0, seed 1');
    expect(r.stdout).toMatch(/^time: [\d.]+ (ms|s) \(/m);
    const quality = /quality: .*: mean (\S+), max (\S+); (\d+) distinct dataset images reached/.exec(
      r.stdout,
    );
    expect(quality).not.toBeNull();
    // diffusers' default config ends at alpha_bar = 1: the exact sampler lands on dataset images.
    expect(Number(quality![2])).toBeLessThan(1e-4);
    // One entry per sample: its number, the dataset image it is nearest to, the distance.
    const perSample = [...r.stdout.matchAll(/(\d+): dataset\[(\d+)\] ([^,\s]+)/g)];
    expect(perSample.map((m) => Number(m[1]))).toEqual([1, 2, 3, 4]);
    for (const m of perSample) {
      expect(Number(m[2])).toBeGreaterThanOrEqual(0);
      expect(Number(m[2])).toBeLessThan(48);
      expect(Number(m[3])).toBeLessThanOrEqual(Number(quality![2]) * 1.05);
    }
    // The summary is over these (2 significant digits each): the largest is the max, to rounding.
    const largest = Math.max(...perSample.map((m) => Number(m[3])));
    expect(Math.abs(largest - Number(quality![2]))).toBeLessThanOrEqual(0.05 * Number(quality![2]));
    const bytes = readFileSync(out);
    expect(bytes.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    const png = decodePng(bytes);
    // 4 columns of 96-pixel tiles with 4-pixel gaps; a row of samples, a 12-pixel group gap, a row of neighbours.
    expect(png.width).toBe(4 + 4 * (96 + 4));
    expect(png.height).toBe(4 + 100 + 8 + 100);
    expect(r.stdout).toContain(`wrote ${out} (${png.width}x${png.height}`);
    for (let k = 0; k < 4; k++) {
      const x0 = 4 + k * 100;
      const sampleTile = tile(png, x0, 4);
      const neighbourTile = tile(png, x0, 112);
      // Each sample is (to the byte) the dataset image shown below it.
      let worst = 0;
      for (let i = 0; i < sampleTile.length; i++)
        worst = Math.max(worst, Math.abs(sampleTile[i] - neighbourTile[i]));
      expect(worst).toBeLessThanOrEqual(1);
    }
  });

  it("with Stable Diffusion's config the samples keep the noise of alpha_bar_0 (set_alpha_to_one: false)", async () => {
    const out = join(work, 'sd.png');
    const r = await runCli(['sample', '--config', 'sd', '--count', '4', '--steps', '10', '--out', out]);
    expect(r.code).toBe(0);
    const mean = Number(/quality: .*: mean (\S+),/.exec(r.stdout)![1]);
    // The last step lands on alpha_bar_0 = 1 - beta_0 = 1 - 0.00085, leaving noise of RMS sqrt(0.00085)
    // in [-1, 1] units: half that in pixel units.
    expect(mean).toBeGreaterThan(0.97 * (Math.sqrt(0.00085) / 2));
    expect(mean).toBeLessThan(1.03 * (Math.sqrt(0.00085) / 2));
  });

  it('takes --zero-snr, --prediction and --spacing over the config', async () => {
    const out = join(work, 'zero.png');
    const r = await runCli([
      'sample',
      '--config',
      'sd',
      '--zero-snr',
      '--prediction',
      'v_prediction',
      '--spacing',
      'trailing',
      '--count',
      '2',
      '--steps',
      '5',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('zero terminal SNR, trailing spacing, steps_offset 1, v_prediction');
    expect(r.stdout).toContain('timesteps 999 -> 199');
  });

  it('--shape conditions the exact model: every sample is nearest to an image of that shape', async () => {
    const r = await runCli([
      'sample',
      '--shape',
      'ring',
      '--count',
      '6',
      '--steps',
      '20',
      '--out',
      join(work, 'ring.png'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('conditioned on "ring" (guidance scale 1, rescale 0)');
    expect(r.stdout).toContain('condition: 6/6 samples are nearest to a "ring" image');
  });

  it('strong guidance pushes samples off the data; --guidance-rescale brings them back towards it', async () => {
    const run = async (rescale: string) => {
      const r = await runCli([
        'sample',
        '--shape',
        'disc',
        '--guidance-scale',
        '7.5',
        '--guidance-rescale',
        rescale,
        '--count',
        '6',
        '--steps',
        '20',
        '--out',
        join(work, `guided-${rescale}.png`),
      ]);
      expect(r.code).toBe(0);
      return Number(/quality: .*: mean (\S+),/.exec(r.stdout)![1]);
    };
    const plain = await run('0');
    const rescaled = await run('0.7');
    // An exact sampler lands on data (distance ~1e-11); w = 7.5 overshoots it by a large margin.
    expect(plain).toBeGreaterThan(0.05);
    expect(rescaled).toBeLessThan(0.7 * plain);
  });

  it("refuses zero terminal SNR with epsilon prediction with the library's explanation (exit 1)", async () => {
    const r = await runCli([
      'sample',
      '--zero-snr',
      '--spacing',
      'trailing',
      '--count',
      '2',
      '--steps',
      '5',
      '--out',
      join(work, 'bad.png'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: prediction_type cannot step from timestep 999: alpha_bar is 0 there/m);
    expect(r.stderr).toContain('use a model trained with prediction_type "v_prediction"');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('ddim experiment', () => {
  it('table1: writes markdown and JSON with eta = 0 beating eta = 1 at S = 10 and 20, beside the floor', async () => {
    const dir = join(work, 'table1');
    const r = await runCli(['experiment', 'table1', '--samples', '300', '--seed', '2', '--out', dir]);
    expect(r.code).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, 'table1.json'), 'utf8')) as {
      floor: number;
      cells: { steps: number; eta: number; mmd2: number }[];
    };
    expect(json.cells.length).toBe(5 * 4);
    const cell = (S: number, eta: number) => json.cells.find((c) => c.steps === S && c.eta === eta)!.mmd2;
    for (const S of [10, 20]) expect(cell(S, 0)).toBeLessThan(cell(S, 1));
    expect(r.stdout).toContain('S = 10: eta = 0 beats eta = 1');
    expect(r.stdout).toContain('S = 20: eta = 0 beats eta = 1');
    const md = readFileSync(join(dir, 'table1.md'), 'utf8');
    expect(md).toContain('| S | η = 0 | η = 0.2 | η = 0.5 | η = 1 |');
    expect(md).toContain(`**Noise floor σ = ${json.floor.toExponential(2)}**`);
    // Every figure stands beside its multiple of the floor.
    const row10 = md.split('\n').find((l) => l.startsWith('| 10 |'))!;
    expect(row10.match(/\(-?[\d.]+σ\)/g)?.length).toBe(4);
    // The previous-step rows (issue 9): linspace, both rules, S = 10 and 20.
    expect(md).toContain(
      '| S, previous step | η = 0 | η = 0.2 | η = 0.5 | η = 1 | η = 0: RMS distance from the 1000-step endpoint |',
    );
    const ruleJson = JSON.parse(readFileSync(join(dir, 'table1.json'), 'utf8')).ruleCells as {
      steps: number;
      rule: string;
      eta: number;
      endpointRms: number | null;
    }[];
    for (const S of [10, 20]) {
      for (const [rule, label] of [
        ['stride', 'stride t − T//n (diffusers)'],
        ['schedule', 'schedule-derived'],
      ]) {
        const cells = ruleJson.filter((c) => c.steps === S && c.rule === rule);
        expect(cells.map((c) => c.endpointRms === null)).toEqual([false, true, true, true]);
        // The last column is the eta = 0 cell's endpoint distance, to 3 digits.
        const row = md.split('\n').find((l) => l.startsWith(`| ${S}, ${label} |`))!;
        expect(row.split('|').at(-2)!.trim()).toBe(Number(cells[0].endpointRms).toPrecision(3));
      }
    }
    expect(r.stdout).toMatch(
      /^S = 10, η = 0: the schedule-derived previous step (is|is NOT) at least as good as the stride .*; it lands (no farther from|farther from) the 1000-step endpoint than the stride \(/m,
    );
  });

  it('brightness: writes markdown, JSON and PNG; zero-SNR + v + trailing spreads wider', async () => {
    const dir = join(work, 'brightness');
    const r = await runCli(['experiment', 'brightness', '--samples', '12', '--steps', '20', '--out', dir]);
    expect(r.code).toBe(0);
    const json = JSON.parse(readFileSync(join(dir, 'brightness.json'), 'utf8')) as {
      dataset: { std: number };
      runs: { name: string; stats: { std: number }; brightness: number[] }[];
    };
    expect(json.runs.map((x) => x.name)).toEqual(['leading + epsilon', 'zero-SNR + v + trailing']);
    expect(json.runs[0].brightness.length).toBe(12);
    expect(json.runs[1].stats.std).toBeGreaterThan(json.runs[0].stats.std);
    expect(r.stdout).toContain(
      'zero-SNR + v + trailing covers a wider brightness spread than leading + epsilon',
    );
    expect(readFileSync(join(dir, 'brightness.md'), 'utf8')).toContain('| dataset | 48 |');
    const png = decodePng(readFileSync(join(dir, 'brightness.png')));
    // 16 columns of 64-pixel tiles, gap 2: the dataset (48 = 3 rows), then 12 samples per schedule (1 row each).
    expect(png.width).toBe(2 + 16 * 66);
    expect(png.height).toBe(2 + 3 * 66 + 10 + 66 + 10 + 66);
  });

  it('writes a seed past 2^53 (up to 2^64 - 1, as torch takes) into the JSON as its digits', async () => {
    const dir = join(work, 'big-seed');
    const seed = '18446744073709551615';
    const r = await runCli([
      'experiment',
      'brightness',
      '--samples',
      '2',
      '--steps',
      '2',
      '--seed',
      seed,
      '--out',
      dir,
    ]);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, 'brightness.json'), 'utf8')).seed).toBe(seed);
    expect(readFileSync(join(dir, 'brightness.md'), 'utf8')).toContain(`seed ${seed}`);
  });
});
