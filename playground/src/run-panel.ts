/**
 * What the two sampling panels share: one run per change of settings, debounced, the previous run
 * cancelled through its AbortSignal so that editing never queues stale work, and a state that
 * says when the panel has settled (tests wait on `runs` and `busy`).
 */
import { type DDIMConfig, DdimError } from 'ddim';
import type { PageSchedulerOptions } from './schedule-view.js';

/** The schedule settings a panel samples with, from the page's form. */
export interface RunInput {
  config: Readonly<DDIMConfig>;
  options: Readonly<PageSchedulerOptions>;
  steps: number;
  eta: number;
  seed: string;
}

export interface RunState {
  status: 'idle' | 'running' | 'done' | 'error';
  /** A run is scheduled or in progress (settings changed since the last finished run). */
  busy: boolean;
  error: string | null;
  /** Increases with every finished (or failed) run. */
  runs: number;
}

export abstract class RunPanel<S extends RunState> {
  private input: RunInput | null = null;
  private controller: AbortController | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly state: S,
    private readonly debounceMs: number,
  ) {}

  /** New schedule settings from the page: re-run (debounced). */
  setInput(input: RunInput): void {
    this.input = input;
    this.schedule();
  }

  /** Re-run with the current settings (debounced), e.g. when one of the panel's own controls changed. */
  protected schedule(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.state.busy = true;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run();
    }, this.debounceMs);
  }

  async run(): Promise<void> {
    const s = this.state;
    if (this.input === null) {
      s.busy = false;
      return;
    }
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    s.status = 'running';
    try {
      await this.execute(this.input, controller.signal);
    } catch (error) {
      if (controller.signal.aborted) return;
      // The library's typed errors and the panel's own input checks are shown; anything else is a bug.
      if (!(error instanceof DdimError || error instanceof RangeError)) throw error;
      s.status = 'error';
      s.error = error.message;
      this.showFailure(error.message);
    } finally {
      if (this.controller === controller) {
        s.runs++;
        this.controller = null;
        s.busy = this.timer !== null;
      }
    }
  }

  /** One run: unless `signal` aborted it meanwhile, it shows the results and sets `state.status = 'done'`. */
  protected abstract execute(input: RunInput, signal: AbortSignal): Promise<void>;

  /** Show a failed run's message in place of the results. */
  protected abstract showFailure(message: string): void;
}
