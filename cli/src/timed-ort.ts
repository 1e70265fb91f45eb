/**
 * Where the time of a Stable Diffusion run goes: an `ort` namespace for `StableDiffusionPipeline`
 * whose sessions record when each `session.run` started and ended, per component. `ddim generate`
 * and the pipeline benchmark split each denoising step with it into the model (ONNX Runtime's
 * `session.run` of the UNet) and the rest (the pipeline's input and output conversions, guidance,
 * the scheduler step).
 *
 * No hook in the library is needed: the pipeline takes any `ort` of the `PipelineOrt` shape and
 * uses of a session only its input / output names, its input metadata, `run` and `release`, which
 * the wrapper passes through.
 */
import type { OrtSessionLike } from 'ddim/onnxruntime';
import type { PipelineOrt } from 'ddim/pipeline';

/** The pipeline's models, told apart by their inputs (the signatures the pipeline checks). */
export const COMPONENTS = ['text_encoder', 'unet', 'vae_encoder', 'vae_decoder', 'other'] as const;
export type Component = (typeof COMPONENTS)[number];

export function componentOf(session: Pick<OrtSessionLike, 'inputNames'>): Component {
  const inputs = session.inputNames;
  if (inputs.includes('timestep')) return 'unet';
  if (inputs.includes('input_ids')) return 'text_encoder';
  if (inputs.includes('latent_sample')) return 'vae_decoder';
  if (inputs.includes('sample')) return 'vae_encoder';
  return 'other';
}

/** One `session.run`: performance.now() at its call and when its promise settled. */
export interface RunInterval {
  start: number;
  end: number;
}

/** A session as `InferenceSession.create` resolves it (what the pipeline uses of it, and `release`). */
export type CreatedSession = OrtSessionLike & { release?: () => Promise<void> };

export interface TimedOrtOptions {
  /**
   * Replace a component's session by another made from the real one (the benchmark's stand-in
   * UNet): the real session is released and the replacement returned, timed like any other.
   */
  replace?: Partial<Record<Component, (real: CreatedSession) => CreatedSession>>;
}

export interface TimedOrt {
  /** Pass as `{ ort }` to `StableDiffusionPipeline.fromPretrained`. */
  readonly ort: PipelineOrt;
  /** The runs of each component so far, in call order. */
  readonly runs: Record<Component, RunInterval[]>;
  /** Forget the runs recorded so far (between generate calls). */
  clear(): void;
}

/** Total milliseconds of the runs that started at or after `from` and ended at or before `to`. */
export function runTimeWithin(runs: readonly RunInterval[], from: number, to: number): number {
  let total = 0;
  for (const r of runs) if (r.start >= from && r.end <= to) total += r.end - r.start;
  return total;
}

function timedSession(session: CreatedSession, record: RunInterval[]): CreatedSession {
  return {
    get inputNames() {
      return session.inputNames;
    },
    get outputNames() {
      return session.outputNames;
    },
    get inputMetadata() {
      return session.inputMetadata;
    },
    async run(feeds) {
      const start = performance.now();
      try {
        return await session.run(feeds);
      } finally {
        record.push({ start, end: performance.now() });
      }
    },
    async release() {
      await session.release?.();
    },
  };
}

/** Wrap `ort` (onnxruntime-node's namespace) so that every session it creates is timed. */
export function timedOrt(ort: PipelineOrt, options: TimedOrtOptions = {}): TimedOrt {
  const runs = Object.fromEntries(COMPONENTS.map((c) => [c, [] as RunInterval[]])) as Record<
    Component,
    RunInterval[]
  >;
  const wrapped: PipelineOrt = {
    Tensor: ort.Tensor,
    InferenceSession: {
      async create(model: string | Uint8Array, sessionOptions?: object) {
        let session = (await ort.InferenceSession.create(model, sessionOptions)) as CreatedSession;
        const component = componentOf(session);
        const replace = options.replace?.[component];
        if (replace !== undefined) {
          const real = session;
          session = replace(real);
          await real.release?.();
        }
        return timedSession(session, runs[component]);
      },
    },
  };
  return {
    ort: wrapped,
    runs,
    clear() {
      for (const c of COMPONENTS) runs[c].length = 0;
    },
  };
}

/**
 * The denoising loop's time per step, from the times `onStep` was entered: the span from the first
 * step's to the last step's holds whole iterations only (UNet call, guidance, scheduler step, the
 * callback), so it is divided by steps - 1; the UNet runs inside it are the model's share. With one
 * step the span starts at the UNet's first call instead (the input conversion before it is then
 * not counted). `callbackMs[k]`, the time the caller's own onStep work took at step k (a progress
 * bar drawing to a terminal), is taken out: it is the caller's, not the pipeline's.
 */
export interface StepSplit {
  steps: number;
  /** Milliseconds per step, the whole iteration (without the caller's callback work). */
  perStepMs: number;
  /** Milliseconds per step inside the UNet's session.run. */
  modelMs: number;
  /** perStepMs - modelMs: conversions, guidance, the scheduler step. */
  restMs: number;
}

export function splitSteps(
  stepTimes: readonly number[],
  unetRuns: readonly RunInterval[],
  callbackMs: readonly number[] = [],
): StepSplit | null {
  const n = stepTimes.length;
  if (n === 0 || unetRuns.length === 0) return null;
  const from = n > 1 ? stepTimes[0] : unetRuns[0].start;
  const to = stepTimes[n - 1];
  const iterations = n > 1 ? n - 1 : 1;
  // The callbacks of steps 0 .. n - 2 ran inside the span (each after its step's entry time).
  let callbacks = 0;
  if (n > 1) for (let k = 0; k < n - 1; k++) callbacks += callbackMs[k] ?? 0;
  const perStepMs = (to - from - callbacks) / iterations;
  const modelMs = runTimeWithin(unetRuns, from, to) / iterations;
  return { steps: n, perStepMs, modelMs, restMs: perStepMs - modelMs };
}
