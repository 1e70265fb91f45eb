/**
 * Where configs come from: presets, a chosen or dropped file, pasted JSON, a URL or Hub repo id
 * (the core's fetch-based loader), and the page's query string. Every source goes through
 * `resolveDDIMConfig`, so a config is read exactly as `DDIMScheduler.fromConfig` reads it.
 */
import { type DDIMConfig, DdimError, loadSchedulerConfig, resolveDDIMConfig, SCHEDULER_PRESETS } from 'ddim';
import { writeConfigForm } from './config-form.js';
import { $, currentState, update } from './page.js';

const state = currentState();

/** Configs people actually use, as their scheduler_config.json files set them (the library's presets, and two more). */
const PRESETS: Record<string, Readonly<Partial<DDIMConfig>>> = {
  'diffusers defaults': SCHEDULER_PRESETS.ddim.config,
  'Stable Diffusion 1.5': SCHEDULER_PRESETS.sd.config,
  'SD 2.1 (v-prediction)': { ...SCHEDULER_PRESETS.sd.config, prediction_type: 'v_prediction' },
  'zero SNR + trailing (Lin et al.)': SCHEDULER_PRESETS['sd-zero-snr'].config,
  'cosine (improved DDPM)': { beta_schedule: 'squaredcos_cap_v2' },
};

/**
 * Apply a parsed scheduler_config.json (of any diffusers scheduler class) the way
 * DDIMScheduler.fromConfig reads it: unknown keys are reported and ignored.
 */
export function applyConfig(json: unknown, from: string): void {
  let unused: string[];
  let config: Readonly<DDIMConfig>;
  try {
    ({ config, unusedKeys: unused } = resolveDDIMConfig(json, undefined, { onWarning: () => {} }));
  } catch (error) {
    loadFailed(`Could not use the config from ${from}: ${(error as Error).message}`);
    throw error;
  }
  writeConfigForm(config);
  state.loadError = null;
  state.unusedKeys = unused;
  state.loadedFrom = from;
  loadStatus(
    `Loaded ${from}.` +
      (unused.length > 0 ? ` Ignored keys DDIMScheduler does not use: ${unused.join(', ')}.` : ''),
    false,
  );
  update();
}

function loadStatus(text: string, failed: boolean): void {
  const status = $('load-status');
  status.className = failed ? 'status failed' : 'status';
  status.textContent = text;
}

function loadFailed(message: string): void {
  state.loadError = message;
  loadStatus(message, true);
}

/** Parse and apply config text (a dropped or chosen file, or pasted JSON). */
export function applyConfigText(text: string, from: string): void {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    loadFailed(`${from} is not valid JSON: ${(error as Error).message}`);
    return;
  }
  try {
    applyConfig(json, from);
  } catch (error) {
    if (!(error instanceof DdimError)) throw error;
  }
}

function setupPresets(): void {
  const box = $('presets');
  for (const [name, preset] of Object.entries(PRESETS)) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = name;
    button.dataset.preset = name;
    button.addEventListener('click', () => applyConfig(preset, `preset "${name}"`));
    box.append(button);
  }
}

async function readFile(file: File): Promise<void> {
  applyConfigText(await file.text(), `file ${file.name}`);
}

function setupLoading(): void {
  const input = $<HTMLInputElement>('config-file');
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file) void readFile(file);
    input.value = '';
  });
  // Drop anywhere on the page; the drop zone only highlights.
  document.addEventListener('dragover', (event) => {
    event.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', (event) => {
    if (event.relatedTarget === null) document.body.classList.remove('dragging');
  });
  document.addEventListener('drop', (event) => {
    event.preventDefault();
    document.body.classList.remove('dragging');
    const file = event.dataTransfer?.files[0];
    if (file) void readFile(file);
  });
  $('apply-json').addEventListener('click', () =>
    applyConfigText($<HTMLTextAreaElement>('config-json').value, 'pasted JSON'),
  );
}

/**
 * Load a scheduler_config.json by URL or Hub repo id with the library's fetch-based loader (the
 * same one `DDIMScheduler.fromPretrained` uses in a browser).
 */
export async function loadRemote(
  source: string,
  options: { subfolder?: string; revision?: string; endpoint?: string },
): Promise<void> {
  state.loading = true;
  state.loadError = null;
  loadStatus(`Loading ${source} ...`, false);
  try {
    const loaded = await loadSchedulerConfig(source.trim(), {
      subfolder: options.subfolder?.trim() || undefined,
      revision: options.revision?.trim() || undefined,
      endpoint: options.endpoint?.trim() || undefined,
      onWarning: () => {},
    });
    applyConfig(
      loaded.config,
      loaded.resolvedFrom + (loaded.commit ? ` (commit ${loaded.commit.slice(0, 10)})` : ''),
    );
  } catch (error) {
    if (!(error instanceof DdimError)) throw error;
    // A ConfigError from applyConfig has already been reported with its source.
    if (state.loadError === null) loadFailed(`Could not load ${source}: ${error.message}`);
  } finally {
    state.loading = false;
  }
}

function setupRemote(): void {
  const form = $<HTMLFormElement>('remote-form');
  const value = (id: string) => $<HTMLInputElement>(id).value;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void loadRemote(value('remote-source'), {
      subfolder: value('remote-subfolder'),
      revision: value('remote-revision'),
      endpoint: value('remote-endpoint'),
    });
  });
}

/**
 * Settings from the page's query string, so a link can open a given config:
 * ?config=<URL or Hub id>&subfolder=scheduler&revision=main&steps=25&eta=0.5&seed=42
 * (and previousTimestepRule=schedule, clampZeroTerminalSnr=true).
 */
export function applyQuery(): void {
  const q = new URLSearchParams(window.location.search);
  for (const key of ['steps', 'eta', 'seed'] as const) {
    const v = q.get(key);
    if (v !== null) $<HTMLInputElement>(key).value = v;
  }
  const rule = q.get('previousTimestepRule');
  if (rule !== null) $<HTMLSelectElement>('opt-previousTimestepRule').value = rule;
  if (q.get('clampZeroTerminalSnr') === 'true')
    $<HTMLInputElement>('opt-clampZeroTerminalSnr').checked = true;
  for (const key of ['subfolder', 'revision', 'endpoint'] as const) {
    const v = q.get(key);
    if (v !== null) $<HTMLInputElement>(`remote-${key}`).value = v;
  }
  const source = q.get('config');
  if (source !== null) {
    $<HTMLInputElement>('remote-source').value = source;
    void loadRemote(source, {
      subfolder: $<HTMLInputElement>('remote-subfolder').value,
      revision: $<HTMLInputElement>('remote-revision').value,
      endpoint: $<HTMLInputElement>('remote-endpoint').value,
    });
  }
}

/** Presets, file input, drop, paste and URL / Hub loading. */
export function setupConfigSources(): void {
  setupPresets();
  setupLoading();
  setupRemote();
}
