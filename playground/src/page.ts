/**
 * The playground page's core: a config form, schedule charts, the timesteps table and warnings, all
 * recomputed on every edit with the `ddim` package (its browser entry). The page's state is on
 * `window.__playground` so tests (and curious users, from the console) can read what is drawn.
 */
import {
  DDIM_DEFAULTS,
  type DDIMConfig,
  DdimError,
  Generator,
  resolveDDIMConfig,
  toDiffusersJsonString,
} from 'ddim';
import { type ChartSpec, drawChart } from './chart.js';
import {
  buildConfigForm,
  FormError,
  readConfigForm,
  showFieldError,
  writeConfigForm,
} from './config-form.js';
import {
  DEFAULT_OPTIONS,
  type PageSchedulerOptions,
  type ScheduleView,
  type StepRow,
  scheduleView,
} from './schedule-view.js';
import { type ConfigWarning, configWarnings } from './warnings.js';

export interface ChartState {
  series: Record<string, { x: number[]; y: number[] }>;
}

export interface PlaygroundState {
  /** Increases on every recomputation: wait for it to change after an edit. */
  revision: number;
  ready: boolean;
  /** The last input error (config field, steps or eta), or null when the page shows the input. */
  error: { field: string; message: string } | null;
  config: Readonly<DDIMConfig> | null;
  /** The scheduler options (previousTimestepRule, clampZeroTerminalSnr). */
  options: Readonly<PageSchedulerOptions>;
  /** The library's refusal to step this schedule (zero SNR + epsilon), or null. */
  stepError: string | null;
  steps: number;
  eta: number;
  seed: string;
  timesteps: number[];
  rows: StepRow[];
  charts: Record<string, ChartState>;
  warnings: ConfigWarning[];
  /** Keys of the last loaded config that DDIMScheduler does not use (diffusers' warning). */
  unusedKeys: string[];
  /** Where the current config came from ('defaults', a preset, a file name, a URL). */
  loadedFrom: string;
  /** A URL / Hub load is in flight. */
  loading: boolean;
  /** The message of the last failed URL / Hub load (cleared by a successful load). */
  loadError: string | null;
}

declare global {
  interface Window {
    /** The page's state; main.ts adds the sampling panels' state (`sampling`, `images`). */
    __playground: PlaygroundState;
  }
}

const state: PlaygroundState = {
  revision: 0,
  ready: false,
  error: null,
  config: null,
  options: DEFAULT_OPTIONS,
  stepError: null,
  steps: 50,
  eta: 0,
  seed: '0',
  timesteps: [],
  rows: [],
  charts: {},
  warnings: [],
  unusedKeys: [],
  loadedFrom: 'diffusers defaults',
  loading: false,
  loadError: null,
};
window.__playground = state;

const listeners: ((view: ScheduleView) => void)[] = [];

/** Called with every new schedule (the sampling panels re-run on it). */
export function onSchedule(listener: (view: ScheduleView) => void): void {
  listeners.push(listener);
}

export function currentState(): PlaygroundState {
  return state;
}

/** The element with `id`, which index.html must have. */
export const $ = <T extends HTMLElement>(id: string): T => {
  const node = document.getElementById(id);
  if (node === null) throw new Error(`#${id} is missing from index.html`);
  return node as T;
};

function fmt(v: number): string {
  if (v === Number.NEGATIVE_INFINITY) return '-inf';
  if (v === 0) return '0';
  return Math.abs(v) < 1e-3 ? v.toExponential(4) : v.toPrecision(6);
}

function chartSpecs(view: ScheduleView): ChartSpec[] {
  const T = view.numTrainTimesteps;
  const trainT = Array.from({ length: T }, (_, i) => i);
  const idx = view.rows.map((r) => r.index);
  const ts = view.rows.map((r) => r.t);
  return [
    {
      id: 'alphaBar',
      title: 'alpha_bar(t) (ᾱ, signal fraction)',
      xLabel: 'training timestep t',
      yLabel: 'alpha_bar',
      yRange: [0, 1],
      series: [
        { name: 'alpha_bar', kind: 'line', x: trainT, y: view.alphaBar, color: '#2f6fde' },
        { name: 'chosen', kind: 'points', x: ts, y: view.rows.map((r) => r.alphaBar), color: '#e0572f' },
      ],
    },
    {
      id: 'logSnr',
      title: 'log-SNR(t) = log(ᾱ / (1 - ᾱ))',
      xLabel: 'training timestep t',
      yLabel: 'log-SNR',
      series: [
        { name: 'log-SNR', kind: 'line', x: trainT, y: view.logSnr, color: '#2f6fde' },
        { name: 'chosen', kind: 'points', x: ts, y: view.rows.map((r) => r.logSnr), color: '#e0572f' },
      ],
    },
    {
      id: 'timesteps',
      title: `timesteps (${view.config.timestep_spacing}, n = ${view.steps}; prev: ${
        view.options.previousTimestepRule === 'stride' ? 't - T//n' : 'next scheduled'
      })`,
      xLabel: 'step',
      yLabel: 't',
      yRange: [-1, T - 1],
      series: [
        { name: 't', kind: 'points', x: idx, y: ts, color: '#2f6fde' },
        {
          name: 'prev',
          kind: 'points',
          x: idx,
          y: view.rows.map((r) => r.prev),
          color: '#e0a630',
        },
      ],
    },
    {
      id: 'sigma',
      title: `sigma_t (DDIM eq. 16, eta = ${view.eta})`,
      xLabel: 'step',
      yLabel: 'sigma_t',
      series: [
        { name: 'sigma_t', kind: 'points', x: idx, y: view.rows.map((r) => r.sigma), color: '#7b4fd0' },
      ],
    },
  ];
}

const CHART_ELEMENTS: Record<string, string> = {
  alphaBar: 'chart-alpha-bar',
  logSnr: 'chart-log-snr',
  timesteps: 'chart-timesteps',
  sigma: 'chart-sigma',
};

function renderCharts(view: ScheduleView): void {
  const charts: Record<string, ChartState> = {};
  for (const spec of chartSpecs(view)) {
    drawChart($<HTMLElement>(CHART_ELEMENTS[spec.id]) as unknown as SVGSVGElement, spec);
    const series: ChartState['series'] = {};
    for (const s of spec.series) series[s.name] = { x: [...s.x], y: [...s.y] };
    charts[spec.id] = { series };
  }
  state.charts = charts;
}

/** Rows drawn at each end of a longer timesteps table (a table of 10^5 rows would stall the page). */
const TABLE_EDGE_ROWS = 1000;

function renderTable(view: ScheduleView): void {
  const body = $<HTMLTableElement>('timesteps-table').tBodies[0];
  const long = view.rows.length > 2 * TABLE_EDGE_ROWS;
  const shown = long
    ? [...view.rows.slice(0, TABLE_EDGE_ROWS), ...view.rows.slice(-TABLE_EDGE_ROWS)]
    : view.rows;
  const rows = shown.map((r) => {
    const tr = document.createElement('tr');
    const off = r.index + 1 < view.rows.length && r.prev !== r.nextScheduled;
    tr.className = off ? 'off-schedule' : '';
    tr.dataset.t = String(r.t);
    const cells: [string, string][] = [
      ['index', String(r.index)],
      ['t', String(r.t)],
      ['prev', String(r.prev)],
      ['next', String(r.nextScheduled)],
      ['ab', fmt(r.alphaBar)],
      ['ab-prev', fmt(r.alphaBarPrev)],
      ['log-snr', fmt(r.logSnr)],
      ['sigma', fmt(r.sigma)],
    ];
    for (const [cls, text] of cells) {
      const td = document.createElement('td');
      td.className = cls;
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  if (long) {
    const gap = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = 8;
    td.className = 'gap';
    td.textContent = `... ${view.rows.length - 2 * TABLE_EDGE_ROWS} more steps (all of them are on window.__playground.rows) ...`;
    gap.append(td);
    rows.splice(TABLE_EDGE_ROWS, 0, gap);
  }
  body.replaceChildren(...rows);
  $('timesteps-summary').textContent =
    `${view.steps} steps of ${view.numTrainTimesteps}; final alpha_bar ${fmt(view.finalAlphaCumprod)}`;
}

function renderWarnings(warnings: ConfigWarning[]): void {
  const list = $('warnings');
  const items = warnings.map((w) => {
    const li = document.createElement('li');
    li.className = w.level;
    li.dataset.warning = w.id;
    li.textContent = w.message;
    return li;
  });
  if (items.length === 0) {
    const li = document.createElement('li');
    li.className = 'ok';
    li.textContent = 'No risky settings found in this config.';
    items.push(li);
  }
  list.replaceChildren(...items);
}

function renderConfigOut(config: Readonly<DDIMConfig>): void {
  // Byte for byte what diffusers' save_config writes (sorted keys, Python float reprs).
  $('config-out').textContent = toDiffusersJsonString({ _class_name: 'DDIMScheduler', ...config });
}

function downloadConfig(): void {
  const link = document.createElement('a');
  link.download = 'scheduler_config.json';
  link.href = URL.createObjectURL(
    new Blob([$('config-out').textContent ?? ''], { type: 'application/json' }),
  );
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 0);
}

function showError(field: string, message: string): void {
  state.error = { field, message };
  showFieldError(field, message);
  const runFields: [string, string][] = [
    ['steps', 'numInferenceSteps'],
    ['eta', 'eta'],
    ['seed', 'seed'],
  ];
  for (const [id, name] of runFields)
    $(id)
      .closest('.field')!
      .classList.toggle('invalid', field === name);
  const box = $('config-error');
  box.hidden = false;
  box.textContent = message;
  document.body.classList.add('has-error');
}

function clearError(): void {
  state.error = null;
  showFieldError(null, '');
  $('steps').closest('.field')!.classList.remove('invalid');
  $('eta').closest('.field')!.classList.remove('invalid');
  $('seed').closest('.field')!.classList.remove('invalid');
  const box = $('config-error');
  box.hidden = true;
  box.textContent = '';
  document.body.classList.remove('has-error');
}

function readOptions(): PageSchedulerOptions {
  return {
    previousTimestepRule: $<HTMLSelectElement>('opt-previousTimestepRule')
      .value as PageSchedulerOptions['previousTimestepRule'],
    clampZeroTerminalSnr: $<HTMLInputElement>('opt-clampZeroTerminalSnr').checked,
  };
}

function readRunSettings(): { steps: number; eta: number; seed: string } {
  const stepsText = $<HTMLInputElement>('steps').value.trim();
  const etaText = $<HTMLInputElement>('eta').value.trim();
  const eta = Number(etaText);
  if (etaText === '' || !Number.isFinite(eta) || eta < 0) {
    throw new FormError('eta', `eta must be a finite number >= 0 (got ${JSON.stringify(etaText)}).`);
  }
  const seed = $<HTMLInputElement>('seed').value.trim();
  new Generator().manualSeed(seed); // an ArgumentError naming the seed, shown at the field
  return { steps: stepsText === '' ? Number.NaN : Number(stepsText), eta, seed };
}

/** Recompute everything from the form. */
export function update(): void {
  state.revision++;
  let view: ScheduleView;
  try {
    const raw = readConfigForm();
    const { steps, eta, seed } = readRunSettings();
    const { config } = resolveDDIMConfig(raw, undefined, { onWarning: () => {} });
    view = scheduleView(config, steps, eta, readOptions());
    state.steps = steps;
    state.eta = eta;
    state.seed = seed;
  } catch (error) {
    if (error instanceof DdimError || error instanceof FormError) {
      showError(error.field, error.message);
      return;
    }
    throw error;
  }
  clearError();
  state.config = view.config;
  state.options = view.options;
  state.stepError = view.stepError;
  state.timesteps = view.timesteps;
  state.rows = view.rows;
  state.warnings = configWarnings(view);
  renderCharts(view);
  renderTable(view);
  renderWarnings(state.warnings);
  renderConfigOut(view.config);
  for (const listener of listeners) listener(view);
}

/**
 * Build the form, wire the inputs, and draw the first schedule. `beforeFirstUpdate` adds the
 * config sources (loading.ts) and may set inputs from the query string first.
 */
export function start(beforeFirstUpdate: () => void): void {
  buildConfigForm($('config-form'));
  writeConfigForm(DDIM_DEFAULTS);
  $('config-form').addEventListener('input', update);
  $('run-form').addEventListener('input', update);
  $('options-form').addEventListener('input', update);
  $('download-config').addEventListener('click', downloadConfig);
  beforeFirstUpdate();
  update();
  state.ready = true;
}
