// The recipes' health checks (recipes/*/mtls-health*) on the host, against
// stats files written here: one line in the stack's vocabulary (ready /
// waiting / starting / unhealthy), exit 0 only when ready. The Go recipe's
// check has its own test (recipes/go/health_test.go, run by native-tests).
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const RECIPES = path.resolve(import.meta.dirname, '../../../recipes');
/** recipes/lib on PATH: the health checks source mtls-common.sh from there, as from /usr/local/bin in the images. */
const PATH = [path.join(RECIPES, 'lib'), process.env.PATH].join(path.delimiter);
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'recipe-health-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const iso = (offsetS = 0) => new Date(Date.now() + offsetS * 1000).toISOString();
const statsFile = () => path.join(dir, 'stats.json');

/** Runs a health script with its interpreter and only the given environment; exit code and the single line it printed. */
function health(interpreter: string, script: string, env: Record<string, string> = {}): Promise<[number | null, string]> {
  return new Promise((resolve) => {
    const child = execFile(
      interpreter,
      [path.join(RECIPES, script)],
      { env: { PATH, STATS_FILE: statsFile(), ...env }, timeout: 10_000 },
      (error, stdout, stderr) => {
        expect(stderr).toBe('');
        expect(stdout.split('\n').filter(Boolean)).toHaveLength(1);
        resolve([error ? child.exitCode : 0, stdout.trim()]);
      },
    );
  });
}

async function stats(fields: Record<string, unknown>, opts: { pythonStyle?: boolean; ageS?: number } = {}) {
  // json.dump writes `"key": value` and no final newline; the shell recipes `"key":value\n`.
  const text = opts.pythonStyle ? JSON.stringify(fields).replace(/":/g, '": ').replace(/,"/g, ', "') : `${JSON.stringify(fields)}\n`;
  await writeFile(statsFile(), text);
  if (opts.ageS) {
    const then = new Date(Date.now() - opts.ageS * 1000);
    await utimes(statsFile(), then, then);
  }
}

describe.each([
  ['curl', 'sh', 'curl/mtls-health.sh'],
  ['nginx', 'sh', 'nginx/mtls-health.sh'],
  ['psql', 'bash', 'psql/mtls-health'],
  ['python', 'bash', 'python/mtls-health'],
  ['postgres', 'bash', 'postgres/mtls-health'],
] as const)('%s', (technology, sh, script) => {
  const python = technology === 'python';
  it('starting: no stats file yet (exit 1)', async () => {
    const [code, line] = await health(sh, script);
    expect([code, line]).toEqual([1, expect.stringMatching(/^starting: no stats/)]);
  });

  it('waiting: before the first certificate (exit 1: up, not ready)', async () => {
    await stats({ technology, state: 'waiting', phase: 'waiting for the first certificate in /var/run/step', updatedAt: iso() }, { pythonStyle: python });
    const [code, line] = await health(sh, script);
    expect([code, line]).toEqual([1, expect.stringMatching(/^waiting: .*(first )?certificate/)]);
  });

  it('unhealthy: stats that stopped changing', async () => {
    await stats(
      { technology, state: technology === 'curl' || technology === 'psql' ? 'calling' : 'serving', serial: '4F1A', notAfter: iso(300), updatedAt: iso(-600) },
      { pythonStyle: python, ageS: 600 },
    );
    const [code, line] = await health(sh, script);
    expect([code, line]).toEqual([1, expect.stringMatching(/^unhealthy: stats not updated/)]);
  });

  it('unhealthy: a failing state, with its reason', async () => {
    await stats(
      { technology, state: 'failing', serial: '4F1A', lastError: 'certificate 4F1A expired', consecutiveFailures: 3, updatedAt: iso() },
      { pythonStyle: python },
    );
    const [code, line] = await health(sh, script);
    expect([code, line]).toEqual([1, expect.stringMatching(/^unhealthy: .*certificate 4F1A expired/)]);
  });
});

describe.each([
  ['curl', 'sh', 'curl/mtls-health.sh'],
  ['nginx', 'sh', 'nginx/mtls-health.sh'],
  ['psql', 'bash', 'psql/mtls-health'],
  ['python', 'bash', 'python/mtls-health'],
] as const)('%s: credentials refused before any load', (technology, sh, script) => {
  it('is unhealthy, not waiting, and says why', async () => {
    await stats(
      { technology, state: 'waiting', lastError: 'root.crt holds a root that is not pinned', updatedAt: iso() },
      { pythonStyle: technology === 'python' },
    );
    expect(await health(sh, script)).toEqual([1, 'unhealthy: credentials refused, none loaded: root.crt holds a root that is not pinned']);
  });
});

describe('ready', () => {
  it('curl: calling with its credentials', async () => {
    await stats({ technology: 'curl', state: 'calling', serial: '4F1A', lastOkAt: iso(), requests: { ok: 12 }, consecutiveFailures: 0, updatedAt: iso() });
    expect(await health('sh', 'curl/mtls-health.sh')).toEqual([0, expect.stringMatching(/^ready: calling with certificate 4F1A; 12 ok, the last at /)]);
  });

  it('psql and python: a valid certificate in use (and unhealthy once it expired)', async () => {
    const notAfter = iso(300);
    await stats({ technology: 'psql', state: 'calling', serial: '4F1A', notAfter, updatedAt: iso() });
    expect(await health('bash', 'psql/mtls-health')).toEqual([0, `ready: calling with certificate 4F1A until ${notAfter}`]);
    await stats({ technology: 'python', state: 'serving', serial: '4F1A', notAfter, updatedAt: iso() }, { pythonStyle: true });
    expect(await health('bash', 'python/mtls-health')).toEqual([0, `ready: serving with certificate 4F1A until ${notAfter}`]);
    const expired = iso(-1);
    await stats({ technology: 'python', state: 'serving', serial: '4F1A', notAfter: expired, updatedAt: iso() }, { pythonStyle: true });
    expect(await health('bash', 'python/mtls-health')).toEqual([1, `unhealthy: certificate 4F1A expired at ${expired}`]);
  });
});

describe('postgres: the health line names the phase; ready only when the TCP port answers TLS', () => {
  /** A stand-in pg_isready that exits with `code` and records its arguments. */
  async function pgIsready(code: number) {
    await writeFile(path.join(dir, 'pg_isready'), `#!/bin/sh\necho "$@" >${path.join(dir, 'pg_isready.args')}\nexit ${code}\n`);
    await chmod(path.join(dir, 'pg_isready'), 0o755);
    return { PG_BIN: dir, LISTEN_PORT: '5432' };
  }

  it('starting: initdb, then the roles (never stale: initdb writes nothing while it runs)', async () => {
    await stats({ technology: 'postgres', state: 'starting', phase: 'initialising the cluster (initdb)', updatedAt: iso(-120) }, { ageS: 120 });
    expect(await health('bash', 'postgres/mtls-health')).toEqual([1, 'starting: initialising the cluster (initdb)']);
  });

  it('waiting: for the root pin, then for the first certificate', async () => {
    await stats({ technology: 'postgres', state: 'waiting', phase: 'waiting for the root pin /var/run/mtls-trust/root-fingerprints', updatedAt: iso() });
    expect(await health('bash', 'postgres/mtls-health')).toEqual([1, 'waiting: for the root pin /var/run/mtls-trust/root-fingerprints']);
  });

  it('serving: ready when pg_isready gets a TLS answer on 127.0.0.1, over TCP with sslmode=require', async () => {
    const notAfter = iso(300);
    await stats({ technology: 'postgres', state: 'serving', serial: '4F1A', notAfter, updatedAt: iso() });
    expect(await health('bash', 'postgres/mtls-health', await pgIsready(0))).toEqual([
      0,
      `ready: serving TLS on port 5432 with certificate 4F1A until ${notAfter}`,
    ]);
    expect(await readFile(path.join(dir, 'pg_isready.args'), 'utf8')).toBe(
      '-q -t 2 -d host=127.0.0.1 port=5432 dbname=postgres user=mtls_health sslmode=require gssencmode=disable\n',
    );
  });

  it('serving, but the port does not answer TLS: unhealthy; answering but not accepting yet: starting', async () => {
    await stats({ technology: 'postgres', state: 'serving', serial: '4F1A', notAfter: iso(300), updatedAt: iso() });
    expect(await health('bash', 'postgres/mtls-health', await pgIsready(2))).toEqual([
      1,
      'unhealthy: no TLS answer on 127.0.0.1:5432 (stats say serving certificate 4F1A)',
    ]);
    expect(await health('bash', 'postgres/mtls-health', await pgIsready(1))).toEqual([
      1,
      'starting: port 5432 answers but PostgreSQL is not accepting connections yet',
    ]);
  });
});
