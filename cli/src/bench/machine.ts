/** What a benchmark ran on, printed beside its ratios (timings are only comparable within one run). */
import { cpus } from 'node:os';

export interface Machine {
  node: string;
  cpu: string;
  cores: number;
}

export function machine(): Machine {
  const list = cpus();
  return { node: process.version, cpu: list[0]?.model ?? 'unknown CPU', cores: list.length };
}
