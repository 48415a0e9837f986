import { chalk, spinner } from 'zx';

/**
 * Progress output for people, silence for machines. Spinners are off under CI
 * (logs are read afterwards, one line per step is what helps there) and in
 * --json mode, where stdout carries only the JSON document.
 */
export interface Ui {
  readonly json: boolean;
  step<T>(title: string, work: () => Promise<T>): Promise<T>;
  info(line: string): void;
  warn(line: string): void;
}

export function createUi(opts: { json?: boolean; quiet?: boolean } = {}): Ui {
  const json = Boolean(opts.json);
  const interactive = !json && !opts.quiet && !process.env.CI && process.stderr.isTTY;
  const say = (line: string) => {
    if (!json && !opts.quiet) process.stderr.write(`${line}\n`);
  };
  return {
    json,
    async step(title, work) {
      const started = Date.now();
      try {
        const result = interactive ? await spinner(title, work) : (say(`… ${title}`), await work());
        say(`${chalk.green('✔')} ${title} ${chalk.dim(`(${seconds(started)})`)}`);
        return result;
      } catch (err) {
        // Failures are always shown, even in quiet mode: they say what to do next.
        process.stderr.write(`${chalk.red('✘')} ${title} ${chalk.dim(`(${seconds(started)})`)}\n`);
        throw err;
      }
    },
    info: say,
    warn: (line) => {
      if (!json) process.stderr.write(`${chalk.yellow('!')} ${line}\n`);
    },
  };
}

export function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/** A plain aligned table; columns are the keys of the first row. */
export function table(rows: ReadonlyArray<Record<string, string | number>>): string {
  if (rows.length === 0) return '(none)';
  const columns = Object.keys(rows[0]!);
  const width = (c: string) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length));
  const widths = columns.map(width);
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [
    line(columns),
    line(widths.map((w) => '─'.repeat(w))),
    ...rows.map((r) => line(columns.map((c) => String(r[c] ?? '')))),
  ].join('\n');
}

/** An error whose message already says what happened and what to do next. */
export class UserError extends Error {
  override readonly name = 'UserError';
}

/** Entry-point wrapper: user errors print cleanly, everything exits non-zero. */
export async function main(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (err) {
    if (err instanceof UserError) {
      process.stderr.write(`${chalk.red('error:')} ${err.message}\n`);
    } else {
      process.stderr.write(`${chalk.red('error:')} ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    process.exitCode = 1;
  }
}
