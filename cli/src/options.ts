/**
 * Option parsers for commander: each turns the text a user typed into a checked value or throws
 * commander's InvalidArgumentError, which the program reports as a usage error (exit code 2).
 */
import { InvalidArgumentError, Option } from 'commander';
import { PREDICTION_TYPES, PREVIOUS_TIMESTEP_RULES, TIMESTEP_SPACINGS } from 'ddim';

export function integerIn(min: number, max: number): (text: string) => number {
  return (text) => {
    const trimmed = text.trim();
    const value = /^[+-]?\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
    if (!Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(`must be an integer from ${min} to ${max}.`);
    }
    return value;
  };
}

export function numberIn(min: number, max: number, what = 'a number'): (text: string) => number {
  return (text) => {
    const trimmed = text.trim();
    const value = trimmed === '' ? Number.NaN : Number(trimmed);
    if (!Number.isFinite(value) || value < min || value > max) {
      const range = max === Number.POSITIVE_INFINITY ? `>= ${min}` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(`must be ${what} ${range}.`);
    }
    return value;
  };
}

/** A seed for PyTorch's generator: a non-negative integer (up to 2^64 - 1, as torch.manual_seed takes). */
export function parseSeed(text: string): number | bigint {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed) || BigInt(trimmed) >= 2n ** 64n) {
    throw new InvalidArgumentError('must be an integer from 0 to 2^64 - 1.');
  }
  const big = BigInt(trimmed);
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

/**
 * An output file of one format: `sample` writes PNG and `plot` writes SVG, whatever the name says,
 * so a name with another extension (`--out chart.png` for the SVG) would be a file that image
 * viewers reject. Refused as a usage error instead of written under a misleading name.
 */
export function fileWithExtension(extension: string, format: string): (text: string) => string {
  return (text) => {
    if (text.trim() === '') throw new InvalidArgumentError(`must be a file name ending in ${extension}.`);
    if (!text.toLowerCase().endsWith(extension)) {
      throw new InvalidArgumentError(
        `must end in ${extension}: this command writes ${format} (name the file *${extension}).`,
      );
    }
    return text;
  };
}

/** Repeatable option: collects every value in order. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export const stepsOption = (defaultSteps: number) =>
  new Option('--steps <n>', 'number of inference steps (1 to num_train_timesteps)')
    .argParser(integerIn(1, 1_000_000))
    .default(defaultSteps);

export const etaOption = () =>
  new Option('--eta <eta>', 'DDIM eta: 0 deterministic, 1 DDPM-like (>= 0)')
    .argParser(numberIn(0, Number.POSITIVE_INFINITY))
    .default(0);

export const seedOption = () =>
  new Option('--seed <seed>', 'seed of the PyTorch-exact noise generator').argParser(parseSeed).default(0);

export const spacingOption = () =>
  new Option('--spacing <kind>', 'timestep_spacing override').choices([...TIMESTEP_SPACINGS]);

export const predictionOption = () =>
  new Option('--prediction <type>', 'prediction_type override').choices([...PREDICTION_TYPES]);

export const zeroSnrOptions = () => [
  new Option('--zero-snr', 'rescale betas to zero terminal SNR (rescale_betas_zero_snr: true)'),
  new Option('--no-zero-snr', 'rescale_betas_zero_snr: false'),
];

export const previousStepOption = () =>
  new Option(
    '--previous-step <rule>',
    'scheduler option previousTimestepRule: stride (diffusers, t - T // n) or schedule (the next scheduled timestep)',
  ).choices([...PREVIOUS_TIMESTEP_RULES]);

export const clampZeroSnrOption = () =>
  new Option(
    '--clamp-zero-snr',
    'scheduler option clampZeroTerminalSnr: alpha_bar[T - 1] = 2^-24 instead of 0, so epsilon models can start at T - 1',
  );
