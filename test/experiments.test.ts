/**
 * The papers' claims as the experiments measure them, at sizes that run in seconds: the orderings
 * the CLI reports (and the README's tables show at full size) must hold here too.
 */
import { describe, expect, it } from 'vitest';
import { brightnessStats, meanBrightness, runBrightness } from '../src/exact/experiments/brightness.js';
import {
  runTable1,
  sampleMixture,
  TABLE1_CONFIG,
  table1Cell,
  table1RuleCell,
} from '../src/exact/experiments/table1.js';
import { circleMixture, mmdNullStd, mmdToMixture } from '../src/exact/mmd.js';
import { DDIMScheduler, SCHEDULER_PRESETS } from '../src/index.js';
import { Generator } from '../src/noise/generator.js';

describe('table1: DDIM paper, exact 2-D mixture denoiser', () => {
  it('eta = 0 beats eta = 1 at S = 10 and S = 20, by more than the noise floor', async () => {
    const r = await runTable1({ samples: 400, steps: [10, 20], etas: [0, 1], seed: 3 });
    expect(r.floor).toBeCloseTo(mmdNullStd(400, circleMixture(8, 1, 0.2), 0.3), 15);
    for (const S of [10, 20]) {
      const eta0 = table1Cell(r, S, 0).mmd2;
      const eta1 = table1Cell(r, S, 1).mmd2;
      expect(eta0).toBeLessThan(eta1);
      expect(eta1 - eta0).toBeGreaterThan(r.floor);
      expect(table1Cell(r, S, 1).withinFloor).toBe(false);
    }
    // Exact draws score within the floor: the statistic is calibrated.
    expect(Math.abs(r.exactDraws)).toBeLessThan(3 * r.floor);
  });

  it('many steps reach the noise floor; few do not', async () => {
    const r = await runTable1({ samples: 400, steps: [10, 1000], etas: [0], seed: 1 });
    expect(table1Cell(r, 1000, 0).withinFloor).toBe(true);
    expect(table1Cell(r, 10, 0).withinFloor).toBe(false);
  });

  it('previous-step rows (issue 9): linspace, stride vs schedule-derived; on this mixture the stride scores lower', async () => {
    // Issue 9 asked for the schedule-derived previous step to be at least as good as the stride at
    // S = 10 and 20. On this mixture (modes of standard deviation 0.2, DDPM's linear betas) it is
    // not: the stride is lower by far more than the floor, for every seed tried (0-5, N = 400 and 800),
    // and the README's table shows it. This pins the measured relation so a change to either rule
    // or to the experiment that flips it is noticed (and the README text revisited).
    const r = await runTable1({ samples: 400, steps: [], etas: [0], ruleSteps: [10, 20], seed: 0 });
    expect(r.cells).toEqual([]);
    expect(r.ruleCells.map((c) => [c.steps, c.rule])).toEqual([
      [10, 'stride'],
      [10, 'schedule'],
      [20, 'stride'],
      [20, 'schedule'],
    ]);
    for (const S of [10, 20]) {
      const stride = table1RuleCell(r, S, 'stride', 0);
      const schedule = table1RuleCell(r, S, 'schedule', 0);
      expect(schedule.mmd2 - stride.mmd2).toBeGreaterThan(0.5 * r.floor);
      // Per sample too, so not an artefact of the MMD: the stride lands closer to the run over all
      // 1000 timesteps from the same x_T (test/gaussian-mixture.test.ts has the closed-form reason).
      // Measured at N = 2000, seed 0: S = 10 0.128 / 0.155, S = 20 0.0557 / 0.0670.
      expect(stride.endpointRms).toBeGreaterThan(0.02);
      expect(schedule.endpointRms).toBeGreaterThan(1.1 * (stride.endpointRms as number));
    }
  });

  it('previous-step rows: the endpoint distance is per sample at eta = 0, and 0 for the endpoint itself', async () => {
    const r = await runTable1({ samples: 100, steps: [], etas: [0, 1], ruleSteps: [1000], seed: 4 });
    for (const rule of ['stride', 'schedule'] as const) {
      // S = T schedules every timestep, where both rules step to t - 1: the endpoint run itself.
      expect(table1RuleCell(r, 1000, rule, 0).endpointRms).toBe(0);
      expect(table1RuleCell(r, 1000, rule, 1).endpointRms).toBeNull();
    }
    const noEta0 = await runTable1({ samples: 50, steps: [], etas: [1], ruleSteps: [10], seed: 4 });
    expect(noEta0.ruleCells.map((c) => c.endpointRms)).toEqual([null, null]);
  });

  it('the two previous-step rules really step differently with linspace spacing', () => {
    const make = (rule: 'stride' | 'schedule') =>
      new DDIMScheduler(
        { ...TABLE1_CONFIG, timestep_spacing: 'linspace' },
        { previousTimestepRule: rule },
      ).setTimesteps(10);
    expect(Array.from(make('stride').timesteps)).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    expect(make('stride').previousTimestep(999)).toBe(899); // t - 1000 // 10
    expect(make('schedule').previousTimestep(999)).toBe(888);
  });

  it('is reproducible from its seed', async () => {
    const a = await runTable1({ samples: 50, steps: [5], etas: [0.5], seed: 7 });
    const b = await runTable1({ samples: 50, steps: [5], etas: [0.5], seed: 7 });
    const c = await runTable1({ samples: 50, steps: [5], etas: [0.5], seed: 8 });
    expect(a.cells[0].mmd2).toBe(b.cells[0].mmd2);
    expect(a.cells[0].mmd2).not.toBe(c.cells[0].mmd2);
  });
});

describe('sampleMixture', () => {
  it('draws the mixture (scored within the floor)', () => {
    const mixture = circleMixture(8, 1, 0.2);
    const x = sampleMixture(mixture, 500, new Generator().manualSeed(2));
    expect(Math.abs(mmdToMixture(x, mixture, 0.3))).toBeLessThan(3 * mmdNullStd(500, mixture, 0.3));
  });
});

describe('brightness: zero-SNR paper, exact image model', () => {
  it('zero-SNR + v + trailing covers a wider brightness spread than leading + epsilon', async () => {
    const r = await runBrightness({ samples: 16, steps: 20, seed: 0 });
    const [leading, zero] = r.runs;
    // The schedules are the presets (test/presets.test.ts checks those against the shipped configs).
    expect(leading.config).toEqual(new DDIMScheduler(SCHEDULER_PRESETS.sd.config).config);
    expect(zero.config).toEqual(new DDIMScheduler(SCHEDULER_PRESETS['sd-zero-snr'].config).config);
    expect(leading.config.timestep_spacing).toBe('leading');
    expect(leading.config.prediction_type).toBe('epsilon');
    expect(zero.config.rescale_betas_zero_snr).toBe(true);
    expect(zero.config.prediction_type).toBe('v_prediction');
    expect(zero.config.timestep_spacing).toBe('trailing');
    // The claim, with a margin: the spread grows by more than a third...
    expect(zero.stats.std).toBeGreaterThan(1.3 * leading.stats.std);
    // ...and only the zero-SNR run gets near the darkest and brightest images of the set.
    expect(leading.stats.max - leading.stats.min).toBeLessThan(zero.stats.max - zero.stats.min);
    // Where each run starts: leading with steps_offset 1 starts at (20 - 1) * (1000 // 20) + 1 = 951,
    // where alpha_bar > 0; trailing starts at 999, where the rescaled alpha_bar is 0.
    expect(leading.firstTimestep).toBe(951);
    expect(leading.firstAlphaBar).toBeGreaterThan(0.005);
    expect(zero.firstTimestep).toBe(999);
    expect(zero.firstAlphaBar).toBe(0);
  });

  it('measures brightness as the mean pixel in [0, 1]', () => {
    const images = { data: Float32Array.of(-1, -1, 1, 1, 0, 0.5, 0, 0.5), dims: [2, 1, 2, 2] };
    expect(meanBrightness(images)).toEqual([0.5, 0.625]);
    const s = brightnessStats([0.2, 0.4, 0.6]);
    expect(s.mean).toBeCloseTo(0.4, 12);
    expect(s.std).toBeCloseTo(Math.sqrt(0.08 / 3), 12);
    expect([s.min, s.max]).toEqual([0.2, 0.6]);
  });
});
