/**
 * Where schedulers meet loading, and the only place: `fromPretrained` (the options split into
 * scheduler options, load options and config overrides, checked before anything is loaded, then
 * the loaded config through the class's `fromConfig`) and `savePretrained`. The schedulers
 * themselves do no I/O; loading/ does the reading and writing.
 */
import { readOptions } from '../guard.js';
import type { DiffusersJsonOptions } from '../loading/diffusers-json.js';

// Re-exported for savePretrained's signature: the schedulers reach loading through this module only.
export type { DiffusersJsonOptions };

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

/** fromPretrained's options: the load options, the config overrides and two scheduler options. */
const PRETRAINED_KEYS: ReadonlySet<string> = new Set([
  ...LOAD_OPTION_KEYS,
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
  const copy =
    readOptions(options, {
      allowed: PRETRAINED_KEYS,
      field: 'options',
      example: "{ subfolder: 'scheduler' }",
      kind: 'a fromPretrained option',
      hint: () => `use only ${[...PRETRAINED_KEYS].join(', ')}; config keys go in overrides.`,
    }) ?? {};
  const { overrides, previousTimestepRule, clampZeroTerminalSnr, ...load } = copy;
  // Validated now, before anything is loaded: a bad option fails fast, without a network round trip.
  const schedulerOptions = resolveSchedulerOptions({
    previousTimestepRule,
    clampZeroTerminalSnr,
    onWarning: load.onWarning,
  });
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
