/** Entry point of the playground page (see page.ts). */
import { start } from './page.js';

start();
