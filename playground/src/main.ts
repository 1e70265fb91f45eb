/** Entry point of the playground page (see page.ts for the schedule part). */
import { MixturePanel, type SamplingState } from './mixture.js';
import { currentState, onSchedule, type PlaygroundState, start } from './page.js';

/** The page's state with the sampling panels' (what `window.__playground` holds). */
export interface FullState extends PlaygroundState {
  sampling: SamplingState;
}

const $ = (id: string): HTMLElement => document.getElementById(id)!;

const mixture = new MixturePanel($('mixture-panel'));
const state = currentState() as FullState;
state.sampling = mixture.state;
onSchedule((view) => {
  const input = {
    config: view.config,
    options: view.options,
    steps: view.steps,
    eta: view.eta,
    seed: state.seed,
  };
  mixture.setInput(input);
});
start();
