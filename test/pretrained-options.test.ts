/** fromPretrained carries the scheduler options (previousTimestepRule, clampZeroTerminalSnr). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ArgumentError, ConfigError, DDIMInverseScheduler, DDIMScheduler } from '../src/index.js';
import { fixtureText, guardNetwork, type HubServer, startHubServer } from './helpers/hub-server.js';

let hub: HubServer;
let restoreFetch: () => void;

beforeAll(async () => {
  restoreFetch = guardNetwork();
  hub = await startHubServer();
  hub.repos.set('zero/snr', {
    commit: '5b2c1e4f0a9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b',
    files: { 'scheduler/scheduler_config.json': fixtureText('zero-snr-trailing-v.json') },
  });
});

afterAll(async () => {
  restoreFetch();
  await hub.close();
});

describe('fromPretrained with scheduler options', () => {
  const load = { subfolder: 'scheduler', onWarning: () => {} };

  it('a real zero-SNR trailing config loaded with an epsilon override: refused, then clamped on request', async () => {
    const endpoint = hub.url;
    const plain = await DDIMScheduler.fromPretrained('zero/snr', {
      ...load,
      endpoint,
      overrides: { prediction_type: 'epsilon' },
    });
    expect(plain.clampZeroTerminalSnr).toBe(false);
    expect(() => plain.setTimesteps(30)).toThrow(ConfigError);
    const clamped = await DDIMScheduler.fromPretrained('zero/snr', {
      ...load,
      endpoint,
      overrides: { prediction_type: 'epsilon' },
      clampZeroTerminalSnr: true,
      previousTimestepRule: 'schedule',
    });
    expect(clamped.alphasCumprod[999]).toBe(2 ** -24);
    expect(clamped.previousTimestepRule).toBe('schedule');
    clamped.setTimesteps(30);
    expect(clamped.previousTimestep(clamped.timesteps[0])).toBe(clamped.timesteps[1]);
    // The config as loaded (v_prediction) needs neither.
    const asLoaded = await DDIMScheduler.fromPretrained('zero/snr', { ...load, endpoint });
    expect(asLoaded.setTimesteps(30).timesteps[0]).toBe(999);
    const inverse = await DDIMInverseScheduler.fromPretrained('zero/snr', {
      ...load,
      endpoint,
      previousTimestepRule: 'schedule',
    });
    expect(inverse.previousTimestepRule).toBe('schedule');
  });

  it('a bad scheduler option fails before any request', async () => {
    hub.requests.length = 0;
    await expect(
      DDIMScheduler.fromPretrained('zero/snr', {
        ...load,
        endpoint: hub.url,
        previousTimestepRule: 'next' as 'stride',
      }),
    ).rejects.toBeInstanceOf(ArgumentError);
    expect(hub.requests).toHaveLength(0);
  });
});
