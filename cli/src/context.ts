/** What a command needs from the outside world: where to print, and how loudly. */
export interface CliContext {
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Print stack traces of unexpected errors. */
  verbose: boolean;
  /** Report a non-fatal notice (unused config keys, ...) on stderr. */
  warn(message: string): void;
  /** Print a line on stdout. */
  print(text?: string): void;
}

export function processContext(): CliContext {
  const ctx: CliContext = {
    stdout: process.stdout,
    stderr: process.stderr,
    verbose: Boolean(process.env.DEBUG),
    warn(message) {
      process.stderr.write(`warning: ${message}\n`);
    },
    print(text = '') {
      process.stdout.write(`${text}\n`);
    },
  };
  return ctx;
}
