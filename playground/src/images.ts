/**
 * Image grid from an exact image model: the library's `datasetDenoiser` over its built-in shapes
 * data set is the denoiser a network trained to convergence on those images would be, so the
 * grid shows what the schedule and sampler do, with no model error mixed in.
 */
import { type DDIMConfig, DDIMScheduler, Generator, randnTensor, sample } from 'ddim';
import { datasetDenoiser, nearestNeighbours, shapesDataset } from 'ddim/exact';
import { type RunInput, RunPanel, type RunState } from './run-panel.js';

export interface ImagesState extends RunState {
  count: number;
  size: number;
  steps: number;
  eta: number;
  seed: string;
  /** Steps done in the current run. */
  progress: number;
  /** The generated images, [count, 3, size, size] flattened, in [-1, 1] as the sampler left them. */
  pixels: number[];
  /** For each image, the RMS distance to the nearest training image. */
  nearestRms: number[];
}

const SIZE = 32;
const TRAINING_IMAGES = 48;

export class ImagesPanel extends RunPanel<ImagesState> {
  private readonly grid: HTMLElement;
  private readonly caption: HTMLElement;
  private readonly countInput: HTMLInputElement;
  private readonly data = shapesDataset({ size: SIZE, count: TRAINING_IMAGES }).images;

  constructor(container: HTMLElement) {
    // Debounced longer than the mixture: a run costs more, and typing should not start many.
    super(
      {
        status: 'idle',
        busy: false,
        error: null,
        runs: 0,
        count: 0,
        size: SIZE,
        steps: 0,
        eta: 0,
        seed: '',
        progress: 0,
        pixels: [],
        nearestRms: [],
      },
      150,
    );
    container.innerHTML = `
      <div class="panel-controls">
        <label>images <input id="images-count" type="number" min="1" max="64" step="1" value="16" style="width: 4em" /></label>
        <span class="muted">${TRAINING_IMAGES} training images of ${SIZE} x ${SIZE} shapes; the exact denoiser of that set.</span>
      </div>
      <div id="images-grid" class="image-grid"></div>
      <div id="images-caption" class="caption"></div>`;
    this.grid = container.querySelector('#images-grid')!;
    this.caption = container.querySelector('#images-caption')!;
    this.countInput = container.querySelector('#images-count')!;
    this.countInput.addEventListener('input', () => this.schedule());
  }

  protected async execute(input: RunInput, signal: AbortSignal): Promise<void> {
    const { config, options, steps, eta, seed } = input;
    const count = Number(this.countInput.value);
    const s = this.state;
    s.progress = 0;
    this.caption.classList.remove('failed');
    if (!Number.isInteger(count) || count < 1 || count > 64) {
      throw new RangeError(`images must be a whole number from 1 to 64 (got ${this.countInput.value}).`);
    }
    const scheduler = new DDIMScheduler(config as DDIMConfig, { ...options, onWarning: () => {} });
    const denoiser = datasetDenoiser(scheduler, this.data);
    const generator = new Generator().manualSeed(seed);
    const latents = randnTensor([count, 3, SIZE, SIZE], { generator });
    const result = await sample(scheduler, denoiser, {
      numInferenceSteps: steps,
      eta,
      generator,
      latents,
      signal,
      // Yield to the browser between steps so the page stays responsive during a run.
      onStep: (info) =>
        new Promise<void>((resolve) => {
          s.progress = info.index + 1;
          this.caption.textContent = `step ${info.index + 1} of ${info.total} ...`;
          setTimeout(resolve, 0);
        }),
    });
    if (signal.aborted) return;
    const pixels = result.latents.data as Float32Array;
    this.render(pixels, count);
    const rms = Array.from(nearestNeighbours(result.latents, this.data).rms);
    const mean = rms.reduce((a, b) => a + b, 0) / count;
    Object.assign(s, {
      status: 'done',
      error: null,
      count,
      steps,
      eta,
      seed,
      pixels: Array.from(pixels),
      nearestRms: rms,
    });
    this.caption.textContent =
      `${count} samples, ${steps} steps, eta ${eta}, seed ${seed}; RMS distance to the nearest training ` +
      `image: mean ${mean.toFixed(4)}, largest ${Math.max(...rms).toFixed(4)} (pixels in [-1, 1]). ` +
      'A converged model of a finite set reproduces its training images; blur or noise left in them is the schedule.';
  }

  protected showFailure(message: string): void {
    this.grid.replaceChildren();
    this.caption.textContent = `Sampling failed: ${message}`;
    this.caption.classList.add('failed');
  }

  private render(pixels: Float32Array, count: number): void {
    const plane = SIZE * SIZE;
    const canvases: HTMLCanvasElement[] = [];
    for (let i = 0; i < count; i++) {
      const canvas = document.createElement('canvas');
      canvas.width = SIZE;
      canvas.height = SIZE;
      canvas.dataset.index = String(i);
      canvas.title = `sample ${i}`;
      const ctx = canvas.getContext('2d')!;
      const img = ctx.createImageData(SIZE, SIZE);
      const base = i * 3 * plane;
      for (let p = 0; p < plane; p++) {
        for (let c = 0; c < 3; c++) {
          // [-1, 1] -> [0, 255], clamped: samples can overshoot the data range.
          const v = (pixels[base + c * plane + p] + 1) * 127.5;
          img.data[4 * p + c] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
        }
        img.data[4 * p + 3] = 255;
      }
      ctx.putImageData(img, 0, 0);
      canvases.push(canvas);
    }
    this.grid.replaceChildren(...canvases);
  }
}
