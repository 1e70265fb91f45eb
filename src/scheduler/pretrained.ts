/**
 * Where schedulers meet loading, and the only place: `fromPretrained` (the options split into
 * scheduler options, load options and config overrides, checked before anything is loaded, then
 * the loaded config through the class's `fromConfig`) and `savePretrained`. The schedulers
 * themselves do no I/O; loading/ does the reading and writing.
 */
import { ArgumentError } from '../errors.js';
import { guarded, unreadable } from '../guard.js';
import type { DiffusersJsonOptions } from '../loading/diffusers-json.js';
import {
  type FromPretrainedOptions,
  LOAD_OPTION_KEYS,
  type LoadConfigOptions,
  loadSchedulerConfig,
  saveSchedulerConfig,
} from '../loading/hub.js';
import { resolveSchedulerOptions, type SchedulerOptions } from './options.js';

/** `fromPretrained` options: where to load from, config overrides, and the scheduler options. */
export type PretrainedOptions<C> = FromPretrainedOptions<C> &
  Pick<SchedulerOptions, 'previousTimestepRule' | 'clampZeroTerminalSnr'>;

/**
 * The scheduler options carried by `fromPretrained`'s options, validated before anything is
 * loaded (a bad option fails fast, without a network round trip).
 */
export function pretrainedSchedulerOptions(options: unknown): SchedulerOptions {
  const picked = guarded(
    () => {
      const o = options !== null && typeof options === 'object' ? (options as SchedulerOptions) : {};
      return {
        previousTimestepRule: o.previousTimestepRule,
        clampZeroTerminalSnr: o.clampZeroTerminalSnr,
        onWarning: o.onWarning,
      };
    },
    unreadable(ArgumentError, 'options', 'pass a plain options object.'),
  );
  return resolveSchedulerOptions(picked);
}

const PRETRAINED_EXTRA_KEYS: ReadonlySet<string> = new Set([
  'overrides',
  'previousTimestepRule',
  'clampZeroTerminalSnr',
]);

/**
 * Both schedulers' `fromPretrained`: the options are checked and split before anything is
 * loaded, then the loaded config goes through the scheduler's `fromConfig`.
 */
export async function fromPretrainedWith<C, S>(
  source: string,
  options: unknown,
  fromConfig: (config: unknown, overrides: Partial<C> | undefined, options: SchedulerOptions) => S,
): Promise<S> {
  const { schedulerOptions, load, overrides } = splitPretrainedOptions<C>(options);
  const { config } = await loadSchedulerConfig(source, load);
  return fromConfig(config, overrides, schedulerOptions);
}

/**
 * `fromPretrained`'s options, read once and split: the scheduler options (validated), the load
 * options for `loadSchedulerConfig`, and the config overrides. Unknown keys are ArgumentErrors,
 * before anything is loaded.
 */
function splitPretrainedOptions<C>(options: unknown): {
  schedulerOptions: SchedulerOptions;
  load: LoadConfigOptions;
  overrides: Partial<C> | undefined;
} {
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw new ArgumentError({
      field: 'options',
      value: options,
      problem: 'must be an options object',
      fix: "pass e.g. { subfolder: 'scheduler' }, or nothing.",
    });
  }
  const copy = guarded(
    () => {
      const c: Record<string, unknown> = {};
      for (const key of Object.keys(options ?? {})) c[key] = (options as Record<string, unknown>)[key];
      return c;
    },
    unreadable(ArgumentError, 'options', 'pass a plain options object.'),
  );
  for (const key of Object.keys(copy)) {
    if (!LOAD_OPTION_KEYS.has(key) && !PRETRAINED_EXTRA_KEYS.has(key)) {
      throw new ArgumentError({
        field: `options.${key}`,
        value: copy[key],
        problem: 'is not a fromPretrained option',
        fix: `use only ${[...LOAD_OPTION_KEYS, ...PRETRAINED_EXTRA_KEYS].join(', ')}; config keys go in overrides.`,
      });
    }
  }
  const schedulerOptions = pretrainedSchedulerOptions(copy);
  const { overrides, previousTimestepRule: _rule, clampZeroTerminalSnr: _clamp, ...load } = copy;
  return {
    schedulerOptions,
    load: load as LoadConfigOptions,
    overrides: overrides as Partial<C> | undefined,
  };
}

/**
 * Write a scheduler's `toJSON()` as `${dir}/scheduler_config.json`, exactly as diffusers'
 * `save_pretrained` does (see `saveSchedulerConfig`). Returns the path written.
 */
export function savePretrained(
  json: Record<string, unknown>,
  dir: string,
  options?: DiffusersJsonOptions,
): Promise<string> {
  return saveSchedulerConfig(dir, json, options);
}
