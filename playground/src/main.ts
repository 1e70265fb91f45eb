/**
 * Entry point of the playground page: page.ts (config form, schedule charts, table, warnings),
 * loading.ts (where configs come from), mixture.ts (2-D sampling) and images.ts (image grid), the
 * two sampling panels on run-panel.ts, and generate.ts (a Stable Diffusion ONNX model run with
 * ddim/pipeline on onnxruntime-web).
 */
import { GeneratePanel, type GenerateState } from './generate.js';
import { ImagesPanel, type ImagesState } from './images.js';
import { applyQuery, setupConfigSources } from './loading.js';
import { MixturePanel, type SamplingState } from './mixture.js';
import { currentState, onSchedule, type PlaygroundState, start } from './page.js';

/** The page's state with the sampling panels' (what `window.__playground` holds). */
export interface FullState extends PlaygroundState {
  sampling: SamplingState;
  images: ImagesState;
  generate: GenerateState;
}

const $ = (id: string): HTMLElement => document.getElementById(id)!;

const mixture = new MixturePanel($('mixture-panel'));
const images = new ImagesPanel($('images-panel'));
const state = currentState() as FullState;
state.sampling = mixture.state;
state.images = images.state;
state.generate = new GeneratePanel($('generate-panel')).state;
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
start(() => {
  setupConfigSources();
  applyQuery();
});
