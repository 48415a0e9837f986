// The renewer's health check (`mtls-renewer health`, images/step-ca/renewer.sh)
// reads the state file its loop writes and compares the stored notAfter with
// the clock: one line in the stack's vocabulary (ready / waiting / starting /
// unhealthy), no step process, nothing that can block. Run on the host with
// bash against a temporary directory; the last case runs the loop with the
// real step CLI when the toolchain has cached one.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { $ } from 'zx';

import { normaliseSerial } from '../../../common/serial.js';

const RENEWER = path.resolve(import.meta.dirname, '../../../images/step-ca/renewer.sh');
/** The shell library the renewer sources from PATH (recipes/lib/mtls-common.sh). */
const SHELL_LIB = path.resolve(import.meta.dirname, '../../../recipes/lib');
let dir: string;
let loop: ChildProcess | undefined;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'renewer-health-'));
  await mkdir(path.join(dir, 'certs'));
});
afterEach(async () => {
  loop?.kill('SIGKILL');
  loop = undefined;
  await rm(dir, { recursive: true, force: true });
});

const now = () => Math.floor(Date.now() / 1000);
const iso = (epoch: number) => new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
const BASH = (await $({ quiet: true })`command -v bash`).stdout.trim();
const run = (file: string, args: string[], env: Record<string, string>) =>
  new Promise<{ exitCode: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(file, args, { env }, (error, stdout, stderr) => resolve({ exitCode: error ? (child.exitCode ?? null) : 0, stdout, stderr }));
  });

/**
 * The health check with an empty PATH: it must get by on bash builtins, so
 * any command it ran (step, date, cat, stat) would fail and show in stderr.
 */
async function health(env: Record<string, string> = {}) {
  const out = await run(BASH, [RENEWER, 'health'], {
    PATH: path.join(dir, 'empty'),
    CERT_DIR: path.join(dir, 'certs'),
    STATE_FILE: path.join(dir, 'state'),
    ...env,
  });
  expect(out.stderr).toBe('');
  expect(out.stdout.split('\n').filter(Boolean)).toHaveLength(1);
  return [out.exitCode, out.stdout.trim()] as const;
}

async function writeState(fields: Record<string, string | number>, beat: number = now()) {
  await writeFile(
    path.join(dir, 'state'),
    Object.entries(fields)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
  );
  await writeFile(path.join(dir, 'state.beat'), `${beat}\n`);
}

describe("renewer health: reads the loop's state, runs nothing", () => {
  it('starting: before the loop has written its state', async () => {
    expect(await health()).toEqual([1, `starting: the renewal loop has not written ${path.join(dir, 'state')} yet`]);
  });

  it('waiting: the loop, before enrollment, says so (exit 1: up, but not ready)', async () => {
    loop = spawn('bash', [RENEWER], {
      env: {
        PATH: `${SHELL_LIB}:${process.env.PATH}`,
        CERT_DIR: path.join(dir, 'certs'),
        STATE_FILE: path.join(dir, 'state'),
        CA_URL: 'https://ca.invalid:9000',
        CHECK_INTERVAL_SECONDS: '1',
      },
    });
    const deadline = Date.now() + 10_000;
    while (!existsSync(path.join(dir, 'state')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(await health()).toEqual([1, 'waiting: no certificate yet: enrollment (npm run enroll) writes site.crt and site.key']);
  });

  it('ready: a verified pair whose stored notAfter is ahead of the clock', async () => {
    const notAfter = now() + 300;
    await writeState({ phase: 'ok', serial: '4F1A', not_after: notAfter, renew_at: notAfter - 100, since: '', detail: 'last renewed at 2030-01-01T00:00:00Z' });
    expect(await health()).toEqual([
      0,
      `ready: certificate 4F1A valid until ${iso(notAfter)}; renews at about ${iso(notAfter - 100)}; last renewed at 2030-01-01T00:00:00Z`,
    ]);
  });

  it('unhealthy: the stored notAfter has passed, whatever the loop last said', async () => {
    const notAfter = now() - 5;
    await writeState({ phase: 'ok', serial: '4F1A', not_after: notAfter, renew_at: notAfter - 100, since: '', detail: '' });
    expect(await health()).toEqual([1, `unhealthy: certificate 4F1A expired at ${iso(notAfter)}`]);
  });

  it('ready while renewals fail and the pair is still valid, saying since when and why', async () => {
    const notAfter = now() + 60;
    const since = now() - 30;
    await writeState({ phase: 'failing', serial: '4F1A', not_after: notAfter, renew_at: notAfter - 100, since, detail: 'renewal failed: connection refused' });
    expect(await health()).toEqual([
      0,
      `ready: certificate 4F1A valid until ${iso(notAfter)}; renewal failing since ${iso(since)}: renewal failed: connection refused`,
    ]);
  });

  it('unhealthy: an unusable pair, with the problem and the way out', async () => {
    await writeState({ phase: 'unusable', serial: '', not_after: '', renew_at: '', since: '', detail: 'site.crt is missing or empty' });
    expect(await health()).toEqual([
      1,
      'unhealthy: unusable: site.crt is missing or empty; renewal is impossible until the workload is enrolled again (enroll --force)',
    ]);
  });

  it('unhealthy: a loop whose heartbeat stopped', async () => {
    const notAfter = now() + 300;
    const beat = now() - 600;
    await writeState({ phase: 'ok', serial: '4F1A', not_after: notAfter, renew_at: notAfter - 100, since: '', detail: '' }, beat);
    expect(await health()).toEqual([1, `unhealthy: the renewal loop is stuck: no heartbeat since ${iso(beat)}`]);
  });
});

/** The step CLI the toolchain cached (~/.cache/<project>/bin/step-v<version>/step), if any. */
function cachedStep(): string | undefined {
  const cache = path.join(homedir(), '.cache');
  if (!existsSync(cache)) return undefined;
  for (const project of readdirSync(cache)) {
    const bin = path.join(cache, project, 'bin');
    if (!existsSync(bin)) continue;
    const step = readdirSync(bin)
      .filter((d) => d.startsWith('step-v'))
      .map((d) => path.join(bin, d, 'step'))
      .find((f) => existsSync(f));
    if (step) return step;
  }
  return undefined;
}
const STEP = cachedStep();

describe.skipIf(!STEP)('renewer health with the real step CLI', () => {
  it('the loop reads serial and notAfter from a real certificate; health reports them', { timeout: 30_000 }, async () => {
    const bin = path.join(dir, 'bin');
    const certs = path.join(dir, 'certs');
    await mkdir(bin);
    await symlink(STEP!, path.join(bin, 'step'));
    const step = $({ quiet: true, env: { PATH: `${bin}:${SHELL_LIB}:${process.env.PATH}`, STEPPATH: path.join(dir, 'steppath') } });
    await step`step certificate create root ${path.join(dir, 'root.crt')} ${path.join(dir, 'root.key')} --profile root-ca --no-password --insecure`;
    await step`step certificate create leaf.mesh.internal ${path.join(certs, 'site.crt')} ${path.join(certs, 'site.key')} --profile leaf --ca ${path.join(dir, 'root.crt')} --ca-key ${path.join(dir, 'root.key')} --no-password --insecure --not-after 10m`;
    await writeFile(path.join(certs, 'root.crt'), await readFile(path.join(dir, 'root.crt')));
    loop = spawn('bash', [RENEWER], {
      env: {
        PATH: `${bin}:${SHELL_LIB}:${process.env.PATH}`,
        CERT_DIR: certs,
        STATE_FILE: path.join(dir, 'state'),
        LAST_GOOD: path.join(dir, 'last-good.crt'),
        CA_URL: 'https://ca.invalid:9000',
      },
    });
    const deadline = Date.now() + 20_000;
    while (!/^phase=ok$/m.test(await readFile(path.join(dir, 'state'), 'utf8').catch(() => '')) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const cert = new X509Certificate(await readFile(path.join(certs, 'site.crt')));
    const notAfter = Math.floor(Date.parse(cert.validTo) / 1000);
    const notBefore = Math.floor(Date.parse(cert.validFrom) / 1000);
    const [code, line] = await health();
    expect([code, line]).toEqual([
      0,
      expect.stringMatching(new RegExp(`^ready: certificate ${normaliseSerial(cert.serialNumber)} valid until ${iso(notAfter)}; renews at about \\S+$`)),
    ]);
    // Renewal at 62-66 % of the lifetime, drawn once for this certificate.
    const renewAt = Number(/^renew_at=(\d+)$/m.exec(await readFile(path.join(dir, 'state'), 'utf8'))![1]);
    expect((renewAt - notBefore) / (notAfter - notBefore)).toBeGreaterThanOrEqual(0.61);
    expect((renewAt - notBefore) / (notAfter - notBefore)).toBeLessThan(0.67);
  });
});
