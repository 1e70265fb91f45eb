// Placeholder main job until the CLI lands: print the timesteps of a default DDIM scheduler.
import { DDIMScheduler } from '../dist/index.js';

const scheduler = new DDIMScheduler().setTimesteps(50);
console.log(`DDIMScheduler (diffusers defaults), 50 steps:\n${Array.from(scheduler.timesteps).join(' ')}`);
