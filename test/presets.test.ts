/**
 * The presets are the configs they are named after: the shipped `scheduler_config.json` files in
 * test/fixtures/configs, read the way DDIMScheduler.fromConfig reads them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DDIMScheduler, PRESET_NAMES, SCHEDULER_PRESETS } from '../src/index.js';
import { isPresetName } from '../src/scheduler/presets.js';
import { fixtureDir } from './helpers/fixtures.js';

const shipped = (name: string): unknown =>
  JSON.parse(readFileSync(join(fixtureDir, 'configs', name), 'utf8'));

const resolved = (config: unknown) => DDIMScheduler.fromConfig(config, {}, { onWarning: () => {} }).config;

describe('SCHEDULER_PRESETS', () => {
  it("sd is Stable Diffusion 1.5's scheduler config as shipped", () => {
    expect(resolved(SCHEDULER_PRESETS.sd.config)).toEqual(resolved(shipped('sd15-pndm.json')));
  });

  it('sd-zero-snr is the zero-terminal-SNR, trailing, v-prediction config', () => {
    expect(resolved(SCHEDULER_PRESETS['sd-zero-snr'].config)).toEqual(
      resolved(shipped('zero-snr-trailing-v.json')),
    );
  });

  it("ddim is diffusers' DDIMScheduler defaults", () => {
    expect(resolved(SCHEDULER_PRESETS.ddim.config)).toEqual(new DDIMScheduler().config);
  });

  it('names every preset, and only own keys are names', () => {
    expect(PRESET_NAMES).toEqual(['ddim', 'sd', 'sd-zero-snr']);
    for (const name of PRESET_NAMES) expect(isPresetName(name)).toBe(true);
    expect(isPresetName('toString')).toBe(false);
    expect(isPresetName('SD')).toBe(false);
  });
});
