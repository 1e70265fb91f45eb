/**
 * The form for the 15 DDIMScheduler config fields. It reads raw values (what the user typed) and
 * leaves all checking to the library's resolveDDIMConfig, so the page shows the library's own
 * errors — the same ones a user of the package gets.
 */
import { BETA_SCHEDULES, type DDIMConfig, PREDICTION_TYPES, TIMESTEP_SPACINGS } from 'ddim';

type FieldKind = 'int' | 'number' | 'boolean' | 'enum' | 'betas';

interface FieldInfo {
  name: keyof DDIMConfig;
  kind: FieldKind;
  values?: readonly string[];
  help: string;
}

export const FIELDS: readonly FieldInfo[] = [
  {
    name: 'num_train_timesteps',
    kind: 'int',
    help: 'Number of noise levels the model was trained with (T).',
  },
  { name: 'beta_start', kind: 'number', help: 'First beta of the linear / scaled_linear schedule.' },
  { name: 'beta_end', kind: 'number', help: 'Last beta of the linear / scaled_linear schedule.' },
  {
    name: 'beta_schedule',
    kind: 'enum',
    values: BETA_SCHEDULES,
    help: 'linear (DDPM), scaled_linear (latent diffusion: linear in sqrt(beta)), squaredcos_cap_v2 (cosine).',
  },
  {
    name: 'trained_betas',
    kind: 'betas',
    help: 'A JSON array of T betas overriding beta_schedule; empty means null.',
  },
  {
    name: 'clip_sample',
    kind: 'boolean',
    help: 'Clip the predicted x0 to [-clip_sample_range, clip_sample_range].',
  },
  {
    name: 'set_alpha_to_one',
    kind: 'boolean',
    help: 'alpha_bar after the last step: 1 when true, else alpha_bar at t = 0.',
  },
  {
    name: 'steps_offset',
    kind: 'int',
    help: 'Added to every timestep with leading spacing (Stable Diffusion: 1).',
  },
  {
    name: 'prediction_type',
    kind: 'enum',
    values: PREDICTION_TYPES,
    help: 'What the model predicts: the noise, x0, or v (Salimans & Ho 2022).',
  },
  { name: 'thresholding', kind: 'boolean', help: 'Imagen dynamic thresholding of the predicted x0.' },
  { name: 'dynamic_thresholding_ratio', kind: 'number', help: 'Quantile of |x0| used as the threshold.' },
  { name: 'clip_sample_range', kind: 'number', help: 'Bound for clip_sample.' },
  { name: 'sample_max_value', kind: 'number', help: 'Largest threshold dynamic thresholding may use.' },
  {
    name: 'timestep_spacing',
    kind: 'enum',
    values: TIMESTEP_SPACINGS,
    help: 'How inference timesteps are picked from 0..T-1 (Lin et al. 2023, Table 2).',
  },
  {
    name: 'rescale_betas_zero_snr',
    kind: 'boolean',
    help: 'Rescale betas so the last alpha_bar is exactly 0 (zero terminal SNR).',
  },
];

/** Thrown for a trained_betas text that is not JSON (the library checks the parsed value). */
export class FormError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export function fieldId(name: string): string {
  return `field-${name}`;
}

export function buildConfigForm(container: HTMLElement): void {
  container.replaceChildren();
  for (const f of FIELDS) {
    const row = document.createElement('div');
    row.className = `field field-${f.kind}`;
    row.dataset.field = f.name;
    const label = document.createElement('label');
    label.htmlFor = fieldId(f.name);
    label.textContent = f.name;
    label.title = f.help;
    let input: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
    if (f.kind === 'enum') {
      const select = document.createElement('select');
      for (const v of f.values!) select.add(new Option(v, v));
      input = select;
    } else if (f.kind === 'betas') {
      const area = document.createElement('textarea');
      area.rows = 2;
      area.placeholder = 'null (use beta_schedule)';
      input = area;
    } else {
      const box = document.createElement('input');
      if (f.kind === 'boolean') box.type = 'checkbox';
      else {
        box.type = 'number';
        box.step = f.kind === 'int' ? '1' : 'any';
      }
      input = box;
    }
    input.id = fieldId(f.name);
    input.name = f.name;
    input.title = f.help;
    const message = document.createElement('div');
    message.className = 'field-error';
    message.id = `${fieldId(f.name)}-error`;
    if (f.kind === 'boolean') {
      row.append(input, label, message);
    } else {
      row.append(label, input, message);
    }
    container.append(row);
  }
}

function inputOf(name: string): HTMLInputElement & HTMLSelectElement & HTMLTextAreaElement {
  const node = document.getElementById(fieldId(name));
  if (node === null) throw new Error(`config form field ${name} is missing`);
  return node as HTMLInputElement & HTMLSelectElement & HTMLTextAreaElement;
}

/** The raw config the form holds; numbers that do not parse stay strings so the library names them. */
export function readConfigForm(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of FIELDS) {
    const input = inputOf(f.name);
    switch (f.kind) {
      case 'boolean':
        out[f.name] = input.checked;
        break;
      case 'enum':
        out[f.name] = input.value;
        break;
      case 'betas': {
        const text = input.value.trim();
        if (text === '' || text === 'null') {
          out[f.name] = null;
          break;
        }
        try {
          out[f.name] = JSON.parse(text);
        } catch (error) {
          throw new FormError(f.name, `trained_betas is not valid JSON: ${(error as Error).message}`);
        }
        break;
      }
      default: {
        const text = input.value.trim();
        const value = Number(text);
        out[f.name] = text !== '' && Number.isFinite(value) ? value : text;
      }
    }
  }
  return out;
}

/** Show a resolved config in the form. */
export function writeConfigForm(config: Readonly<DDIMConfig>): void {
  for (const f of FIELDS) {
    const input = inputOf(f.name);
    const value = config[f.name];
    if (f.kind === 'boolean') input.checked = value === true;
    else if (f.kind === 'betas') input.value = value === null ? '' : JSON.stringify(value);
    else input.value = String(value);
  }
}

/** Mark the field an error is about (or clear every mark with null). */
export function showFieldError(field: string | null, message: string): void {
  for (const f of FIELDS) {
    const row = inputOf(f.name).closest('.field') as HTMLElement;
    const hit = field !== null && (field === f.name || field.startsWith(`${f.name}[`));
    row.classList.toggle('invalid', hit);
    const box = document.getElementById(`${fieldId(f.name)}-error`)!;
    box.textContent = hit ? message : '';
  }
}
