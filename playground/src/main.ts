/** Entry point of the playground page (see page.ts for the schedule part). */
import { start } from './page.js';

start();
