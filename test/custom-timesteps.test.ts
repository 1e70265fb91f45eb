import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  DDIMInverseScheduler,
  DDIMScheduler,
  ddimTimesteps,
  leadingTimesteps,
  linspaceTimesteps,
  quadraticTimesteps,
  type Tensor,
  trailingTimesteps,
} from '../src/index.js';
import { f32 } from './helpers/fixtures.js';
import { toyLoop as loop, REF_DIMS, refModel, refSample } from './helpers/models.js';

const dims = REF_DIMS;
const sample = refSample;
const model = refModel;

/** DDIM eq. 12 with eta = 0, epsilon prediction, no clipping, written out in float64. */
function ddimStep(x: ArrayLike<number>, eps: ArrayLike<number>, a: number, aPrev: number): number[] {
  return Array.from(x, (v, i) => {
    const x0 = (v - Math.sqrt(1 - a) * eps[i]) / Math.sqrt(a);
    return Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * eps[i];
  });
}

function expectNear(got: ArrayLike<number>, want: number[], tol = 1e-6): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(tol);
}

describe('setTimesteps({ timesteps }) (diffusers #2165)', () => {
  it('takes any strictly decreasing list; each step lands on the next, the last on finalAlphaCumprod', () => {
    const s = new DDIMScheduler({ clip_sample: false, set_alpha_to_one: false });
    s.setTimesteps({ timesteps: [937, 500, 42, 7] });
    expect(Array.from(s.timesteps)).toEqual([937, 500, 42, 7]);
    expect(s.numInferenceSteps).toBe(4);
    expect(s.customTimesteps).toBe(true);
    expect([937, 500, 42, 7].map((t) => s.previousTimestep(t))).toEqual([500, 42, 7, -1]);
    const ab = s.alphasCumprod;
    expectNear(
      s.step(model, 500, sample).prevSample.data,
      ddimStep(sample.data, model.data, ab[500], ab[42]),
    );
    // The last step: alpha_bar_prev = final_alpha_cumprod = alpha_bar_0 (set_alpha_to_one false).
    expect(s.finalAlphaCumprod).toBe(ab[0]);
    expectNear(s.step(model, 7, sample).prevSample.data, ddimStep(sample.data, model.data, ab[7], ab[0]));
  });

  it('accepts typed arrays (Int32Array, BigInt64Array as from ONNX int64) and copies them', () => {
    const list = Int32Array.of(900, 600, 300);
    const s = new DDIMScheduler().setTimesteps({ timesteps: list });
    list[0] = 1;
    expect(Array.from(s.timesteps)).toEqual([900, 600, 300]);
    s.setTimesteps({ timesteps: BigInt64Array.of(800n, 1n) });
    expect(Array.from(s.timesteps)).toEqual([800, 1]);
  });

  it('with the list diffusers picks, a custom schedule gives the same loop as setTimesteps(n) (leading)', () => {
    const config = {
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      beta_end: 0.012,
      steps_offset: 1,
    } as const;
    const initial: Tensor = { data: f32([0.3, -0.7, 1.2, 0.05, -1.5, 0.9]), dims, type: 'float32' };
    const byCount = loop(new DDIMScheduler(config).setTimesteps(20), initial);
    const byList = loop(
      new DDIMScheduler(config).setTimesteps({ timesteps: ddimTimesteps(1000, 20, 'leading', 1) }),
      initial,
    );
    expect(Array.from(byList.data)).toEqual(Array.from(byCount.data));
  });

  it('a custom linspace list equals setTimesteps(n) with previousTimestepRule "schedule"', () => {
    const config = { timestep_spacing: 'linspace', clip_sample: false } as const;
    const initial: Tensor = { data: f32([0.3, -0.7, 1.2, 0.05, -1.5, 0.9]), dims, type: 'float32' };
    const ruled = loop(
      new DDIMScheduler(config, { previousTimestepRule: 'schedule' }).setTimesteps(10),
      initial,
    );
    const custom = loop(
      new DDIMScheduler(config).setTimesteps({ timesteps: linspaceTimesteps(1000, 10) }),
      initial,
    );
    const stride = loop(new DDIMScheduler(config).setTimesteps(10), initial);
    expect(Array.from(custom.data)).toEqual(Array.from(ruled.data));
    expect(Array.from(custom.data)).not.toEqual(Array.from(stride.data));
  });

  it('setTimesteps(n) afterwards goes back to diffusers lists and the stride', () => {
    const s = new DDIMScheduler().setTimesteps({ timesteps: [999, 500] });
    s.setTimesteps(10);
    expect(s.customTimesteps).toBe(false);
    expect(s.previousTimestep(900)).toBe(800);
  });

  it('a timestep between listed ones stays legal (as in diffusers): it lands on the next listed one below', () => {
    const s = new DDIMScheduler({ clip_sample: false }).setTimesteps({ timesteps: [900, 600, 300] });
    expect([950, 900, 750, 600, 500, 300, 299, 0].map((t) => s.previousTimestep(t))).toEqual([
      900, 600, 600, 300, 300, -1, -1, -1,
    ]);
    const ab = s.alphasCumprod;
    expectNear(
      s.step(model, 500, sample).prevSample.data,
      ddimStep(sample.data, model.data, ab[500], ab[300]),
    );
    // Still refused: not a training timestep at all.
    expect(() => s.step(model, 1000, sample)).toThrow(ArgumentError);
    expect(() => s.step(model, 500.5, sample)).toThrow(ArgumentError);
  });

  describe('validation names the index and the value, and leaves the scheduler as it was', () => {
    const cases: [string, unknown, RegExp][] = [
      ['empty', [], /timesteps must not be empty/],
      ['increasing', [900, 950], /timesteps\[1\] must be smaller than timesteps\[0\] \(900\).*\(got 950\)/],
      [
        'repeated',
        [900, 500, 500],
        /timesteps\[2\] must be smaller than timesteps\[1\] \(500\).*\(got 500\)/,
      ],
      [
        'T itself',
        [1000, 500],
        /timesteps\[0\] must be an integer training timestep in 0 \.\. 999 \(got 1000\)/,
      ],
      ['negative', [500, -1], /timesteps\[1\] .*\(got -1\)/],
      ['fractional', [500, 250.5], /timesteps\[1\] .*\(got 250\.5\)/],
      ['NaN', [Number.NaN], /timesteps\[0\]/],
      ['string element', ['900'], /timesteps\[0\]/],
      ['not a list', 'abc', /must be an array/],
      ['null', null, /must be an array/],
    ];
    for (const [name, timesteps, message] of cases) {
      it(name, () => {
        const s = new DDIMScheduler().setTimesteps(10);
        expect(() => s.setTimesteps({ timesteps } as { timesteps: number[] })).toThrow(ArgumentError);
        expect(() => s.setTimesteps({ timesteps } as { timesteps: number[] })).toThrow(message);
        expect(s.numInferenceSteps).toBe(10);
        expect(s.customTimesteps).toBe(false);
        expect(s.timesteps[0]).toBe(900);
      });
    }
    it('a bare list, extra keys, or no timesteps key', () => {
      const s = new DDIMScheduler();
      expect(() => s.setTimesteps([900, 500] as unknown as number)).toThrow(/wrap the list/);
      expect(() =>
        s.setTimesteps({ timesteps: [900], numInferenceSteps: 1 } as { timesteps: number[] }),
      ).toThrow(/unknown: numInferenceSteps/);
      expect(() => s.setTimesteps({} as { timesteps: number[] })).toThrow(ArgumentError);
      expect(s.numInferenceSteps).toBeNull();
    });
  });
});

describe('DDIMInverseScheduler.setTimesteps({ timesteps }): ascending, each step starts from the element before', () => {
  it('validates ascending order', () => {
    const s = new DDIMInverseScheduler();
    expect(() => s.setTimesteps({ timesteps: [500, 100] })).toThrow(
      /timesteps\[1\] must be larger than timesteps\[0\] \(500\)/,
    );
  });

  it('the first step starts from initialAlphaCumprod, the next ones from the previous element', () => {
    const s = new DDIMInverseScheduler({ clip_sample: false, set_alpha_to_one: false });
    s.setTimesteps({ timesteps: [7, 42, 500, 937] });
    expect([7, 42, 500, 937].map((t) => s.previousTimestep(t))).toEqual([-1, 7, 42, 500]);
    const ab = s.alphasCumprod;
    expect(s.initialAlphaCumprod).toBe(ab[0]);
    // An inversion step is eq. 12 run from the less noisy level to the noisier one.
    expectNear(s.step(model, 7, sample).prevSample.data, ddimStep(sample.data, model.data, ab[0], ab[7]));
    expectNear(
      s.step(model, 500, sample).prevSample.data,
      ddimStep(sample.data, model.data, ab[42], ab[500]),
    );
    // A timestep between listed ones: the step to 600 starts from the listed one below it.
    expect([5, 7, 8, 600, 999].map((t) => s.previousTimestep(t))).toEqual([-1, -1, 7, 500, 937]);
    expectNear(
      s.step(model, 600, sample).prevSample.data,
      ddimStep(sample.data, model.data, ab[500], ab[600]),
    );
  });

  it('inverting through a list and sampling back through it revisits the same levels (exact with a constant-eps model)', () => {
    // With a model whose eps does not depend on x or t, DDIM inversion and sampling are exact
    // inverses of each other when they use the same pairs of levels.
    const config = { clip_sample: false, set_alpha_to_one: true } as const;
    const list = [980, 700, 333, 61, 5];
    const forward = new DDIMScheduler(config).setTimesteps({ timesteps: list });
    const inverse = new DDIMInverseScheduler(config).setTimesteps({ timesteps: [...list].reverse() });
    const x0: Tensor = { data: Float64Array.of(0.5, -0.25, 0.75, 0.1, -0.6, 0.3), dims, type: 'float64' };
    const eps: Tensor = { data: Float64Array.of(0.3, -1.1, 0.2, 0.9, -0.4, 1.3), dims, type: 'float64' };
    let x: Tensor = x0;
    for (const t of inverse.timesteps) x = inverse.step(eps, t, x).prevSample;
    for (const t of forward.timesteps) x = forward.step(eps, t, x).prevSample;
    expectNear(x.data, Array.from(x0.data), 1e-12);
  });
});

describe('timestep helpers', () => {
  it('quadraticTimesteps: the DDIM paper\'s "quad" skip, int(linspace(0, sqrt(0.8 T), S) ** 2), descending', () => {
    // Lists printed by numpy 2.4: [int(s) for s in np.linspace(0, np.sqrt(T * 0.8), S) ** 2].
    expect(Array.from(quadraticTimesteps(1000, 10))).toEqual([800, 632, 483, 355, 246, 158, 88, 39, 9, 0]);
    expect(Array.from(quadraticTimesteps(1000, 20))).toEqual(
      [0, 2, 8, 19, 35, 55, 79, 108, 141, 179, 221, 268, 319, 374, 434, 498, 567, 640, 718, 800].reverse(),
    );
    expect(Array.from(quadraticTimesteps(1000, 5))).toEqual([800, 450, 200, 50, 0]);
    expect(Array.from(quadraticTimesteps(100, 5))).toEqual([80, 45, 20, 5, 0]);
  });

  it("quadraticTimesteps drops the repeats the paper's list has for large S (identity steps)", () => {
    // numpy, T = 1000, S = 50: [0, 0, 1, 2, 5, 8, ...]: one repeat. S = 100: 0 four times, 2 twice (96 distinct).
    const q50 = quadraticTimesteps(1000, 50);
    expect(q50.length).toBe(49);
    expect(Array.from(q50.slice(-6))).toEqual([11, 8, 5, 2, 1, 0]);
    expect(q50[0]).toBe(800);
    const q100 = quadraticTimesteps(1000, 100);
    expect(q100.length).toBe(96);
    expect(Array.from(q100.slice(-8))).toEqual([9, 8, 6, 5, 3, 2, 1, 0]);
    // Up to S = 29 (S - 1 <= sqrt(800)) there is no repeat; from S = 30 there is.
    expect(quadraticTimesteps(1000, 29).length).toBe(29);
    expect(quadraticTimesteps(1000, 30).length).toBe(29);
    for (const S of [10, 20, 50, 100, 1000]) {
      const q = quadraticTimesteps(1000, S);
      for (let i = 1; i < q.length; i++) expect(q[i]).toBeLessThan(q[i - 1]);
    }
  });

  it('a quadratic schedule runs as custom timesteps', () => {
    const s = new DDIMScheduler({ clip_sample: false }).setTimesteps({
      timesteps: quadraticTimesteps(1000, 10),
    });
    expect(s.previousTimestep(800)).toBe(632);
    expect(s.previousTimestep(0)).toBe(-1);
    const x = loop(s, sample);
    for (const v of x.data) expect(Number.isFinite(v)).toBe(true);
  });

  it("leading / trailing / linspace helpers are diffusers' lists", () => {
    expect(Array.from(leadingTimesteps(1000, 5, 1))).toEqual([801, 601, 401, 201, 1]);
    expect(Array.from(leadingTimesteps(1000, 5))).toEqual([800, 600, 400, 200, 0]);
    // diffusers #9261 prints this trailing list for T = 1000, n = 13.
    expect(Array.from(trailingTimesteps(1000, 13))).toEqual([
      999, 922, 845, 768, 691, 614, 537, 461, 384, 307, 230, 153, 76,
    ]);
    expect(Array.from(linspaceTimesteps(1000, 10))).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    for (const n of [1, 7, 61, 999, 1000]) {
      expect(Array.from(trailingTimesteps(1000, n))).toEqual(
        Array.from(ddimTimesteps(1000, n, 'trailing', 0)),
      );
      expect(Array.from(linspaceTimesteps(1000, n))).toEqual(
        Array.from(ddimTimesteps(1000, n, 'linspace', 0)),
      );
    }
  });

  it('helpers validate their arguments', () => {
    // n = T with steps_offset 1 would schedule T itself (diffusers #10003): not a valid custom list.
    expect(() => leadingTimesteps(1000, 1000, 1)).toThrow(/past the last training timestep 999/);
    expect(Array.from(leadingTimesteps(1000, 999, 1).slice(0, 2))).toEqual([999, 998]);
    expect(() => leadingTimesteps(1000, 10, -1)).toThrow(ArgumentError);
    expect(() => leadingTimesteps(1000, 10, 1.5)).toThrow(ArgumentError);
    expect(() => quadraticTimesteps(1000, 0)).toThrow(ArgumentError);
    expect(() => quadraticTimesteps(1000, 1001)).toThrow(ArgumentError);
    expect(() => trailingTimesteps(0, 1)).toThrow(/numTrainTimesteps/);
    expect(() => linspaceTimesteps(10.5, 1)).toThrow(/numTrainTimesteps/);
    expect(() => quadraticTimesteps(2e6, 1)).toThrow(/numTrainTimesteps/);
  });
});
