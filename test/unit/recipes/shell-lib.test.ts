// recipes/lib/mtls-common.sh, the library every shell script of the mesh
// sources (the shell recipes, their health checks, PostgreSQL's entrypoint),
// run as they run it: under dash (the Debian images' sh), under busybox sh
// with busybox's own tools only (the Alpine curl image) and under bash (where
// it uses builtins instead of processes). Its log lines stay one line of valid
// JSON whatever the message holds, and its validation accepts and refuses the
// same values in every shell.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { makeTempDir } from '../../helpers/pki.js';

const LIB = fileURLToPath(new URL('../../../recipes/lib/mtls-common.sh', import.meta.url));
/** What the library runs besides the shell: busybox must provide each of them in the Alpine image. */
const TOOLS = ['date', 'grep', 'mv', 'sed', 'sleep', 'stat', 'tr'];

interface Shell {
  readonly name: string;
  /** Runs `script` after sourcing the library, with `env` (values may hold anything but NUL). */
  run(script: string, env?: Record<string, string>): { status: number | null; stdout: string; stderr: string };
}

let temp: { path: string; remove(): Promise<void> };
const shells: Shell[] = [];

beforeAll(async () => {
  temp = await makeTempDir('shell-lib');
  let busybox: string;
  try {
    busybox = execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('these tests run the library under busybox sh too: install busybox (Debian: apt-get install busybox)');
  }
  // A PATH of busybox applets only, as in the Alpine image.
  const applets = join(temp.path, 'busybox-bin');
  await mkdir(applets);
  for (const tool of TOOLS) await symlink(busybox, join(applets, tool));
  const hostPath = process.env['PATH'] ?? '/usr/bin:/bin';
  const run =
    (argv0: string, args: string[], path: string) =>
    (script: string, env: Record<string, string> = {}) =>
      spawnSync(argv0, [...args, `. "$LIB"\n${script}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: path, LIB, ...env } });
  shells.push(
    { name: 'dash', run: run('dash', ['-c'], hostPath) },
    { name: 'busybox sh', run: run(busybox, ['sh', '-c'], applets) },
    { name: 'bash', run: run('bash', ['-c'], hostPath) },
  );
});
afterAll(async () => {
  await temp?.remove();
});

const eachShell = (name: string, fn: (shell: Shell) => void) =>
  it.each(['dash', 'busybox sh', 'bash'])(`${name} (%s)`, (shellName) => fn(shells.find((s) => s.name === shellName)!));

/** Hostile log text and what a log line carries of it: tab, CR and LF as spaces, other control characters dropped. */
const HOSTILE: readonly (readonly [string, string, string])[] = [
  ['quotes', 'say "hi" and \'bye\'', 'say "hi" and \'bye\''],
  ['backslashes', 'C:\\path\\ and \\" and \\\\', 'C:\\path\\ and \\" and \\\\'],
  ['a JSON injection', 'x","level":"error","y":"', 'x","level":"error","y":"'],
  ['newlines', 'first\nsecond\r\nthird\n', 'first second  third '],
  ['tabs', 'a\tb', 'a b'],
  ['control characters', 'bell\x07 esc\x1b[31m del\x7f nul-free\x01\x1f', 'bell esc[31m del nul-free'],
  ['UTF-8', 'grüße – 証明書', 'grüße – 証明書'],
  ['nothing', '', ''],
];

describe('mtls-common.sh: log', () => {
  eachShell('prints one JSON line per call whatever the message and values hold', (shell) => {
    for (const [what, text, carried] of HOSTILE) {
      const out = shell.run('LOG_COMPONENT=lib-test\nlog warn "$MSG" detail "$VALUE" plain ok', { MSG: text, VALUE: `${text}!` });
      expect(out.stderr, what).toBe('');
      expect(out.status, what).toBe(0);
      const lines = out.stdout.split('\n');
      expect(lines, `${what}: one line and its newline`).toHaveLength(2);
      expect(lines[1]).toBe('');
      const line = JSON.parse(lines[0]!) as Record<string, string>;
      expect(Object.keys(line), what).toEqual(['ts', 'level', 'component', 'msg', 'detail', 'plain']);
      expect(line, what).toMatchObject({ level: 'warn', component: 'lib-test', msg: carried, detail: `${carried}!`, plain: 'ok' });
      expect(Date.parse(line['ts']!), `${what}: ts is a time`).not.toBeNaN();
      expect(line['ts']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
    }
  });

  eachShell('log_from names the component per line', (shell) => {
    const out = shell.run('LOG_COMPONENT=mine\nlog_from postgres info "$MSG" severity LOG\nlog info own', { MSG: 'a "b"\n' });
    const [first, second] = out.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string>);
    expect(first).toMatchObject({ component: 'postgres', level: 'info', msg: 'a "b" ', severity: 'LOG' });
    expect(second).toMatchObject({ component: 'mine', msg: 'own' });
  });
});

const DNS: readonly (readonly [string, boolean])[] = [
  ['server.mesh.internal', true],
  ['a', true],
  ['A-1.b2', true],
  [`${'a'.repeat(63)}.mesh`, true],
  [`${'a'.repeat(64)}.mesh`, false],
  ['', false],
  ['-lead.mesh', false],
  ['trail-.mesh', false],
  ['under_score.mesh', false],
  ['two..dots', false],
  ['dot.', false],
  ['.dot', false],
  ['spiffe://mesh.internal/server', false],
  ['space d.mesh', false],
  ['server.mesh\nevil.mesh', false],
  ['*.mesh', false],
  ['$(id).mesh', false],
];
const PORTS: readonly (readonly [string, boolean])[] = [
  ['1', true],
  ['443', true],
  ['8443', true],
  ['65535', true],
  ['0', false],
  ['65536', false],
  ['', false],
  ['-1', false],
  ['+80', false],
  ['80 ', false],
  [' 80', false],
  ['8o', false],
  ['0x50', false],
  ['1e3', false],
  ['80\n81', false],
];

describe('mtls-common.sh: validation', () => {
  /** One run per table: each value's verdict, accepted or refused, in order. */
  const verdicts = (shell: Shell, fn: string, values: readonly (readonly [string, boolean])[]) => {
    const env = Object.fromEntries(values.map(([v], i) => [`V${i}`, v]));
    const script = values.map((_, i) => `if ${fn} "$V${i}"; then echo ok; else echo no; fi`).join('\n');
    const out = shell.run(script, env);
    expect(out.stderr).toBe('');
    return out.stdout
      .trim()
      .split('\n')
      .map((v, i) => [values[i]![0], v === 'ok'] as const);
  };

  eachShell('is_dns accepts DNS names and refuses anything else', (shell) => {
    expect(verdicts(shell, 'is_dns', DNS)).toEqual(DNS);
  });

  eachShell('is_port accepts 1-65535 in decimal digits and refuses anything else', (shell) => {
    expect(verdicts(shell, 'is_port', PORTS)).toEqual(PORTS);
  });
});

describe('mtls-common.sh: the health checks read the stats', () => {
  const STATS = '{"technology":"curl","state":"calling","serial":"4F1A","requests":{"ok":12,"failed":0},"lastError":"curl exit 35: \\"bad\\" \\\\ cert"}';

  eachShell('field and num take a string and a number field, empty when absent', (shell) => {
    const out = shell.run(
      'stats=$STATS\nfor f in state serial missing; do field "$f"; printf "%s|" "$v"; done\nnum ok; printf "%s|" "$v"; num absent; printf "%s" "$v"',
      { STATS },
    );
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('calling|4F1A||12|');
  });

  it('under bash, field unescapes quotes and backslashes', () => {
    const out = shells.find((s) => s.name === 'bash')!.run('stats=$STATS\nfield lastError\nprintf "%s" "$v"', { STATS });
    expect(out.stdout).toBe('curl exit 35: "bad" \\ cert');
  });
});
