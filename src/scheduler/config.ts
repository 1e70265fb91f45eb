/**
 * Scheduler configs: diffusers' `scheduler_config.json` keys (snake_case, exactly as diffusers
 * writes them), their defaults, and validation.
 *
 * `fromConfig` in diffusers accepts the config of any scheduler (PNDM's, Euler's, ...): keys the
 * target class does not take are ignored with one warning. We do the same, through an `onWarning`
 * callback (console.warn by default). Keys starting with `_` (`_class_name`, `_diffusers_version`,
 * `_use_default_values`, ...) are metadata and ignored silently, as diffusers does.
 */
import { ConfigError, defaultWarningHandler, describeValue, type WarningHandler } from '../errors.js';
import { assertNoForbiddenKeys, guarded, isPlainObject, unreadable } from '../guard.js';
import { assertNever } from '../tensor/dtype.js';
import { PREDICTION_TYPES, type PredictionType } from './prediction.js';
import { BETA_SCHEDULES, type BetaSchedule, MAX_TRAIN_TIMESTEPS } from './schedule.js';
import {
  INVERSE_TIMESTEP_SPACINGS,
  type InverseTimestepSpacing,
  TIMESTEP_SPACINGS,
  type TimestepSpacing,
} from './timesteps.js';

/** The 15 fields of diffusers' `DDIMScheduler.__init__`, with diffusers' names. */
export interface DDIMConfig {
  /** T, the number of diffusion steps the model was trained with (default 1000). */
  num_train_timesteps: number;
  /** The first beta of a `linear` or `scaled_linear` schedule (default 0.0001). */
  beta_start: number;
  /** The last beta of a `linear` or `scaled_linear` schedule (default 0.02). */
  beta_end: number;
  /** The shape of the beta schedule (default `linear`). */
  beta_schedule: BetaSchedule;
  /** The T betas themselves, used instead of beta_start, beta_end and beta_schedule (default null). */
  trained_betas: readonly number[] | null;
  /** Clip the predicted x0 to [-clip_sample_range, clip_sample_range] (default true). */
  clip_sample: boolean;
  /**
   * alpha_bar before timestep 0 (where sampling ends and inversion starts): 1 (true, the default)
   * or alpha_bar of timestep 0 (false, as in Stable Diffusion's config).
   */
  set_alpha_to_one: boolean;
  /** Added to every `leading` timestep (default 0; Stable Diffusion's config has 1). */
  steps_offset: number;
  /** What the model predicts (default `epsilon`). */
  prediction_type: PredictionType;
  /**
   * Dynamic thresholding (Imagen): per sample, clamp x0 to the dynamic_thresholding_ratio
   * quantile s of |x0| (s clamped to [1, sample_max_value]) and divide by s. Takes precedence
   * over clip_sample. For pixel-space models only (default false).
   */
  thresholding: boolean;
  /** The quantile of |x0| that thresholding clamps to (default 0.995). */
  dynamic_thresholding_ratio: number;
  /** The bound of clip_sample (default 1). */
  clip_sample_range: number;
  /** The largest threshold thresholding uses (default 1). */
  sample_max_value: number;
  /** How the inference timesteps are picked (default `leading`). */
  timestep_spacing: TimestepSpacing;
  /**
   * Rescale the betas to zero terminal SNR (Lin et al., algorithm 1), so that the last training
   * timestep is pure noise; meant for v_prediction models (default false).
   */
  rescale_betas_zero_snr: boolean;
}

/** The 12 fields of diffusers' `DDIMInverseScheduler.__init__` (no thresholding; no linspace). */
export type DDIMInverseConfig = Omit<
  DDIMConfig,
  'thresholding' | 'dynamic_thresholding_ratio' | 'sample_max_value' | 'timestep_spacing'
> & {
  /** How the inference timesteps are picked (default `leading`; no `linspace` here). */
  timestep_spacing: InverseTimestepSpacing;
};

/** diffusers' defaults for `DDIMScheduler` (scheduling_ddim.py). */
export const DDIM_DEFAULTS: Readonly<DDIMConfig> = Object.freeze({
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  clip_sample: true,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  clip_sample_range: 1.0,
  sample_max_value: 1.0,
  timestep_spacing: 'leading',
  rescale_betas_zero_snr: false,
});

// The inverse scheduler has no thresholding; the fields it shares have the same defaults in
// diffusers (scheduling_ddim_inverse.py), and "leading" is one of its two spacings.
const {
  thresholding: _thresholding,
  dynamic_thresholding_ratio: _ratio,
  sample_max_value: _maxValue,
  ...SHARED_DEFAULTS
} = DDIM_DEFAULTS;

/** diffusers' defaults for `DDIMInverseScheduler`: DDIMScheduler's, without the thresholding fields. */
export const DDIM_INVERSE_DEFAULTS: Readonly<DDIMInverseConfig> = Object.freeze({
  ...SHARED_DEFAULTS,
  timestep_spacing: 'leading',
});

/** Options of reading a config. */
export interface ConfigOptions {
  /** Called once with a message listing config keys the scheduler does not use. Default: console.warn. */
  onWarning?: WarningHandler;
}

type FieldKind = 'int' | 'number' | 'boolean' | 'enum' | 'betas';

interface FieldSpec {
  kind: FieldKind;
  values?: readonly string[];
}

const DDIM_FIELDS: Record<keyof DDIMConfig, FieldSpec> = {
  num_train_timesteps: { kind: 'int' },
  beta_start: { kind: 'number' },
  beta_end: { kind: 'number' },
  beta_schedule: { kind: 'enum', values: BETA_SCHEDULES },
  trained_betas: { kind: 'betas' },
  clip_sample: { kind: 'boolean' },
  set_alpha_to_one: { kind: 'boolean' },
  steps_offset: { kind: 'int' },
  prediction_type: { kind: 'enum', values: PREDICTION_TYPES },
  thresholding: { kind: 'boolean' },
  dynamic_thresholding_ratio: { kind: 'number' },
  clip_sample_range: { kind: 'number' },
  sample_max_value: { kind: 'number' },
  timestep_spacing: { kind: 'enum', values: TIMESTEP_SPACINGS },
  rescale_betas_zero_snr: { kind: 'boolean' },
};

/**
 * Check one field. `name` is the field; `label` the key the caller wrote it as (a deprecated
 * alias such as the inverse scheduler's `set_alpha_to_zero`), which errors name.
 */
function checkField(name: string, spec: FieldSpec, value: unknown, label = name): unknown {
  const alias =
    label === name ? '' : ` (${label} is diffusers' deprecated name for ${name}; prefer ${name}.)`;
  switch (spec.kind) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        throw new ConfigError({
          field: label,
          value,
          problem: 'must be an integer',
          fix: `set ${label} to a whole number, e.g. ${DDIM_DEFAULTS[name as keyof DDIMConfig]}.${alias}`,
        });
      }
      return value;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new ConfigError({
          field: label,
          value,
          problem: 'must be a finite number',
          fix: `set ${label} to a number, e.g. ${DDIM_DEFAULTS[name as keyof DDIMConfig]}.${alias}`,
        });
      }
      return value;
    case 'boolean':
      if (typeof value !== 'boolean') {
        throw new ConfigError({
          field: label,
          value,
          problem: 'must be true or false',
          fix: `set ${label} to a JSON boolean (not a string or number).${alias}`,
        });
      }
      return value;
    case 'enum':
      if (typeof value !== 'string' || !spec.values!.includes(value)) {
        throw new ConfigError({
          field: label,
          value,
          problem: `must be one of ${spec.values!.map((v) => `"${v}"`).join(', ')}`,
          fix: `set ${label} to one of those values.${alias}`,
        });
      }
      return value;
    case 'betas': {
      if (value === null) return null;
      const arrayLike =
        Array.isArray(value) || value instanceof Float32Array || value instanceof Float64Array;
      if (!arrayLike) {
        throw new ConfigError({
          field: label,
          value,
          problem: 'must be null or an array of numbers',
          fix: 'pass the betas as a JSON array, or null to use beta_schedule.',
        });
      }
      // Length first: a 10^9-entry (or sparse) array is refused before it is copied or walked.
      const length = (value as ArrayLike<unknown>).length;
      if (length < 1 || length > MAX_TRAIN_TIMESTEPS) {
        throw new ConfigError({
          field: label,
          value,
          problem: `must have between 1 and ${MAX_TRAIN_TIMESTEPS} entries (one per training timestep)`,
          fix: 'pass one beta per training timestep, or null to use beta_schedule.',
        });
      }
      const betas = Array.from(value as ArrayLike<unknown>);
      for (let i = 0; i < betas.length; i++) {
        const b = betas[i];
        // Each beta is a per-step noise variance: it must lie strictly inside (0, 1), or
        // alpha_t = 1 - beta_t reaches 0 or 1 and the DDIM coefficients divide by zero.
        if (typeof b !== 'number' || !(b > 0 && b < 1)) {
          throw new ConfigError({
            field: `${label}[${i}]`,
            value: b,
            problem: 'must be a number strictly between 0 and 1',
            fix: 'pass betas in (0, 1), one per training timestep.',
          });
        }
      }
      return Object.freeze(betas as number[]);
    }
    default:
      return assertNever(spec.kind, 'config field kind');
  }
}

/** Range checks that involve more than one field, or ranges beyond the type. */
function checkRanges(c: DDIMConfig, fields: ReadonlySet<string>): void {
  const T = c.num_train_timesteps;
  if (T < 1 || T > MAX_TRAIN_TIMESTEPS) {
    throw new ConfigError({
      field: 'num_train_timesteps',
      value: T,
      problem: `must be between 1 and ${MAX_TRAIN_TIMESTEPS}`,
      fix: 'use the number of timesteps the model was trained with (1000 for Stable Diffusion).',
    });
  }
  if (c.trained_betas !== null && c.trained_betas.length !== T) {
    throw new ConfigError({
      field: 'trained_betas',
      value: c.trained_betas,
      problem: `has ${c.trained_betas.length} entries but num_train_timesteps is ${T}`,
      fix: `pass exactly one beta per training timestep, or set num_train_timesteps to ${c.trained_betas.length}.`,
    });
  }
  if (c.trained_betas === null && c.beta_schedule !== 'squaredcos_cap_v2') {
    for (const key of ['beta_start', 'beta_end'] as const) {
      if (!(c[key] > 0 && c[key] < 1)) {
        throw new ConfigError({
          field: key,
          value: c[key],
          problem: 'must be strictly between 0 and 1',
          fix: 'use values such as beta_start 0.00085 and beta_end 0.012 (Stable Diffusion).',
        });
      }
    }
  }
  if (c.rescale_betas_zero_snr && T < 2) {
    // Lin et al.'s rescale maps sqrt(alpha_bar) so the first stays and the last becomes 0:
    // with one timestep they are the same value and the scale is 0 / 0.
    throw new ConfigError({
      field: 'rescale_betas_zero_snr',
      value: true,
      problem: `needs num_train_timesteps >= 2 (got ${T}): the rescale maps the first alpha_bar to itself and the last to 0`,
      fix: 'set rescale_betas_zero_snr to false, or use more training timesteps.',
    });
  }
  if (c.steps_offset < 0 || c.steps_offset >= T) {
    throw new ConfigError({
      field: 'steps_offset',
      value: c.steps_offset,
      problem: `must be between 0 and num_train_timesteps - 1 (${T - 1})`,
      fix: 'use 0, or 1 as Stable Diffusion configs do.',
    });
  }
  if (fields.has('clip_sample_range') && !(c.clip_sample_range > 0)) {
    throw new ConfigError({
      field: 'clip_sample_range',
      value: c.clip_sample_range,
      problem: 'must be greater than 0',
      fix: 'use a positive bound such as 1.0 (predicted x0 is clipped to [-range, range]).',
    });
  }
  if (
    fields.has('dynamic_thresholding_ratio') &&
    !(c.dynamic_thresholding_ratio > 0 && c.dynamic_thresholding_ratio <= 1)
  ) {
    throw new ConfigError({
      field: 'dynamic_thresholding_ratio',
      value: c.dynamic_thresholding_ratio,
      problem: 'must be in (0, 1]',
      fix: 'use a quantile such as 0.995 (Imagen).',
    });
  }
  if (fields.has('sample_max_value') && !(c.sample_max_value > 0)) {
    throw new ConfigError({
      field: 'sample_max_value',
      value: c.sample_max_value,
      problem: 'must be greater than 0',
      fix: 'use a positive bound such as 1.0.',
    });
  }
}

/** A config after {@link resolveDDIMConfig} or {@link resolveDDIMInverseConfig}. */
export interface ResolvedConfig<C> {
  /** Every field, defaults filled in, validated and frozen. */
  config: Readonly<C>;
  /** Keys present in the input that this scheduler does not use (already warned about). */
  unusedKeys: string[];
}

/**
 * Merge `input` (a parsed scheduler_config.json or a partial config object) and `overrides` over
 * `defaults`, validate every field, and warn once about keys the scheduler does not take.
 * `input` must be a plain object (`{}` for the defaults): null, undefined, arrays, strings and
 * numbers are ConfigErrors. `overrides` may be left out (undefined or null).
 */
/**
 * Configs this module resolved, by the class they were resolved for: a scheduler built from one
 * (`fromConfig` resolves, then constructs) takes it as it is instead of resolving it again, so a
 * config is validated, and its unused keys warned about, once on every path.
 */
const resolvedFor = new WeakMap<object, string>();

/** `config` if this module resolved it for `className` (frozen, complete, valid), else null. */
export function alreadyResolved<C extends object>(config: unknown, className: string): Readonly<C> | null {
  return config !== null && typeof config === 'object' && resolvedFor.get(config) === className
    ? (config as Readonly<C>)
    : null;
}

function resolve<C extends object>(
  className: string,
  defaults: Readonly<C>,
  fieldSpecs: Partial<Record<string, FieldSpec>>,
  input: unknown,
  overrides: unknown,
  options: ConfigOptions | undefined,
  aliases: Readonly<Record<string, string>> = {},
  compatible: ReadonlySet<string> = new Set(),
): ResolvedConfig<C> {
  const merged: Record<string, unknown> = Object.create(null);
  // The key each merged field was written as, when that was an alias: errors name what the user wrote.
  const writtenAs: Record<string, string> = Object.create(null);
  const unusedKeys = new Set<string>();
  const sources: [string, unknown][] = [
    ['config', input],
    ['overrides', overrides],
  ];
  for (const [label, source] of sources) {
    // Every read of the caller's object happens here, once; a Proxy or getter that throws is a
    // ConfigError naming the source, and nothing below touches the caller's object again.
    guarded(
      () =>
        copyFields(
          label,
          source,
          fieldSpecs,
          label === 'config' ? aliases : {},
          merged,
          writtenAs,
          unusedKeys,
          label === 'config' ? compatible : NONE,
        ),
      unreadable(ConfigError, label, 'pass plain data, e.g. JSON.parse of scheduler_config.json.'),
    );
  }
  const config = { ...defaults } as Record<string, unknown>;
  for (const key of Object.keys(merged)) {
    // trained_betas may still be the caller's array (or a Proxy of one): guard its reading too.
    const label = writtenAs[key] ?? key;
    config[key] = guarded(
      () => checkField(key, fieldSpecs[key]!, merged[key], label),
      unreadable(ConfigError, label, 'pass plain data, e.g. a JSON array of numbers.'),
    );
  }
  checkRanges(config as unknown as DDIMConfig, new Set(Object.keys(fieldSpecs)));
  const unused = [...unusedKeys];
  if (unused.length > 0) {
    const onWarning = options?.onWarning ?? defaultWarningHandler;
    // At most 20 names: a hostile config with 10^5 junk keys must not make a 10^5-name message.
    const names = unused.slice(0, 20).map((k) => describeValue(k));
    if (unused.length > 20) names.push(`and ${unused.length - 20} more`);
    onWarning(
      `The config attributes ${names.join(', ')} were passed to ${className}, ` +
        'but are not used by it and will be ignored.',
    );
  }
  const frozen = Object.freeze(config);
  resolvedFor.set(frozen, className);
  return { config: frozen as unknown as Readonly<C>, unusedKeys: unused };
}

function copyFields(
  label: string,
  source: unknown,
  fieldSpecs: Partial<Record<string, FieldSpec>>,
  aliases: Readonly<Record<string, string>>,
  merged: Record<string, unknown>,
  writtenAs: Record<string, string>,
  unused: Set<string>,
  compatible: ReadonlySet<string>,
): void {
  // The config itself is required: diffusers' from_config(None) raises, and a JSON file holding
  // `null` is a broken file, not a request for the defaults ({} is). Overrides are optional, and
  // null is "no overrides" as for every other options argument.
  if (label === 'overrides' && (source === undefined || source === null)) return;
  if (!isPlainObject(source)) {
    throw new ConfigError({
      field: label,
      value: source,
      problem:
        label === 'overrides'
          ? 'must be a plain object of config fields'
          : 'must be a plain object (a parsed scheduler_config.json)',
      fix:
        label === 'overrides'
          ? 'pass an object such as { steps_offset: 1 }, or nothing.'
          : "pass JSON.parse(text) of the config file, or an object of config fields ({} for diffusers' defaults).",
    });
  }
  // Each top-level key read once, into a null-prototype copy (where `__proto__` is an ordinary key
  // the walk then finds); everything below reads the copy.
  const own: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(source)) {
    own[key] = guarded(
      () => (source as Record<string, unknown>)[key],
      unreadable(
        ConfigError,
        `${label}.${key}`,
        'pass plain data, e.g. JSON.parse of scheduler_config.json.',
      ),
    );
  }
  assertNoForbiddenKeys(own, label);
  for (const written of Object.keys(own)) {
    if (written.startsWith('_')) continue;
    const value = own[written];
    // An alias counts only when the source does not also give the field under its own name.
    const alias = Object.hasOwn(aliases, written) ? aliases[written]! : undefined;
    const key = alias !== undefined && !Object.hasOwn(own, alias) ? alias : written;
    if (!Object.hasOwn(fieldSpecs, key)) {
      if (!compatible.has(written)) unused.add(written);
      continue;
    }
    // diffusers treats an explicit null like a missing key for everything but trained_betas
    // (configs written by older versions carry "trained_betas": null).
    if (value === null && key !== 'trained_betas') continue;
    merged[key] = value;
    if (key === written) delete writtenAs[key];
    else writtenAs[key] = written;
  }
}

/**
 * A complete, validated `DDIMScheduler` config, as the scheduler's constructor and `fromConfig`
 * make it: `input` (a parsed scheduler_config.json of any diffusers scheduler, or `{}`) and
 * `overrides` over diffusers' defaults. Throws a `ConfigError` naming the first wrong field; keys
 * the scheduler does not use go to `options.onWarning`, once.
 */
export function resolveDDIMConfig(
  input: unknown,
  overrides?: unknown,
  options?: ConfigOptions,
): ResolvedConfig<DDIMConfig> {
  return resolve('DDIMScheduler', DDIM_DEFAULTS, DDIM_FIELDS, input, overrides, options);
}

const {
  thresholding: _thresholdingSpec,
  dynamic_thresholding_ratio: _ratioSpec,
  sample_max_value: _maxValueSpec,
  ...SHARED_FIELDS
} = DDIM_FIELDS;

const INVERSE_FIELDS: Record<keyof DDIMInverseConfig, FieldSpec> = {
  ...SHARED_FIELDS,
  timestep_spacing: { kind: 'enum', values: INVERSE_TIMESTEP_SPACINGS },
};

const NONE: ReadonlySet<string> = new Set();

/**
 * The DDIMScheduler keys DDIMInverseScheduler does not take (thresholding): a DDIMScheduler config
 * loaded into the inverse scheduler (the usual DDIM inversion setup) drops them silently, as
 * diffusers' from_config does with a compatible class; keys neither scheduler uses are still
 * reported, and the same keys in `overrides` (asked for explicitly) are too.
 */
const DDIM_ONLY_KEYS: ReadonlySet<string> = new Set(
  Object.keys(DDIM_FIELDS).filter((key) => !Object.hasOwn(INVERSE_FIELDS, key)),
);

/** Deprecated config keys diffusers' DDIMInverseScheduler still reads, and the field each sets. */
const INVERSE_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  set_alpha_to_zero: 'set_alpha_to_one',
});

/**
 * {@link resolveDDIMConfig} for `DDIMInverseScheduler`: its 12 fields, and diffusers' deprecated
 * `set_alpha_to_zero` read as `set_alpha_to_one`.
 */
export function resolveDDIMInverseConfig(
  input: unknown,
  overrides?: unknown,
  options?: ConfigOptions,
): ResolvedConfig<DDIMInverseConfig> {
  // diffusers' DDIMInverseScheduler still accepts the deprecated `set_alpha_to_zero` as an alias
  // of `set_alpha_to_one` (scheduling_ddim_inverse.py); honour it the same way in the config
  // (not in overrides, which are ours), and name it as written in errors.
  return resolve(
    'DDIMInverseScheduler',
    DDIM_INVERSE_DEFAULTS,
    INVERSE_FIELDS,
    input,
    overrides,
    options,
    INVERSE_ALIASES,
    DDIM_ONLY_KEYS,
  );
}

/** The JSON diffusers' `save_config` writes, minus `_diffusers_version`: `_class_name` then the fields. */
export function configToJSON<C extends object>(
  className: string,
  config: Readonly<C>,
): Record<string, unknown> {
  return guarded(
    () => {
      if (!isPlainObject(config)) {
        throw new ConfigError({
          field: 'config',
          value: config,
          problem: 'must be a config object',
          fix: 'pass scheduler.config.',
        });
      }
      const out: Record<string, unknown> = { _class_name: className };
      for (const [key, value] of Object.entries(config)) {
        out[key] = Array.isArray(value) ? [...value] : value;
      }
      return out;
    },
    unreadable(ConfigError, 'config', 'pass scheduler.config.'),
  );
}
