/** Entry point of the playground page (see page.ts for the schedule part). */
import { ImagesPanel, type ImagesState } from './images.js';
import { MixturePanel, type SamplingState } from './mixture.js';
import { currentState, onSchedule, type PlaygroundState, start } from './page.js';

/** The page's state with the sampling panels' (what `window.__playground` holds). */
export interface FullState extends PlaygroundState {
  sampling: SamplingState;
  images: ImagesState;
}

const $ = (id: string): HTMLElement => document.getElementById(id)!;

const mixture = new MixturePanel($('mixture-panel'));
const images = new ImagesPanel($('images-panel'));
const state = currentState() as FullState;
state.sampling = mixture.state;
state.images = images.state;
onSchedule((view) => {
  const input = {
    config: view.config,
    options: view.options,
    steps: view.steps,
    eta: view.eta,
    seed: state.seed,
  };
  mixture.setInput(input);
  images.setInput(input);
});
start();
