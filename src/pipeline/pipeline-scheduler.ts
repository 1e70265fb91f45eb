/**
 * The scheduler a pipeline loads from its folder: a `DDIMScheduler` made from `scheduler/`'s
 * config whatever class it names (PNDM for SD 1.5; keys DDIM does not use are reported once, as
 * `DDIMScheduler.fromConfig` does), then the two rewrites diffusers' `StableDiffusionPipeline.__init__`
 * (and the img2img pipeline's) applies to old configs, each with diffusers' FutureWarning text:
 *
 *   steps_offset != 1     -> 1      (pipeline_stable_diffusion.py, "is outdated. `steps_offset` ...")
 *   clip_sample is True   -> false  ("has not set the configuration `clip_sample`. ...")
 *
 * In the warnings the scheduler prints as diffusers' `repr(scheduler)`: its class name and
 * `to_json_string()` (with this library's `_diffusers_version`, where diffusers writes its own).
 * A scheduler assigned to `pipe.scheduler` later is used as given, as in diffusers.
 */

import type { WarningHandler } from '../errors.js';
import { toDiffusersJsonString } from '../loading/diffusers-json.js';
import type { DDIMConfig } from '../scheduler/config.js';
import { DDIMScheduler } from '../scheduler/ddim.js';

/** diffusers' `repr(scheduler)`: "DDIMScheduler {json}\n". */
function schedulerRepr(scheduler: DDIMScheduler): string {
  return `${scheduler.className} ${toDiffusersJsonString(scheduler.toJSON())}`;
}

/** diffusers' warning for `steps_offset != 1` (pipeline_stable_diffusion.py, `__init__`). */
export function stepsOffsetWarning(scheduler: DDIMScheduler): string {
  return (
    `The configuration file of this scheduler: ${schedulerRepr(scheduler)} is outdated. \`steps_offset\`` +
    ` should be set to 1 instead of ${scheduler.config.steps_offset}. Please make sure ` +
    'to update the config accordingly as leaving `steps_offset` might led to incorrect results' +
    ' in future versions. If you have downloaded this checkpoint from the Hugging Face Hub,' +
    ' it would be very nice if you could open a Pull request for the `scheduler/scheduler_config.json`' +
    ' file'
  );
}

/** diffusers' warning for `clip_sample: true` (pipeline_stable_diffusion.py, `__init__`). */
export function clipSampleWarning(scheduler: DDIMScheduler): string {
  return (
    `The configuration file of this scheduler: ${schedulerRepr(scheduler)} has not set the configuration` +
    ' `clip_sample`. `clip_sample` should be set to False in the configuration file. Please make sure to' +
    ' update the config accordingly as not setting `clip_sample` in the config might lead to incorrect' +
    ' results in future versions. If you have downloaded this checkpoint from the Hugging Face Hub, it' +
    ' would be very nice if you could open a Pull request for the `scheduler/scheduler_config.json` file'
  );
}

/**
 * The pipeline's scheduler from the folder's parsed `scheduler_config.json`: DDIM from any
 * scheduler's config, with the pipeline constructor's rewrites (and their warnings, in diffusers'
 * order: steps_offset first, then clip_sample, each printing the config as it is at that point).
 */
export function pipelineScheduler(config: Record<string, unknown>, onWarning: WarningHandler): DDIMScheduler {
  let scheduler = DDIMScheduler.fromConfig(config, undefined, { onWarning });
  if (scheduler.config.steps_offset !== 1) {
    onWarning(stepsOffsetWarning(scheduler));
    scheduler = rebuilt(scheduler, { steps_offset: 1 }, onWarning);
  }
  if (scheduler.config.clip_sample === true) {
    onWarning(clipSampleWarning(scheduler));
    scheduler = rebuilt(scheduler, { clip_sample: false }, onWarning);
  }
  return scheduler;
}

function rebuilt(
  scheduler: DDIMScheduler,
  change: Partial<DDIMConfig>,
  onWarning: WarningHandler,
): DDIMScheduler {
  return DDIMScheduler.fromConfig(scheduler.config, change, { onWarning });
}

/**
 * A scheduler of its own for one `generate` call: the same config and scheduler options, so that
 * concurrent calls never step (or set the timesteps of) a shared scheduler.
 */
export function schedulerCopy(scheduler: DDIMScheduler): DDIMScheduler {
  return new DDIMScheduler(scheduler.config, {
    previousTimestepRule: scheduler.previousTimestepRule,
    clampZeroTerminalSnr: scheduler.clampZeroTerminalSnr,
  });
}
