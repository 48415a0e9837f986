import { afterEach, describe, expect, it, vi } from 'vitest';

import { createUi, main, safeText, table, UserError } from '../../../../scripts/lib/cli/ui.js';

/**
 * What a workload can put in its lastError, health line or log: clear the
 * screen, retitle the window (OSC … BEL), go back to the start of the line,
 * a one-character CSI (C1), DEL, and bidi overrides/isolates that show
 * `exe.txt` for `txt.exe`.
 */
const HOSTILE = 'refused\u001b[2J\u001b]0;owned\u0007\rOK \u009b31mred \u202Etxt.exe\u202C \u2066x\u2069 \u007f\u0000end';
/** Each hostile character above, raw. */
const RAW = /[\u0000\u0007\u001b\r\u007f\u009b\u202c\u202e\u2066\u2069]/;
const SHOWN = 'refused\\u001b[2J\\u001b]0;owned\\u0007\\u000dOK \\u009b31mred \\u202etxt.exe\\u202c \\u2066x\\u2069 \\u007f\\u0000end';

describe('safeText', () => {
  it('shows every control and bidi character as its escape, never raw', () => {
    expect(safeText(HOSTILE)).toBe(SHOWN);
    expect(safeText(HOSTILE)).not.toMatch(RAW);
  });

  it('keeps newlines and tabs only where lines are allowed; plain text and other Unicode unchanged', () => {
    expect(safeText('a\tb\nc')).toBe('a\\u0009b\\u000ac');
    expect(safeText('a\tb\nc', { multiline: true })).toBe('a\tb\nc');
    expect(safeText('└─ ✔ café 10 ms', { multiline: true })).toBe('└─ ✔ café 10 ms');
  });

  it("is JSON's own escape: a JSON document means the same after it", () => {
    const doc = JSON.stringify({ lastError: HOSTILE });
    expect(JSON.parse(safeText(doc))).toEqual({ lastError: HOSTILE });
  });
});

describe('table', () => {
  it('aligns columns to the widest cell, underlines the header and trims trailing space', () => {
    const text = table([
      { name: 'server', requests: 1200, state: 'ok' },
      { name: 'client-long-name', requests: 7, state: 'renewing' },
    ]);
    expect(text.split('\n')).toEqual([
      'name              requests  state',
      '────────────────  ────────  ────────',
      'server            1200      ok',
      'client-long-name  7         renewing',
    ]);
  });

  it('takes the columns from the first row and leaves missing cells empty', () => {
    const text = table([{ a: 'x', b: 'y' }, { a: 'longer' }, { b: 'z', c: 'ignored' }]);
    expect(text.split('\n')).toEqual(['a       b', '──────  ─', 'x       y', 'longer', '        z']);
  });

  it('shows a hostile cell escaped on one line, and aligns by what is shown', () => {
    const text = table([
      { workload: 'client', lastError: HOSTILE },
      { workload: 'server', lastError: 'line one\nline two' },
    ]);
    expect(text).not.toMatch(RAW);
    const lines = text.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[2]).toBe(`client    ${SHOWN}`);
    expect(lines[3]).toBe('server    line one\\u000aline two');
    expect(lines[1]).toBe(`────────  ${'─'.repeat(SHOWN.length)}`);
  });

  it('says "(none)" for no rows', () => {
    expect(table([])).toBe('(none)');
  });
});

describe('UserError', () => {
  it('is an Error named UserError carrying its message', () => {
    const error = new UserError('do this next');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('UserError');
    expect(error.message).toBe('do this next');
  });
});

describe('every human output is safe', () => {
  const console0 = { log: console.log, info: console.info, warn: console.warn, error: console.error };
  const exitCode0 = process.exitCode;
  afterEach(() => {
    Object.assign(console, console0);
    process.exitCode = exitCode0;
    vi.restoreAllMocks();
  });

  /** Everything written to stdout and stderr while `run` runs. */
  async function written(run: () => Promise<void>): Promise<string> {
    let out = '';
    const capture = (chunk: string | Uint8Array) => ((out += String(chunk)), true);
    vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    await run();
    vi.restoreAllMocks();
    return out;
  }

  it('step titles, info and warnings', async () => {
    const out = await written(async () => {
      const ui = createUi({});
      await ui.step(`reload ${HOSTILE}`, async () => undefined);
      ui.info(`health: ${HOSTILE}`);
      ui.warn(`log: ${HOSTILE}`);
    });
    expect(out.replace(/\u001b\[[0-9;]*m/g, '')).not.toMatch(RAW); // only our own colours stay
    expect(out).toContain(`reload ${SHOWN}`);
    expect(out).toContain(`health: ${SHOWN}\n`);
    expect(out).toContain(`log: ${SHOWN}\n`);
  });

  it('what a script prints with console.log or console.error under main(), and the error main() prints', async () => {
    const out = await written(() =>
      main(async () => {
        console.log('CA root: unknown (%s)', HOSTILE);
        console.error(`problem: ${HOSTILE}\n  next line`);
        throw new UserError(`server: ${HOSTILE}`);
      }),
    );
    expect(process.exitCode).toBe(1);
    expect(out.replace(/\u001b\[[0-9;]*m/g, '')).not.toMatch(RAW);
    expect(out).toContain(`CA root: unknown (${SHOWN})\n`);
    expect(out).toContain(`problem: ${SHOWN}\n  next line\n`);
    expect(out).toContain(`server: ${SHOWN}\n`);
  });
});
