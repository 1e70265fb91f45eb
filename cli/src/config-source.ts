/**
 * `--config <source>`: a built-in preset name, a local scheduler_config.json (or a diffusers model
 * folder holding one), a URL, or a Hub id (org/name). Flags such as --spacing apply on top, as
 * diffusers' `from_config(config, **overrides)` does.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  type DDIMConfig,
  DDIMScheduler,
  LoadError,
  loadSchedulerConfig,
  PRESET_NAMES,
  type PredictionType,
  type PresetName,
  type PreviousTimestepRule,
  SCHEDULER_PRESETS,
  type TimestepSpacing,
} from 'ddim';

export interface LoadedSchedulerConfig {
  /** A short name for tables and legends: the preset name, file name or repo id. */
  label: string;
  /** The config object as read (unchecked: the scheduler validates it). */
  config: Record<string, unknown>;
  /** Where it came from, for messages. */
  from: string;
}

/** The flags that override config keys, and the scheduler options. */
export interface ConfigOverrideFlags {
  spacing?: TimestepSpacing;
  prediction?: PredictionType;
  zeroSnr?: boolean;
  previousStep?: PreviousTimestepRule;
  clampZeroSnr?: boolean;
}

export function overridesFromFlags(flags: ConfigOverrideFlags): Partial<DDIMConfig> {
  const overrides: Partial<DDIMConfig> = {};
  if (flags.spacing !== undefined) overrides.timestep_spacing = flags.spacing;
  if (flags.prediction !== undefined) overrides.prediction_type = flags.prediction;
  if (flags.zeroSnr !== undefined) overrides.rescale_betas_zero_snr = flags.zeroSnr;
  return overrides;
}

export interface SourceOptions {
  /** Folder of the config inside a model folder or Hub repo; default: "scheduler", then the top. */
  subfolder?: string;
  /** Hub branch, tag or commit. */
  revision?: string;
  warn: (message: string) => void;
}

/** The Hub or a URL answered 404 (a local folder already falls back to its top by itself, as diffusers' load_config does). */
function isNotFound(error: unknown): boolean {
  return error instanceof LoadError && error.field === 'source' && error.problem.includes('HTTP 404');
}

/**
 * Read a config from wherever `source` points. Without --subfolder, a model folder or Hub repo is
 * looked up the way people use them: `scheduler/scheduler_config.json` first (diffusers' layout),
 * then `scheduler_config.json` at the top (a scheduler-only repo or folder).
 */
export async function loadConfigSource(
  source: string,
  options: SourceOptions,
): Promise<LoadedSchedulerConfig> {
  if ((PRESET_NAMES as readonly string[]).includes(source)) {
    return {
      label: source,
      config: { ...SCHEDULER_PRESETS[source as PresetName].config },
      from: `preset ${source}`,
    };
  }
  if (/\.json$/i.test(source) && !/^[a-z]+:/i.test(source) && !existsSync(source)) {
    // Without this a missing "config.json" would be looked up as a Hub repo of that name.
    throw new LoadError({
      field: '--config',
      value: source,
      problem: `is not an existing file (resolved to ${resolve(source)})`,
      fix: 'check the path; relative paths start at the working folder.',
    });
  }
  if (!/[/\\]/.test(source) && !existsSync(source)) {
    // A bare word that is no preset and no file: almost always a misspelt preset. Looking it up as
    // a Hub repo would fail with a network error about huggingface.co/<word>, which hides the
    // typo (and diffusers model repos are always org/name; only legacy model repos have one part).
    throw new LoadError({
      field: '--config',
      value: source,
      problem: 'is not a preset, nor an existing file or folder, nor a Hub id (org/name)',
      fix: `use one of the presets (${PRESET_NAMES.join(', ')}), a path, a URL, or org/name for the Hub.`,
    });
  }
  const base = { revision: options.revision, onWarning: options.warn };
  let loaded: Awaited<ReturnType<typeof loadSchedulerConfig>>;
  if (options.subfolder !== undefined) {
    loaded = await loadSchedulerConfig(source, { ...base, subfolder: options.subfolder });
  } else {
    try {
      loaded = await loadSchedulerConfig(source, { ...base, subfolder: 'scheduler' });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      loaded = await loadSchedulerConfig(source, base);
    }
  }
  return { label: source, config: loaded.config, from: loaded.resolvedFrom };
}

/** Build the scheduler for a loaded config with the flags' overrides and options; warnings go to `warn`. */
export function schedulerFor(
  loaded: LoadedSchedulerConfig,
  flags: ConfigOverrideFlags,
  warn: (message: string) => void,
): DDIMScheduler {
  return DDIMScheduler.fromConfig(loaded.config, overridesFromFlags(flags), {
    onWarning: warn,
    previousTimestepRule: flags.previousStep,
    clampZeroTerminalSnr: flags.clampZeroSnr,
  });
}
