/**
 * The `ddim` command line: commander for parsing and help, one module per command.
 *
 * Exit codes: 0 success; 1 the library or the file system refused (a DdimError or an I/O error:
 * the message says what and how to fix it); 2 a usage error (unknown option, bad value, missing
 * argument), reported by commander with a pointer to --help.
 */
import { Command, CommanderError, Option } from 'commander';
import { DdimError, PRESET_NAMES } from 'ddim';
import { SHAPE_KINDS } from 'ddim/exact';
import { benchCommand } from './commands/bench.js';
import { brightnessCommand, table1Command } from './commands/experiment.js';
import { generateCommand, ZERO_SNR_GUIDANCE_RESCALE } from './commands/generate.js';
import { plotCommand } from './commands/plot.js';
import { sampleCommand } from './commands/sample.js';
import { timestepsCommand } from './commands/timesteps.js';
import type { CliContext } from './context.js';
import {
  clampZeroSnrOption,
  collect,
  etaOption,
  fileWithExtension,
  integerIn,
  numberIn,
  predictionOption,
  previousStepOption,
  seedOption,
  spacingOption,
  stepsOption,
  zeroSnrOptions,
} from './options.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

const CONFIG_HELP = `scheduler config: a preset (${PRESET_NAMES.join(', ')}), a scheduler_config.json or model folder, a URL, or a Hub id org/name`;

function verboseOption(): Option {
  return new Option('--verbose', 'print stack traces of errors (also: DEBUG=1)');
}

function addSourceOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--subfolder <dir>',
        'folder of scheduler_config.json in a model folder or Hub repo',
      ).default(undefined, '"scheduler", then the top'),
    )
    .addOption(new Option('--revision <rev>', 'Hub branch, tag or commit hash').default(undefined, 'main'));
}

function addOverrides(cmd: Command): Command {
  addSourceOptions(cmd);
  cmd.addOption(spacingOption()).addOption(predictionOption());
  for (const o of zeroSnrOptions()) cmd.addOption(o);
  cmd.addOption(previousStepOption()).addOption(clampZeroSnrOption());
  return cmd;
}

/**
 * `ddim generate`. Flags the run would ignore are usage errors, as for `sample`: a negative prompt or
 * a guidance rescale without guidance (scale > 1), a strength without a starting image.
 */
function addGenerate(program: Command, ctx: CliContext): void {
  const generate = program
    .command('generate')
    .description(
      "Stable Diffusion over an ONNX model folder or Hub repo: a prompt (and optionally a starting PNG) to PNG files, diffusers' images for the same seed",
    )
    .addOption(
      new Option(
        '--model <folder|org/name>',
        "a Stable Diffusion ONNX folder (Optimum's or diffusers' export layout), or a Hub repo id",
      ).makeOptionMandatory(),
    )
    .addOption(new Option('--prompt <text>', 'what to draw').makeOptionMandatory())
    .addOption(
      new Option(
        '--negative-prompt <text>',
        'what to steer away from, with --guidance-scale > 1 (default: none)',
      ),
    )
    .addOption(stepsOption(50))
    .addOption(
      new Option('--guidance-scale <w>', 'classifier-free guidance scale (<= 1: no guidance, one UNet batch)')
        .argParser(numberIn(0, 100, 'a scale'))
        .default(7.5),
    )
    .addOption(
      new Option(
        '--guidance-rescale <phi>',
        `guidance rescale (diffusers' guidance_rescale), with --guidance-scale > 1 (default: 0; ${ZERO_SNR_GUIDANCE_RESCALE} with --zero-snr)`,
      ).argParser(numberIn(0, 1, 'a fraction')),
    )
    .addOption(etaOption())
    .addOption(seedOption())
    .addOption(
      new Option(
        '--width <px>',
        "image width, a multiple of 8 (default: the model's, 512 for SD 1.5; with --image, the image's)",
      ).argParser(integerIn(8, 8192)),
    )
    .addOption(
      new Option(
        '--height <px>',
        "image height, a multiple of 8 (default: the model's, 512 for SD 1.5; with --image, the image's)",
      ).argParser(integerIn(8, 8192)),
    )
    .addOption(
      new Option('--num-images <n>', 'images to generate (written as <out>-0.png, <out>-1.png, ...)')
        .argParser(integerIn(1, 64))
        .default(1),
    )
    .addOption(new Option('--image <file>', 'image-to-image: the starting picture (PNG)'))
    .addOption(
      new Option(
        '--strength <s>',
        'image-to-image: how much of the schedule runs, 0..1, with --image (default: 0.8)',
      ).argParser(numberIn(0, 1, 'a fraction')),
    )
    .addOption(
      new Option(
        '--zero-snr',
        `the zero-terminal-SNR recipe: rescale_betas_zero_snr, trailing spacing (unless --spacing), guidance rescale ${ZERO_SNR_GUIDANCE_RESCALE} (unless --guidance-rescale); for v-prediction models`,
      ),
    )
    .addOption(new Option('--no-zero-snr', 'rescale_betas_zero_snr: false'))
    .addOption(spacingOption())
    .addOption(predictionOption())
    .addOption(previousStepOption())
    .addOption(clampZeroSnrOption())
    .addOption(new Option('--revision <rev>', 'Hub branch, tag or commit hash (default: main)'))
    .addOption(
      new Option(
        '--local-files-only',
        'never download: use the Hugging Face cache only (also: HF_HUB_OFFLINE=1)',
      ),
    )
    .addOption(
      new Option(
        '--cache-dir <dir>',
        'the Hugging Face hub cache folder (default: HF_HUB_CACHE, or ~/.cache/huggingface/hub)',
      ),
    )
    .addOption(
      new Option(
        '--threads <n>',
        "ONNX Runtime threads per model, intraOpNumThreads (default: ONNX Runtime's choice)",
      ).argParser(integerIn(1, 1024)),
    )
    .addOption(
      new Option('--out <file>', 'PNG file to write (*.png)')
        .argParser(fileWithExtension('.png', 'PNG'))
        .default('out/image.png'),
    )
    .addOption(new Option('--no-progress', 'no progress bars'))
    .addOption(verboseOption());
  generate.action(async (flags, command: Command) => {
    const guided = flags.guidanceScale > 1;
    const usage = (message: string) => command.error(`error: ${message}`, { exitCode: 2 });
    if (flags.strength !== undefined && flags.image === undefined) {
      usage('--strength is for image-to-image: pass --image <file.png>');
    }
    if (flags.negativePrompt !== undefined && !guided) {
      usage('--negative-prompt acts through guidance: pass --guidance-scale > 1');
    }
    if (flags.guidanceRescale !== undefined && flags.guidanceRescale > 0 && !guided) {
      usage('--guidance-rescale acts on guided predictions: pass --guidance-scale > 1');
    }
    return generateCommand(flags, ctx);
  });
}

export function buildProgram(ctx: CliContext, version: string): Command {
  const program = new Command('ddim')
    .description(
      "diffusers-exact DDIM sampling in JavaScript: sample images from an exact image model, generate with Stable Diffusion ONNX models, inspect schedules, and check the DDIM and zero-SNR papers' claims",
    )
    .version(version, '-V, --version')
    .addOption(verboseOption())
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
    })
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true);

  addOverrides(
    program
      .command('sample')
      .description(
        'sample a grid of images from the exact model of the built-in shapes dataset; writes a PNG and prints steps, time and quality',
      )
      .addOption(stepsOption(50))
      .addOption(etaOption())
      .addOption(seedOption())
      .addOption(new Option('--config <source>', CONFIG_HELP).default('ddim'))
      .addOption(
        new Option('--count <n>', 'number of images to sample').argParser(integerIn(1, 256)).default(16),
      )
      .addOption(
        new Option('--size <px>', 'image size of the dataset and samples')
          .argParser(integerIn(8, 64))
          .default(32),
      )
      .addOption(
        new Option(
          '--shape <kind>',
          'condition on one shape of the dataset (class-conditional exact model)',
        ).choices([...SHAPE_KINDS]),
      )
      .addOption(
        new Option('--guidance-scale <w>', 'classifier-free guidance scale with --shape (<= 1: no guidance)')
          .argParser(numberIn(0, 100, 'a scale'))
          .default(1),
      )
      .addOption(
        new Option(
          '--guidance-rescale <phi>',
          "guidance rescale (diffusers' rescale_noise_cfg) with --guidance-scale > 1",
        )
          .argParser(numberIn(0, 1, 'a fraction'))
          .default(0),
      )
      .addOption(
        new Option('--out <file>', 'PNG file to write (*.png)')
          .argParser(fileWithExtension('.png', 'PNG'))
          .default('out/samples.png'),
      )
      .addOption(new Option('--no-progress', 'no progress bar'))
      .addOption(verboseOption()),
  ).action(async (flags, command: Command) => {
    // Guidance needs a condition, and the rescale acts only on a guided prediction: say so rather
    // than silently ignoring the flag.
    if (flags.guidanceScale !== 1 && flags.shape === undefined) {
      command.error('error: --guidance-scale needs a condition: pass --shape <kind>', { exitCode: 2 });
    }
    if (flags.guidanceRescale > 0 && !(flags.guidanceScale > 1)) {
      command.error(
        'error: --guidance-rescale acts on guided predictions: pass --guidance-scale > 1 with --shape',
        {
          exitCode: 2,
        },
      );
    }
    return sampleCommand(flags, ctx);
  });

  addOverrides(
    program
      .command('timesteps')
      .description('table of the inference timesteps with prev t, alpha_bar, SNR and sigma_t for an eta')
      .addOption(stepsOption(10))
      .addOption(etaOption())
      .addOption(new Option('--config <source>', CONFIG_HELP).default('ddim'))
      .addOption(new Option('--json', 'print JSON instead of a table'))
      .addOption(verboseOption()),
  ).action(async (flags) => timestepsCommand(flags, ctx));

  addOverrides(
    program
      .command('plot')
      .description(
        'SVG chart of alpha_bar and log-SNR against t, chosen timesteps marked (default: sd vs sd-zero-snr)',
      )
      .addOption(
        new Option(
          '--config <source>',
          `${CONFIG_HELP}; repeat to compare (default: sd and sd-zero-snr)`,
        ).argParser(collect),
      )
      .addOption(stepsOption(10))
      .addOption(
        new Option('--out <file>', 'SVG file to write (*.svg)')
          .argParser(fileWithExtension('.svg', 'SVG'))
          .default('out/schedules.svg'),
      )
      .addOption(verboseOption()),
  ).action(async (flags) => plotCommand(flags, ctx));

  const experiment = program
    .command('experiment')
    .description(
      "the papers' claims, asked of exact denoisers: table1 (DDIM, Song et al.), brightness (zero SNR, Lin et al.)",
    );
  experiment
    .command('table1')
    .description(
      "the DDIM paper's Table 1 for an exact 2-D Gaussian-mixture denoiser: MMD^2 to the true mixture for S x eta, beside the noise floor",
    )
    .addOption(
      new Option('--samples <n>', 'points per cell (N); the noise floor shrinks as 1/N')
        .argParser(integerIn(10, 100_000))
        .default(2000),
    )
    .addOption(seedOption())
    .addOption(new Option('--out <dir>', 'folder for table1.md and table1.json').default('out'))
    .addOption(new Option('--no-progress', 'no progress bar'))
    .addOption(verboseOption())
    .action(async (flags) => table1Command(flags, ctx));
  experiment
    .command('brightness')
    .description(
      "the zero-SNR paper's claim on the exact image model: spread of sample brightness, leading + epsilon vs zero-SNR + v + trailing",
    )
    .addOption(new Option('--samples <n>', 'images per schedule').argParser(integerIn(2, 1024)).default(64))
    .addOption(stepsOption(50))
    .addOption(seedOption())
    .addOption(new Option('--out <dir>', 'folder for brightness.md, .json and .png').default('out'))
    .addOption(new Option('--no-progress', 'no progress bar'))
    .addOption(verboseOption())
    .action(async (flags) => brightnessCommand(flags, ctx));

  addGenerate(program, ctx);

  program
    .command('bench')
    .description('run the benchmarks (all, or the ones named), as npm run bench does')
    .argument('[names...]', 'benchmarks to run (default: all)')
    .addOption(
      new Option('--time <ms>', 'milliseconds of measurement per task').argParser(
        numberIn(1, 600_000, 'a time'),
      ),
    )
    .addOption(verboseOption())
    .action(async (names: string[], flags, command: Command) => benchCommand(names, flags, ctx, command));

  return program;
}

/** Run the CLI on `argv` (without node and the script) and return the exit code. */
export async function run(argv: string[], ctx: CliContext, version: string): Promise<number> {
  const program = buildProgram(ctx, version);
  // Every command accepts --verbose (so each --help lists it); it is read here, once, rather than
  // from whichever command's parsed flags hold it.
  if (argv.includes('--verbose')) ctx.verbose = true;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has already printed the message (or the help / version text).
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return EXIT_OK;
      if (error.code === 'commander.help') return error.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
      return EXIT_USAGE;
    }
    reportError(error, ctx);
    return EXIT_FAILURE;
  }
}

function reportError(error: unknown, ctx: CliContext): void {
  if (error instanceof DdimError) {
    ctx.stderr.write(`error: ${error.message}\n`);
  } else if (error instanceof Error) {
    // File-system errors (EACCES, ENOSPC, ...) carry a useful message; anything else is a bug.
    const code = (error as NodeJS.ErrnoException).code;
    ctx.stderr.write(
      code ? `error: ${error.message}\n` : `error: unexpected ${error.name}: ${error.message}\n`,
    );
  } else {
    ctx.stderr.write(`error: ${String(error)}\n`);
  }
  if (ctx.verbose && error instanceof Error && error.stack) ctx.stderr.write(`${error.stack}\n`);
  else if (!(error instanceof DdimError)) ctx.stderr.write('(run with --verbose for the stack trace)\n');
}
