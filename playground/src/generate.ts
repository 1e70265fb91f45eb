/**
 * The Generate panel: a Stable Diffusion ONNX model folder (picked, dropped, or by URL / Hub id)
 * run in the browser by `ddim/pipeline` on onnxruntime-web, prompt to image, with each step's
 * predicted x0 drawn and the time of each step.
 *
 * x0 previews: diffusers does not decode x0 per step, and decoding it with the VAE costs one
 * decoder run per step (for Stable Diffusion at 512 x 512, more than a UNet step). The panel's
 * `auto` mode decodes the first step's x0 with the VAE and times it: when that decode took at
 * most half the step (small models: the test model, small images), every step is decoded
 * with the VAE; otherwise the later previews use a colour map fitted to the model's own VAE
 * (latent-preview.ts), which costs next to nothing. `vae`, `linear` and `off` force a choice.
 */
import { DDIMScheduler, DdimError, Generator } from 'ddim';
// Types only: the pipeline (and its tokenizer library) is loaded with the first model (pipelineModule).
import type { GenerateOptions, ModelFiles, PipelineImage, StableDiffusionPipeline } from 'ddim/pipeline';
import { LatentColourFit } from './latent-preview.js';
import { droppedFolder, handleModelFiles, inputModelFiles, pipelineModule } from './model-sources.js';
import {
  type Backend,
  type BackendChoice,
  chooseBackend,
  defaultThreads,
  loadOrt,
  type RunRecord,
  timedOrt,
} from './ort-web.js';

/** How each step's predicted x0 is drawn. */
export const PREVIEW_MODES = ['auto', 'vae', 'linear', 'off'] as const;
export type PreviewMode = (typeof PREVIEW_MODES)[number];
/** How one preview was made. */
export type PreviewKind = 'vae' | 'linear';

/** Prediction types the panel can set on the folder's scheduler ('' keeps the folder's). */
const PREDICTION_TYPES = ['', 'epsilon', 'v_prediction', 'sample'] as const;

/** `auto` keeps decoding x0 with the VAE when the first decode cost at most this share of its step. */
const AUTO_VAE_SHARE = 0.5;

/** A picture on the page's state: RGBA bytes as numbers (readable from the test through JSON). */
export interface StatePicture {
  width: number;
  height: number;
  data: number[];
}

export interface StepTiming {
  index: number;
  timestep: number;
  /** The whole step: UNet, guidance, scheduler step (the preview excluded). */
  ms: number;
  /** The UNet's `session.run` within it. */
  unetMs: number;
  /** Drawing the step's x0 (a VAE decode, or the fitted map); 0 without a preview. */
  previewMs: number;
  preview: PreviewKind | null;
}

export interface GenerateState {
  /** What the panel is doing; `busy` covers loading and running. */
  status: 'empty' | 'loading' | 'ready' | 'running' | 'done' | 'stopped' | 'error';
  busy: boolean;
  /** The loaded model, or null. */
  model: {
    location: string;
    from: 'folder input' | 'directory picker' | 'drop' | 'url';
    backend: Backend;
    backendReason: string;
    /**
     * The GPU adapter ONNX Runtime's WebGPU backend runs on ("vendor architecture"), read back from
     * `ort.env.webgpu.adapter` once the sessions exist; null on WebAssembly.
     */
    gpuAdapter: string | null;
    threads: number;
    crossOriginIsolated: boolean;
    defaultSize: number;
    vaeScaleFactor: number;
    scalingFactor: number;
    vaeEncoderStyle: string | null;
    scheduler: Record<string, unknown>;
    loadMs: number;
  } | null;
  /** Increases after every load attempt (loaded, failed or cancelled). */
  loads: number;
  /** Increases after every generate attempt (done, failed or stopped). */
  runs: number;
  /** The last load's or run's error message, or null. */
  error: string | null;
  /** The pipeline's warnings during the last load or run. */
  warnings: string[];
  /** Download progress of a URL / Hub load: bytes per file. */
  download: Record<string, { loaded: number; total: number | null }>;
  /** Steps done in the current (or last) run, of `total`. */
  progress: { step: number; total: number };
  /** The options of the last run, as given to the pipeline (no generator, image or callbacks). */
  request: Record<string, unknown> | null;
  /** The scheduler the last run used (its config). */
  scheduler: Record<string, unknown> | null;
  steps: StepTiming[];
  /** Each step's x0 preview (the batch's first image). */
  previews: (StatePicture & { index: number; timestep: number; kind: PreviewKind })[];
  /** The final image. */
  image: StatePicture | null;
  /** The starting image (image-to-image), as decoded by the browser. */
  initImage: (StatePicture & { name: string }) | null;
  /** Times of the last run outside the steps: text encoder (and VAE encoder) before, VAE decoder after. */
  timing: { setupMs: number; decodeMs: number; totalMs: number } | null;
}

const $ = <T extends HTMLElement>(root: HTMLElement, id: string): T => {
  const node = root.querySelector<T>(`#${id}`);
  if (node === null) throw new Error(`#${id} is missing from the Generate panel`);
  return node;
};

function picture(image: { width: number; height: number; data: ArrayLike<number> }): StatePicture {
  return { width: image.width, height: image.height, data: Array.from(image.data) };
}

function draw(
  canvas: HTMLCanvasElement,
  image: { width: number; height: number; data: Uint8ClampedArray },
): void {
  canvas.width = image.width;
  canvas.height = image.height;
  const ctx = canvas.getContext('2d')!;
  const data = ctx.createImageData(image.width, image.height);
  data.data.set(image.data);
  ctx.putImageData(data, 0, 0);
}

function fmtMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
}

/** "vendor architecture" of a GPUAdapter (its `info`), or "unknown adapter". */
function adapterName(adapter: unknown): string {
  const info = (adapter as { info?: { vendor?: string; architecture?: string } } | undefined)?.info;
  const name = [info?.vendor, info?.architecture].filter((x) => x).join(' ');
  return name === '' ? 'unknown adapter' : name;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A number field's value: a finite number within the rule, else a RangeError naming the field. */
function readNumber(
  input: HTMLInputElement,
  name: string,
  rule: { min?: number; integer?: boolean },
): number {
  const text = input.value.trim();
  const v = Number(text);
  if (
    text === '' ||
    !Number.isFinite(v) ||
    (rule.integer === true && !Number.isInteger(v)) ||
    (rule.min !== undefined && v < rule.min)
  ) {
    const what = rule.integer === true ? 'a whole number' : 'a number';
    throw new RangeError(
      `${name} must be ${what}${rule.min !== undefined ? ` >= ${rule.min}` : ''} (got ${JSON.stringify(text)}).`,
    );
  }
  return v;
}

const PANEL_HTML = `
  <div class="generate-grid">
    <div class="generate-controls">
      <h3>Model folder <span class="muted">(Stable Diffusion 1.x / 2.x, ONNX: Optimum's or diffusers' export)</span></h3>
      <div id="gen-drop" class="drop-zone">
        Drop the model folder here (or anywhere on the page), or
        <label class="file-button">choose a folder<input id="gen-folder" class="file-input" type="file" webkitdirectory multiple /></label>
        <button id="gen-open-folder" type="button" hidden>open a folder...</button>
      </div>
      <form id="gen-url-form" autocomplete="off">
        <div class="field"><label for="gen-url">URL or Hub id</label><input id="gen-url" type="text" placeholder="https://example.org/sd15-onnx or org/name" /></div>
        <div class="field"><label for="gen-revision">revision</label><input id="gen-revision" type="text" value="main" /></div>
        <div class="field"><label for="gen-endpoint">Hub endpoint</label><input id="gen-endpoint" type="text" value="https://huggingface.co" /></div>
        <button id="gen-url-load" type="submit">Load</button>
      </form>
      <div class="field">
        <label for="gen-backend">backend</label>
        <select id="gen-backend">
          <option value="auto">auto (WebGPU when available)</option>
          <option value="webgpu">WebGPU</option>
          <option value="wasm">WebAssembly</option>
        </select>
      </div>
      <div class="field">
        <label for="gen-threads" title="ONNX Runtime's WebAssembly threads; more than 1 needs a cross-origin isolated page, and applies from the first load on">threads</label>
        <input id="gen-threads" type="number" min="1" max="16" step="1" />
      </div>
      <div id="gen-model-status" class="status" role="status">No model loaded.</div>
      <h3>Generation</h3>
      <form id="gen-form" autocomplete="off" onsubmit="return false">
        <div class="field field-wide"><label for="gen-prompt">prompt</label><textarea id="gen-prompt" rows="2">a photo of an astronaut riding a horse</textarea></div>
        <div class="field field-wide"><label for="gen-negative">negative prompt</label><textarea id="gen-negative" rows="1"></textarea></div>
        <div class="field"><label for="gen-steps">steps</label><input id="gen-steps" type="number" min="1" step="1" value="25" /></div>
        <div class="field"><label for="gen-guidance">guidance scale</label><input id="gen-guidance" type="number" min="0" step="0.5" value="7.5" /></div>
        <div class="field"><label for="gen-rescale">guidance rescale</label><input id="gen-rescale" type="number" min="0" max="1" step="0.1" value="0" /></div>
        <div class="field"><label for="gen-eta">eta</label><input id="gen-eta" type="number" min="0" step="0.1" value="0" /></div>
        <div class="field"><label for="gen-seed">seed</label><input id="gen-seed" type="text" inputmode="numeric" value="0" /></div>
        <div class="field"><label for="gen-width">width</label><input id="gen-width" type="number" min="8" step="8" placeholder="model's" /></div>
        <div class="field"><label for="gen-height">height</label><input id="gen-height" type="number" min="8" step="8" placeholder="model's" /></div>
        <div class="field field-boolean"><input id="gen-zero-snr" type="checkbox" /><label for="gen-zero-snr" title="rescale_betas_zero_snr + trailing spacing on the folder's scheduler (Lin et al.; use with v-prediction models)">zero terminal SNR + trailing</label></div>
        <div class="field"><label for="gen-prediction">prediction type</label><select id="gen-prediction">
          ${PREDICTION_TYPES.map((p) => `<option value="${p}">${p === '' ? "the folder's" : p}</option>`).join('')}
        </select></div>
        <div class="field"><label for="gen-preview">x0 preview</label><select id="gen-preview">
          <option value="auto">auto (VAE when cheap)</option>
          <option value="vae">VAE decoder, every step</option>
          <option value="linear">fitted colour map</option>
          <option value="off">off</option>
        </select></div>
        <div class="field"><label for="gen-init">starting image</label>
          <span><label class="file-button">choose<input id="gen-init" class="file-input" type="file" accept="image/*" /></label>
          <button id="gen-init-clear" type="button" disabled>clear</button> <span id="gen-init-name" class="muted">none (text-to-image)</span></span>
        </div>
        <div class="field"><label for="gen-strength">strength</label><input id="gen-strength" type="number" min="0" max="1" step="0.05" value="0.8" disabled /></div>
      </form>
      <div class="gen-buttons">
        <button id="gen-run" type="button" disabled>Generate</button>
        <button id="gen-stop" type="button" disabled>Stop</button>
        <progress id="gen-progress" max="1" value="0"></progress>
      </div>
      <div id="gen-status" class="status" role="status"></div>
      <ul id="gen-warnings" class="gen-warnings"></ul>
    </div>
    <div class="generate-output">
      <div class="gen-pictures">
        <figure><canvas id="gen-image" class="gen-image" width="1" height="1"></canvas><figcaption id="gen-image-caption" class="caption"></figcaption></figure>
        <figure id="gen-init-figure" hidden><canvas id="gen-init-canvas" class="gen-image" width="1" height="1"></canvas><figcaption class="caption">starting image</figcaption></figure>
      </div>
      <h3>Predicted x0 after each step <span id="gen-preview-note" class="muted"></span></h3>
      <div id="gen-previews" class="preview-strip"></div>
      <h3>Time per step <span id="gen-timing-summary" class="muted"></span></h3>
      <div class="table-wrap gen-timing-wrap">
        <table id="gen-timing">
          <thead><tr><th>step</th><th>t</th><th>step</th><th>UNet</th><th>rest</th><th>x0 preview</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
    </div>
  </div>`;

export class GeneratePanel {
  readonly state: GenerateState = {
    status: 'empty',
    busy: false,
    model: null,
    loads: 0,
    runs: 0,
    error: null,
    warnings: [],
    download: {},
    progress: { step: 0, total: 0 },
    request: null,
    scheduler: null,
    steps: [],
    previews: [],
    image: null,
    initImage: null,
    timing: null,
  };

  private pipe: StableDiffusionPipeline | null = null;
  private folderScheduler: DDIMScheduler | null = null;
  private fit: LatentColourFit | null = null;
  private controller: AbortController | null = null;
  private initImage: ImageData | null = null;
  /** The current run's session.run records (timedOrt reports into it). */
  private records: RunRecord[] = [];
  private readonly el: <T extends HTMLElement>(id: string) => T;

  constructor(root: HTMLElement) {
    root.innerHTML = PANEL_HTML;
    this.el = <T extends HTMLElement>(id: string) => $<T>(root, id);
    this.el<HTMLInputElement>('gen-threads').value = String(defaultThreads());
    this.wire();
  }

  private wire(): void {
    const folder = this.el<HTMLInputElement>('gen-folder');
    folder.addEventListener('change', () => {
      // A copy: clearing the input (so the same folder can be picked again) empties its FileList.
      const files = Array.from(folder.files ?? []);
      if (files.length > 0) void this.load(() => inputModelFiles(files), 'folder input');
      folder.value = '';
    });
    const picker = (window as Window & { showDirectoryPicker?: (o?: object) => Promise<unknown> })
      .showDirectoryPicker;
    const open = this.el<HTMLButtonElement>('gen-open-folder');
    // showDirectoryPicker exists in Chromium-based browsers only; the folder input works everywhere.
    open.hidden = typeof picker !== 'function';
    open.addEventListener('click', async () => {
      const show = (window as Window & { showDirectoryPicker?: (o?: object) => Promise<unknown> })
        .showDirectoryPicker;
      if (typeof show !== 'function') return;
      let handle: unknown;
      try {
        handle = await show.call(window, { id: 'ddim-model', mode: 'read' });
      } catch (error) {
        if ((error as Error)?.name === 'AbortError') return; // the user closed the picker
        throw error;
      }
      void this.load(() => handleModelFiles(handle as never), 'directory picker');
    });
    // A folder dropped anywhere on the page is a model folder; files go on to the config loader.
    // Capture phase: this runs before the page's own drop handler, which then never sees it.
    const zone = this.el('gen-drop');
    document.addEventListener(
      'drop',
      (event) => {
        const dropped = droppedFolder(event.dataTransfer);
        zone.classList.remove('dragging');
        if (dropped === null) return;
        event.preventDefault();
        event.stopPropagation();
        document.body.classList.remove('dragging');
        void this.load(() => dropped.files(), 'drop');
      },
      true,
    );
    zone.addEventListener('dragover', () => zone.classList.add('dragging'));
    zone.addEventListener('dragleave', () => zone.classList.remove('dragging'));
    this.el<HTMLFormElement>('gen-url-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const url = this.el<HTMLInputElement>('gen-url').value.trim();
      if (url !== '') void this.load(url, 'url');
    });
    const init = this.el<HTMLInputElement>('gen-init');
    init.addEventListener('change', () => {
      const file = init.files?.[0];
      if (file) void this.setInitImage(file);
      init.value = '';
    });
    this.el('gen-init-clear').addEventListener('click', () => this.clearInitImage());
    this.el('gen-run').addEventListener('click', () => void this.generate());
    this.el('gen-stop').addEventListener('click', () => this.controller?.abort());
  }

  // -------------------------------------------------------------------------------------------
  // Loading

  /** The load or run in progress (each catches its own errors: this never rejects). */
  private work: Promise<void> = Promise.resolve();

  /** Start an operation after the current one: `previous` settles when it has finished. */
  private exclusive(): { previous: Promise<void>; done: () => void } {
    const previous = this.work;
    let done!: () => void;
    this.work = new Promise<void>((resolve) => {
      done = resolve;
    });
    return { previous, done };
  }

  private setBusy(busy: boolean): void {
    this.state.busy = busy;
    this.el<HTMLButtonElement>('gen-run').disabled = busy || this.pipe === null;
    this.el<HTMLButtonElement>('gen-stop').disabled = !busy;
    this.el<HTMLButtonElement>('gen-url-load').disabled = busy;
  }

  private modelStatus(text: string, failed = false): void {
    const box = this.el('gen-model-status');
    box.className = failed ? 'status failed' : 'status';
    box.textContent = text;
  }

  private showWarnings(): void {
    const items = this.state.warnings.map((w) => {
      const li = document.createElement('li');
      li.textContent = w;
      return li;
    });
    this.el('gen-warnings').replaceChildren(...items);
  }

  /** Load a model folder (ModelFiles made by `files`, or a URL / Hub id) into a new pipeline. */
  async load(
    source: string | (() => ModelFiles | Promise<ModelFiles>),
    from: NonNullable<GenerateState['model']>['from'],
  ): Promise<void> {
    // A run or load in progress stops at its next check; its sessions are released only after it
    // has (releasing a session under a running call would fail that call, not stop it).
    this.controller?.abort();
    const finished = this.exclusive();
    await finished.previous;
    const s = this.state;
    const controller = new AbortController();
    this.controller = controller;
    s.status = 'loading';
    s.error = null;
    s.warnings = [];
    s.download = {};
    this.showWarnings();
    this.setBusy(true);
    const started = performance.now();
    try {
      const old = this.pipe;
      this.pipe = null;
      this.folderScheduler = null;
      s.model = null;
      await old?.release();
      const threads = readNumber(this.el<HTMLInputElement>('gen-threads'), 'threads', {
        min: 1,
        integer: true,
      });
      const decision = await chooseBackend(this.el<HTMLSelectElement>('gen-backend').value as BackendChoice);
      this.modelStatus(`Loading ONNX Runtime (${decision.backend}) ...`);
      const { ort, threads: used } = await loadOrt(threads);
      const files = typeof source === 'string' ? source : await source();
      this.modelStatus(`Loading ${typeof files === 'string' ? files : files.location} ...`);
      const { StableDiffusionPipeline } = await pipelineModule();
      const pipe = await StableDiffusionPipeline.fromPretrained(files, {
        ort: timedOrt(ort, (r) => this.records.push(r)),
        // Errors only: ONNX Runtime warns on every WebGPU session that it keeps shape operators on
        // the CPU (by design); the panel reports failures itself.
        sessionOptions: { executionProviders: decision.executionProviders, logSeverityLevel: 3 },
        onWarning: (w) => s.warnings.push(w),
        signal: controller.signal,
        ...(typeof files === 'string'
          ? {
              revision: this.el<HTMLInputElement>('gen-revision').value.trim() || undefined,
              endpoint: this.el<HTMLInputElement>('gen-endpoint').value.trim() || undefined,
              onProgress: (p: { file: string; loaded: number; total: number | null }) => {
                s.download[p.file] = { loaded: p.loaded, total: p.total };
                this.modelStatus(
                  `Downloading ${p.file}: ${(p.loaded / 1e6).toFixed(1)} MB${p.total === null ? '' : ` of ${(p.total / 1e6).toFixed(1)} MB`}`,
                );
              },
            }
          : {}),
      });
      if (controller.signal.aborted) {
        await pipe.release();
        throw new DOMException('cancelled', 'AbortError');
      }
      this.pipe = pipe;
      this.folderScheduler = pipe.scheduler;
      this.fit = null;
      s.model = {
        location: pipe.location,
        from,
        backend: decision.backend,
        backendReason: decision.reason,
        gpuAdapter: decision.backend === 'webgpu' ? adapterName(ort.env.webgpu.adapter) : null,
        threads: used,
        crossOriginIsolated: globalThis.crossOriginIsolated === true,
        defaultSize: pipe.defaultSize,
        vaeScaleFactor: pipe.vaeScaleFactor,
        scalingFactor: pipe.scalingFactor,
        vaeEncoderStyle: pipe.vaeEncoderStyle,
        scheduler: { ...pipe.scheduler.toJSON() },
        loadMs: performance.now() - started,
      };
      s.status = 'ready';
      const size = String(pipe.defaultSize);
      this.el<HTMLInputElement>('gen-width').placeholder = size;
      this.el<HTMLInputElement>('gen-height').placeholder = size;
      this.modelStatus(
        `Loaded ${pipe.location} in ${fmtMs(s.model.loadMs)}: ${decision.reason}` +
          `${s.model.gpuAdapter === null ? '' : ` (adapter: ${s.model.gpuAdapter})`}` +
          `${decision.backend === 'wasm' ? `, ${used} thread${used === 1 ? '' : 's'}${used === 1 && !s.model.crossOriginIsolated ? ' (the page is not cross-origin isolated)' : ''}` : ''}. ` +
          `Default size ${size} x ${size}, VAE factor ${pipe.vaeScaleFactor}, scaling_factor ${pipe.scalingFactor}, ` +
          `${pipe.vaeEncoderStyle === null ? 'no VAE encoder (text-to-image only)' : `VAE encoder: ${pipe.vaeEncoderStyle}`}.`,
      );
    } catch (error) {
      s.model = null;
      if (controller.signal.aborted) {
        s.status = 'empty';
        this.modelStatus('Loading cancelled.', true);
      } else {
        if (!(error instanceof DdimError || error instanceof RangeError)) console.error(error);
        s.status = 'error';
        s.error = message(error);
        this.modelStatus(`Could not load the model: ${s.error}`, true);
      }
    } finally {
      if (this.controller === controller) this.controller = null;
      finished.done();
      s.loads++;
      this.showWarnings();
      this.setBusy(false);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The starting image

  private async setInitImage(file: File): Promise<void> {
    // Pixels as stored: no colour-space conversion or premultiplication (the pipeline wants the bytes).
    const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
    const canvas = this.el<HTMLCanvasElement>('gen-init-canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    this.initImage = ctx.getImageData(0, 0, canvas.width, canvas.height);
    this.state.initImage = { name: file.name, ...picture(this.initImage) };
    this.el('gen-init-name').textContent = `${file.name} (${canvas.width} x ${canvas.height})`;
    this.el('gen-init-figure').hidden = false;
    this.el<HTMLButtonElement>('gen-init-clear').disabled = false;
    this.el<HTMLInputElement>('gen-strength').disabled = false;
    // Image-to-image takes the image's size.
    for (const id of ['gen-width', 'gen-height']) this.el<HTMLInputElement>(id).disabled = true;
  }

  private clearInitImage(): void {
    this.initImage = null;
    this.state.initImage = null;
    this.el('gen-init-name').textContent = 'none (text-to-image)';
    this.el('gen-init-figure').hidden = true;
    this.el<HTMLButtonElement>('gen-init-clear').disabled = true;
    this.el<HTMLInputElement>('gen-strength').disabled = true;
    for (const id of ['gen-width', 'gen-height']) this.el<HTMLInputElement>(id).disabled = false;
  }

  // -------------------------------------------------------------------------------------------
  // Generating

  /** The form as generate options (numbers checked here; the pipeline checks the rest). */
  private readForm(): { options: GenerateOptions; overrides: Record<string, unknown>; preview: PreviewMode } {
    const input = (id: string) => this.el<HTMLInputElement>(id);
    const options: GenerateOptions = {
      prompt: this.el<HTMLTextAreaElement>('gen-prompt').value,
      numInferenceSteps: readNumber(input('gen-steps'), 'steps', { min: 1, integer: true }),
      guidanceScale: readNumber(input('gen-guidance'), 'guidance scale', {}),
      guidanceRescale: readNumber(input('gen-rescale'), 'guidance rescale', {}),
      eta: readNumber(input('gen-eta'), 'eta', {}),
    };
    const negative = this.el<HTMLTextAreaElement>('gen-negative').value;
    if (negative !== '') options.negativePrompt = negative;
    if (this.initImage !== null) {
      options.image = this.initImage;
      options.strength = readNumber(input('gen-strength'), 'strength', {});
    } else {
      for (const [id, key] of [
        ['gen-width', 'width'],
        ['gen-height', 'height'],
      ] as const) {
        if (input(id).value.trim() !== '')
          options[key] = readNumber(input(id), key, { min: 1, integer: true });
      }
    }
    const overrides: Record<string, unknown> = {};
    if (input('gen-zero-snr').checked) {
      overrides.rescale_betas_zero_snr = true;
      overrides.timestep_spacing = 'trailing';
    }
    const prediction = this.el<HTMLSelectElement>('gen-prediction').value;
    if (prediction !== '') overrides.prediction_type = prediction;
    return { options, overrides, preview: this.el<HTMLSelectElement>('gen-preview').value as PreviewMode };
  }

  private status(text: string, failed = false): void {
    const box = this.el('gen-status');
    box.className = failed ? 'status failed' : 'status';
    box.textContent = text;
  }

  async generate(): Promise<void> {
    const pipe = this.pipe;
    if (pipe === null || this.state.busy) return;
    const finished = this.exclusive();
    const s = this.state;
    const controller = new AbortController();
    this.controller = controller;
    Object.assign(s, {
      status: 'running',
      error: null,
      warnings: [],
      steps: [],
      previews: [],
      image: null,
      timing: null,
      progress: { step: 0, total: 0 },
    });
    this.el('gen-previews').replaceChildren();
    this.el<HTMLTableElement>('gen-timing').tBodies[0].replaceChildren();
    this.el('gen-image-caption').textContent = '';
    this.el('gen-preview-note').textContent = '';
    this.showWarnings();
    this.setBusy(true);
    const progress = this.el<HTMLProgressElement>('gen-progress');
    progress.value = 0;
    try {
      const { options, overrides, preview } = this.readForm();
      const seed = this.el<HTMLInputElement>('gen-seed').value.trim();
      const generator = new Generator().manualSeed(seed);
      const scheduler = DDIMScheduler.fromConfig(this.folderScheduler!.config, overrides, {
        onWarning: (w) => s.warnings.push(w),
      });
      pipe.scheduler = scheduler;
      s.scheduler = { ...scheduler.toJSON() };
      s.request = {
        ...options,
        image: options.image === undefined ? undefined : '(starting image)',
        seed,
        overrides,
        preview,
      };
      const f = pipe.vaeScaleFactor;
      let vaeEveryStep = preview === 'vae';
      let lastEnd = Number.NaN;
      this.records = [];
      const started = performance.now();
      this.status('Encoding the prompt ...');
      const result = await pipe.generate({
        ...options,
        generator,
        signal: controller.signal,
        onStep: async (info) => {
          const now = performance.now();
          const unet = this.records.filter((r) => r.component === 'unet');
          const stepStart = Number.isNaN(lastEnd) ? (unet[0]?.start ?? started) : lastEnd;
          const unetMs = unet.filter((r) => r.start >= stepStart).reduce((a, r) => a + r.ms, 0);
          const timing: StepTiming = {
            index: info.index,
            timestep: info.timestep,
            ms: now - stepStart,
            unetMs,
            previewMs: 0,
            preview: null,
          };
          if (info.index === 0) s.timing = { setupMs: stepStart - started, decodeMs: 0, totalMs: 0 };
          if (preview !== 'off') {
            const dims = [...info.predOriginalSample.dims];
            const x0 = (info.predOriginalSample.data as Float32Array).slice();
            const t0 = performance.now();
            let kind: PreviewKind;
            let rgba: Uint8ClampedArray | null = null;
            const [, channels, h, w] = dims;
            const first = x0.subarray(0, channels * h * w);
            this.fit ??= new LatentColourFit(channels);
            // The fitted map needs one VAE decode of this model first (in any mode).
            const useVae = vaeEveryStep || (preview === 'auto' && info.index === 0) || this.fit.samples === 0;
            if (useVae) {
              const images = await pipe.decode({ data: x0, dims }, { signal: controller.signal });
              rgba = images[0].data;
              this.fit.add(first, h, w, rgba, f);
              kind = 'vae';
            } else {
              rgba = this.fit.render(first, h, w, f);
              kind = 'linear';
            }
            timing.previewMs = performance.now() - t0;
            if (info.index === 0 && preview === 'auto')
              vaeEveryStep = timing.previewMs <= AUTO_VAE_SHARE * timing.ms;
            if (rgba !== null) {
              timing.preview = kind;
              this.addPreview(info.index, info.timestep, kind, { width: w * f, height: h * f, data: rgba });
            }
          }
          s.steps.push(timing);
          s.progress = { step: info.index + 1, total: info.total };
          progress.max = info.total;
          progress.value = info.index + 1;
          this.addTimingRow(timing);
          this.status(`Step ${info.index + 1} of ${info.total} ...`);
          // Let the page paint the preview before the next UNet call.
          await new Promise<void>((resolve) => setTimeout(resolve, 0));
          lastEnd = performance.now();
        },
      });
      const end = performance.now();
      const image = result.images[0];
      draw(this.el<HTMLCanvasElement>('gen-image'), image);
      const [, channels, h, w] = result.latents.dims;
      this.fit?.add(result.latents.data.subarray(0, channels * h * w), h, w, image.data, f);
      s.image = picture(image);
      const decodeMs = Number.isNaN(lastEnd) ? 0 : end - lastEnd;
      s.timing = { setupMs: s.timing?.setupMs ?? 0, decodeMs, totalMs: end - started };
      s.status = 'done';
      this.finishedCaption(image, options);
      this.status(`Done in ${fmtMs(end - started)}.`);
    } catch (error) {
      if (controller.signal.aborted) {
        s.status = 'stopped';
        s.error = message(error);
        this.status(`Stopped after ${s.progress.step} step${s.progress.step === 1 ? '' : 's'}.`, true);
      } else {
        if (!(error instanceof DdimError || error instanceof RangeError)) console.error(error);
        s.status = 'error';
        s.error = message(error);
        this.status(`Generation failed: ${s.error}`, true);
      }
    } finally {
      if (this.pipe !== null && this.folderScheduler !== null) this.pipe.scheduler = this.folderScheduler;
      if (this.controller === controller) this.controller = null;
      finished.done();
      s.runs++;
      this.showWarnings();
      this.setBusy(false);
    }
  }

  private addPreview(index: number, timestep: number, kind: PreviewKind, image: PipelineImage): void {
    this.state.previews.push({ index, timestep, kind, ...picture(image) });
    const figure = document.createElement('figure');
    figure.dataset.index = String(index);
    const canvas = document.createElement('canvas');
    canvas.className = `gen-preview preview-${kind}`;
    draw(canvas, image);
    const caption = document.createElement('figcaption');
    caption.textContent = `${index + 1}: t=${timestep}${kind === 'linear' ? ' ~' : ''}`;
    caption.title =
      kind === 'vae' ? 'decoded with the VAE' : "approximated with a colour map fitted to this model's VAE";
    figure.append(canvas, caption);
    this.el('gen-previews').append(figure);
    const kinds = new Set(this.state.previews.map((p) => p.kind));
    this.el('gen-preview-note').textContent = kinds.has('linear')
      ? kinds.has('vae')
        ? "(the first decoded with the VAE; ~: a colour map fitted to this model's VAE)"
        : "(~: a colour map fitted to this model's VAE)"
      : '(decoded with the VAE)';
  }

  private addTimingRow(t: StepTiming): void {
    const tr = document.createElement('tr');
    const cells = [
      String(t.index + 1),
      String(t.timestep),
      fmtMs(t.ms),
      fmtMs(t.unetMs),
      fmtMs(Math.max(0, t.ms - t.unetMs)),
      t.preview === null ? '-' : `${fmtMs(t.previewMs)} (${t.preview === 'vae' ? 'VAE' : 'fitted map'})`,
    ];
    for (const text of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    this.el<HTMLTableElement>('gen-timing').tBodies[0].append(tr);
    const steps = this.state.steps;
    const mean = steps.reduce((a, x) => a + x.ms, 0) / steps.length;
    const unet = steps.reduce((a, x) => a + x.unetMs, 0) / steps.length;
    this.el('gen-timing-summary').textContent =
      `(mean ${fmtMs(mean)} per step, ${((100 * unet) / mean).toFixed(1)}% in the UNet)`;
  }

  private finishedCaption(image: PipelineImage, options: GenerateOptions): void {
    const s = this.state;
    const t = s.timing!;
    this.el('gen-image-caption').textContent =
      `${image.width} x ${image.height}, ${s.steps.length} steps${options.image ? ` (strength ${options.strength})` : ''}, ` +
      `guidance ${options.guidanceScale}, seed ${this.el<HTMLInputElement>('gen-seed').value.trim()}; ` +
      `${fmtMs(t.totalMs)} in all: prompt${options.image ? ' and VAE encoder' : ''} ${fmtMs(t.setupMs)}, ` +
      `steps ${fmtMs(s.steps.reduce((a, x) => a + x.ms, 0))}, x0 previews ${fmtMs(s.steps.reduce((a, x) => a + x.previewMs, 0))}, VAE decoder ${fmtMs(t.decodeMs)}.`;
  }
}
