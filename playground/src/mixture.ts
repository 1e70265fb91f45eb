/**
 * 2-D sampling view: particles drawn from N(0, I) (the seeded, PyTorch-exact generator) carried
 * to the data by the library's `sample` loop with the exact denoiser of a Gaussian mixture, so
 * what the particles do is the scheduler's doing alone. Every step is recorded through `onStep`
 * and can be animated or scrubbed.
 */
import { type DDIMConfig, DDIMScheduler, Generator, randnTensor, sample } from 'ddim';
import { gaussianMixtureDenoiser } from 'ddim/exact';
import { ticks } from './chart.js';
import { type RunInput, RunPanel, type RunState } from './run-panel.js';

export interface MixturePreset {
  name: string;
  weights: number[];
  means: [number, number][];
  /** Per-component standard deviation (the denoiser takes variances). */
  stds: number[];
}

function ring(k: number, radius: number, std: number): MixturePreset {
  const means: [number, number][] = [];
  for (let i = 0; i < k; i++) {
    const a = (2 * Math.PI * i) / k;
    means.push([radius * Math.cos(a), radius * Math.sin(a)]);
  }
  return { name: `${k} modes on a ring`, weights: means.map(() => 1 / k), means, stds: means.map(() => std) };
}

/** Modes inside [-1, 1]^2, so clip_sample (on by default) does not cut them off. */
export const MIXTURES: MixturePreset[] = [
  ring(8, 0.7, 0.04),
  {
    name: '3 unequal modes',
    weights: [0.5, 0.3, 0.2],
    means: [
      [-0.5, -0.35],
      [0.55, -0.25],
      [0.05, 0.6],
    ],
    stds: [0.1, 0.05, 0.08],
  },
  {
    name: '2 close modes',
    weights: [0.5, 0.5],
    means: [
      [-0.2, 0],
      [0.2, 0],
    ],
    stds: [0.05, 0.05],
  },
];

export interface SamplingState extends RunState {
  mixture: { name: string; weights: number[]; means: number[][]; stds: number[] };
  particles: number;
  steps: number;
  eta: number;
  seed: string;
  timesteps: number[];
  /** Frames recorded: x_T, then the sample after each step (every k-th step past MAX_FRAMES steps). */
  frames: number;
  /** For each frame, the number of steps done (0 for x_T). */
  frameSteps: number[];
  /** The frame drawn now. */
  frame: number;
  playing: boolean;
  /** The initial noise x_T, [particles][2]. */
  initial: number[][];
  /** The final samples, [particles][2]. */
  final: number[][];
  /** For each component, the share of particles whose nearest mode it is. */
  shares: number[];
}

/** Frames kept per run (plus x_T); longer runs keep every k-th step. */
const MAX_FRAMES = 250;

const PALETTE = ['#2f6fde', '#e0572f', '#3a9d5d', '#7b4fd0', '#d1a019', '#c2378a', '#1b9aaa', '#6b6f7a'];

/**
 * Half-width of the square the canvas shows for one frame: it holds the mixture (3 std around
 * each mode) and 98% of the particles, so the view zooms in as x_T ~ N(0, I) contracts onto the data.
 */
function viewHalfWidth(points: Float32Array, count: number, mixture: SamplingState['mixture']): number {
  let extent = 0;
  mixture.means.forEach((m, k) => {
    extent = Math.max(extent, Math.abs(m[0]) + 3 * mixture.stds[k], Math.abs(m[1]) + 3 * mixture.stds[k]);
  });
  const radii = new Float64Array(count);
  for (let i = 0; i < count; i++) radii[i] = Math.max(Math.abs(points[2 * i]), Math.abs(points[2 * i + 1]));
  radii.sort();
  const q = count > 0 ? radii[Math.min(count - 1, Math.floor(0.98 * count))] : 0;
  return 1.08 * Math.max(extent, Number.isFinite(q) ? q : extent);
}

function nearestMode(x: number, y: number, means: readonly (readonly number[])[]): number {
  let best = 0;
  let bestD = Number.POSITIVE_INFINITY;
  for (let k = 0; k < means.length; k++) {
    const d = (x - means[k][0]) ** 2 + (y - means[k][1]) ** 2;
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best;
}

export class MixturePanel extends RunPanel<SamplingState> {
  private frames: Float32Array[] = [];
  private previews: Float32Array[] = [];
  private colors: Uint8Array = new Uint8Array(0);
  private readonly canvas: HTMLCanvasElement;
  private readonly slider: HTMLInputElement;
  private readonly caption: HTMLElement;
  private readonly presetSelect: HTMLSelectElement;
  private readonly countInput: HTMLInputElement;
  private readonly showX0: HTMLInputElement;

  constructor(container: HTMLElement) {
    super(
      {
        status: 'idle',
        busy: false,
        error: null,
        runs: 0,
        mixture: { name: '', weights: [], means: [], stds: [] },
        particles: 0,
        steps: 0,
        eta: 0,
        seed: '',
        timesteps: [],
        frames: 0,
        frameSteps: [],
        frame: 0,
        playing: false,
        initial: [],
        final: [],
        shares: [],
      },
      30,
    );
    container.innerHTML = `
      <div class="panel-controls">
        <label>mixture <select id="mixture-preset"></select></label>
        <label>particles <input id="mixture-particles" type="number" min="1" max="5000" step="1" value="500" style="width: 5em" /></label>
        <button id="mixture-animate" type="button">Animate</button>
        <input id="mixture-frame" type="range" min="0" max="0" value="0" aria-label="step shown" />
        <label><input id="mixture-x0" type="checkbox" /> predicted x0</label>
      </div>
      <div class="panel-row">
        <canvas id="mixture-canvas" class="particles" width="720" height="720"></canvas>
        <div id="mixture-caption" class="caption"></div>
      </div>`;
    this.canvas = container.querySelector('#mixture-canvas')!;
    this.slider = container.querySelector('#mixture-frame')!;
    this.caption = container.querySelector('#mixture-caption')!;
    this.presetSelect = container.querySelector('#mixture-preset')!;
    this.countInput = container.querySelector('#mixture-particles')!;
    this.showX0 = container.querySelector('#mixture-x0')!;
    for (const m of MIXTURES) this.presetSelect.add(new Option(m.name, m.name));
    this.presetSelect.addEventListener('change', () => this.schedule());
    this.countInput.addEventListener('input', () => this.schedule());
    this.slider.addEventListener('input', () => {
      this.state.playing = false;
      this.show(Number(this.slider.value));
    });
    this.showX0.addEventListener('change', () => this.show(this.state.frame));
    container.querySelector('#mixture-animate')!.addEventListener('click', () => this.animate());
  }

  private preset(): MixturePreset {
    return MIXTURES.find((m) => m.name === this.presetSelect.value) ?? MIXTURES[0];
  }

  protected async execute(input: RunInput, signal: AbortSignal): Promise<void> {
    const { config, options, steps, eta, seed } = input;
    const preset = this.preset();
    const count = Number(this.countInput.value);
    const s = this.state;
    s.playing = false;
    if (!Number.isInteger(count) || count < 1 || count > 5000) {
      throw new RangeError(`particles must be a whole number from 1 to 5000 (got ${this.countInput.value}).`);
    }
    const scheduler = new DDIMScheduler(config as DDIMConfig, { ...options, onWarning: () => {} });
    const denoiser = gaussianMixtureDenoiser(scheduler, {
      weights: preset.weights,
      means: preset.means,
      variances: preset.stds.map((v) => v * v),
    });
    // diffusers' order: x_T first, then (eta > 0) each step's noise, all from one generator.
    const generator = new Generator().manualSeed(seed);
    const latents = randnTensor([count, 2], { generator });
    const frames = [Float32Array.from(latents.data)];
    const previews = [Float32Array.from(latents.data)];
    const frameSteps = [0];
    // Long runs keep every k-th step (and the last), so memory stays bounded (5000 particles x
    // 1000 steps would be 80 MB of frames).
    const every = Math.max(1, Math.ceil(steps / MAX_FRAMES));
    const result = await sample(scheduler, denoiser, {
      numInferenceSteps: steps,
      eta,
      generator,
      latents,
      signal,
      onStep: (info) => {
        const done = info.index + 1;
        if (done % every !== 0 && done !== info.total) return;
        frames.push(Float32Array.from(info.sample.data as Float32Array));
        previews.push(Float32Array.from(info.predOriginalSample.data as Float32Array));
        frameSteps.push(done);
      },
    });
    if (signal.aborted) return;
    const final = frames[frames.length - 1];
    const colors = new Uint8Array(count);
    const shares = preset.weights.map(() => 0);
    const finalPoints: number[][] = [];
    const initialPoints: number[][] = [];
    for (let i = 0; i < count; i++) {
      initialPoints.push([frames[0][2 * i], frames[0][2 * i + 1]]);
      colors[i] = nearestMode(final[2 * i], final[2 * i + 1], preset.means);
      shares[colors[i]] += 1 / count;
      finalPoints.push([final[2 * i], final[2 * i + 1]]);
    }
    this.frames = frames;
    this.previews = previews;
    this.colors = colors;
    Object.assign(s, {
      status: 'done',
      error: null,
      mixture: {
        name: preset.name,
        weights: [...preset.weights],
        means: preset.means.map((m) => [...m]),
        stds: [...preset.stds],
      },
      particles: count,
      steps,
      eta,
      seed,
      timesteps: Array.from(result.timesteps),
      frames: frames.length,
      frameSteps,
      initial: initialPoints,
      final: finalPoints,
      shares,
    });
    this.slider.max = String(frames.length - 1);
    this.show(frames.length - 1);
  }

  protected showFailure(message: string): void {
    this.frames = [];
    const ctx = this.canvas.getContext('2d')!;
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.caption.textContent = `Sampling failed: ${message}`;
    this.caption.classList.add('failed');
  }

  /** Play the recorded steps from x_T, about 8 steps a second (at least 2 s in all). */
  animate(): void {
    if (this.frames.length === 0) return;
    const s = this.state;
    s.playing = true;
    this.show(0);
    const perFrame = Math.max(60, Math.min(250, 2000 / this.frames.length));
    let start: number | null = null;
    const tick = (now: number) => {
      if (!s.playing) return;
      start ??= now;
      const frame = Math.min(this.frames.length - 1, Math.floor((now - start) / perFrame));
      this.show(frame);
      if (frame < this.frames.length - 1) requestAnimationFrame(tick);
      else s.playing = false;
    };
    requestAnimationFrame(tick);
  }

  private view = 3;

  private toCanvas(v: number, size: number): number {
    return ((v + this.view) / (2 * this.view)) * size;
  }

  show(frame: number): void {
    const s = this.state;
    if (this.frames.length === 0) return;
    frame = Math.max(0, Math.min(this.frames.length - 1, frame));
    s.frame = frame;
    this.slider.value = String(frame);
    const ctx = this.canvas.getContext('2d')!;
    const size = this.canvas.width;
    ctx.clearRect(0, 0, size, size);
    const m = s.mixture;
    const data = this.showX0.checked ? this.previews[frame] : this.frames[frame];
    this.view = viewHalfWidth(data, s.particles, m);
    // grid, labelled in data units
    ctx.strokeStyle = '#eceef3';
    ctx.fillStyle = '#677086';
    ctx.font = `${Math.round(size / 32)}px system-ui, sans-serif`;
    ctx.lineWidth = 1;
    for (const v of ticks(-this.view, this.view, 4)) {
      const p = this.toCanvas(v, size);
      ctx.strokeStyle = v === 0 ? '#d9dde6' : '#eceef3';
      ctx.beginPath();
      ctx.moveTo(p, 0);
      ctx.lineTo(p, size);
      ctx.moveTo(0, p);
      ctx.lineTo(size, p);
      ctx.stroke();
      ctx.fillText(String(Number(v.toPrecision(3))), p + 3, size - 6);
    }
    // the mixture: circles of 2 standard deviations around each mode
    for (let k = 0; k < m.means.length; k++) {
      ctx.strokeStyle = PALETTE[k % PALETTE.length];
      ctx.lineWidth = 2;
      ctx.beginPath();
      const r = (2 * m.stds[k] * size) / (2 * this.view);
      ctx.arc(
        this.toCanvas(m.means[k][0], size),
        this.toCanvas(-m.means[k][1], size),
        Math.max(r, 3),
        0,
        2 * Math.PI,
      );
      ctx.stroke();
    }
    const dot = Math.max(2, size / 240);
    ctx.globalAlpha = 0.75;
    for (let i = 0; i < s.particles; i++) {
      ctx.fillStyle = PALETTE[this.colors[i] % PALETTE.length];
      const x = this.toCanvas(data[2 * i], size);
      const y = this.toCanvas(-data[2 * i + 1], size);
      ctx.fillRect(x - dot / 2, y - dot / 2, dot, dot);
    }
    ctx.globalAlpha = 1;
    const t =
      frame === 0
        ? 'x_T ~ N(0, I)'
        : `after step ${s.frameSteps[frame]} of ${s.steps} (from t = ${s.timesteps[s.frameSteps[frame] - 1]})`;
    this.caption.classList.remove('failed');
    this.caption.replaceChildren();
    const lines = [
      `${s.particles} particles, seed ${s.seed}, eta ${s.eta}: ${t}${this.showX0.checked ? ', predicted x0' : ''}; view ±${this.view.toFixed(2)}.`,
      'Colour: the mode each particle ends nearest to.',
      ...m.weights.map(
        (w, k) =>
          `mode ${k + 1} (${m.means[k].map((v) => v.toFixed(2)).join(', ')}): weight ${w.toFixed(3)}, reached by ${(s.shares[k] * 100).toFixed(1)}%`,
      ),
    ];
    for (const line of lines) {
      const p = document.createElement('div');
      p.textContent = line;
      this.caption.append(p);
    }
  }
}
