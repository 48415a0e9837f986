import { format } from 'node:util';

import { chalk, spinner } from 'zx';

import { UserError } from '../../../common/user-error.js';

/**
 * Characters a terminal acts on instead of showing: C0 controls (ESC starts
 * the escape sequences that clear, move or retitle; CR overwrites a line),
 * DEL, C1 controls (U+009B is a one-character CSI), and the Unicode format
 * characters that reorder or break what is shown (bidi marks, embeddings,
 * overrides and isolates; line and paragraph separators). Text from a
 * workload (lastError, health lines, logs) can hold any of them.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is this pattern's job
const UNSAFE_IN_LINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;
/** The same, keeping tab and newline: what a printed message may hold. */
// eslint-disable-next-line no-control-regex -- as above
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

/**
 * `text` with every unsafe character shown as its escape (`\u001b`), so it
 * is seen, never acted on. The escape is JSON's own: inside a JSON document
 * the text means exactly what it meant before. `multiline` keeps newlines
 * and tabs; a table cell or a step title has neither.
 */
export function safeText(text: string, opts: { multiline?: boolean } = {}): string {
  return text.replace(opts.multiline ? UNSAFE : UNSAFE_IN_LINE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

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
    if (!json && !opts.quiet) process.stderr.write(`${safeText(line, { multiline: true })}\n`);
  };
  return {
    json,
    async step(unsafeTitle, work) {
      const title = safeText(unsafeTitle);
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
      if (!json) process.stderr.write(`${chalk.yellow('!')} ${safeText(line, { multiline: true })}\n`);
    },
  };
}

export function seconds(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/** A plain aligned table; columns are the keys of the first row; every cell one safe line. */
export function table(rows: ReadonlyArray<Record<string, string | number>>): string {
  if (rows.length === 0) return '(none)';
  const columns = Object.keys(rows[0]!);
  const cells = rows.map((r) => columns.map((c) => safeText(String(r[c] ?? ''))));
  const header = columns.map((c) => safeText(c));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '─'.repeat(w))), ...cells.map(line)].join('\n');
}

/**
 * Makes console.log, info, warn and error print safe text (safeText,
 * newlines kept): what a script prints reaches a terminal only through them
 * or through Ui, so no caller has to remember. main() installs it.
 */
export function guardConsole(): void {
  const to =
    (stream: NodeJS.WriteStream) =>
    (...args: unknown[]) =>
      void stream.write(`${safeText(format(...args), { multiline: true })}\n`);
  console.log = to(process.stdout);
  console.info = to(process.stdout);
  console.warn = to(process.stderr);
  console.error = to(process.stderr);
}

export { UserError };

/** Entry-point wrapper: output made safe, user errors print cleanly, everything exits non-zero. */
export async function main(run: () => Promise<void>): Promise<void> {
  guardConsole();
  try {
    await run();
  } catch (err) {
    const text = err instanceof UserError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`${chalk.red('error:')} ${safeText(text, { multiline: true })}\n`);
    process.exitCode = 1;
  }
}
