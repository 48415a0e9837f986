// The renewer loop (services/step-ca/renewer.sh) against a stand-in `step`
// whose answers each case scripts: every exit code it does not expect is a
// failure that is reported and retried — never "nothing to do", never the end
// of the loop — and a successful rekey installs the new pair.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const RENEWER = path.resolve(import.meta.dirname, '../../../services/step-ca/renewer.sh');
let dir: string;
let certs: string;
let loop: ChildProcess | undefined;
let output = '';

/** A stand-in step: `needs-renewal` and `ca rekey` answer as the case says; the pair always validates. */
async function fakeStep(opts: { needsRenewalExit: number | 'once'; rekey: 'fail-silently' | 'succeed' }) {
  const bin = path.join(dir, 'bin');
  await mkdir(bin);
  const rekey =
    opts.rekey === 'succeed'
      ? 'while [ $# -gt 0 ]; do case "$1" in --out-cert) printf new-crt >"$2"; shift;; --out-key) printf new-key >"$2"; shift;; esac; shift; done; exit 0'
      : 'exit 1';
  await writeFile(
    path.join(bin, 'step'),
    [
      '#!/bin/bash',
      `echo "$1 $2" >>${path.join(dir, 'calls')}`,
      'case "$1 $2" in',
      '  "certificate verify") exit 0;;',
      '  "certificate key"|"crypto key") echo PUBLIC-KEY; exit 0;;',
      opts.needsRenewalExit === 'once'
        ? `  "certificate needs-renewal") [ -e ${path.join(dir, 'asked')} ] && exit 1; : >${path.join(dir, 'asked')}; exit 0;;`
        : `  "certificate needs-renewal") exit ${opts.needsRenewalExit};;`,
      '  "certificate inspect") echo \'{"serial_number": "42"}\'; exit 0;;',
      `  "ca rekey") shift 2; ${rekey};;`,
      'esac',
      'exit 99',
    ].join('\n'),
  );
  await chmod(path.join(bin, 'step'), 0o755);
  return bin;
}

function start(bin: string) {
  output = '';
  loop = spawn('bash', [RENEWER], {
    env: {
      PATH: `${bin}:${process.env.PATH}`,
      CERT_DIR: certs,
      CA_URL: 'https://ca.invalid:9000',
      STATE_FILE: path.join(dir, 'state'),
      LAST_GOOD: path.join(dir, 'last-good.crt'),
      CHECK_INTERVAL_SECONDS: '1',
      MAX_BACKOFF_SECONDS: '1',
    },
  });
  loop.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  loop.stderr!.on('data', (d: Buffer) => (output += d.toString()));
}

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; renewer output:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const state = () => readFile(path.join(dir, 'state'), 'utf8').catch(() => '');
/** How often the loop ran this step verb. */
const calls = async (verb: string) => (await readFile(path.join(dir, 'calls'), 'utf8').catch(() => '')).split('\n').filter((l) => l === verb).length;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'renewer-loop-'));
  certs = path.join(dir, 'certs');
  await mkdir(certs);
  await Promise.all(['root.crt', 'site.crt', 'site.key'].map((f) => writeFile(path.join(certs, f), `old-${f}`)));
});
afterEach(async () => {
  loop?.kill('SIGKILL');
  loop = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('renewer loop', () => {
  it('needs-renewal failing (255, no output, as on a truncated file) is a reported failure, and the loop keeps going', async () => {
    start(await fakeStep({ needsRenewalExit: 255, rekey: 'succeed' }));
    await until('the failure to be reported', async () => (await state()).includes('needs-renewal exited 255') && output.includes('needs-renewal exited 255'));
    expect(output).toMatch(/"level":"error".*"msg":"needs-renewal exited 255; retrying with backoff/);
    expect(await state()).toMatch(/^failing since \S+: needs-renewal exited 255/);
    // Retried, not abandoned: the loop keeps asking.
    await until('two more checks', async () => (await calls('certificate needs-renewal')) >= 3);
    expect(loop!.exitCode).toBeNull();
    expect(await calls('ca rekey')).toBe(0);
    expect(await readFile(path.join(certs, 'site.crt'), 'utf8')).toBe('old-site.crt');
  });

  it('a rekey that fails with no output at all is retried, not the end of the loop', async () => {
    start(await fakeStep({ needsRenewalExit: 0, rekey: 'fail-silently' }));
    await until('the failure to be reported', async () => (await state()).includes('renewal failed'));
    await until('two more attempts', async () => (await calls('ca rekey')) >= 3);
    expect(loop!.exitCode).toBeNull();
    expect(output).toContain('renewal failed');
    expect(await readdir(certs)).toEqual(['root.crt', 'site.crt', 'site.key']);
  });

  it('a successful rekey installs the new key and certificate and leaves nothing staged', async () => {
    start(await fakeStep({ needsRenewalExit: 'once', rekey: 'succeed' }));
    await until('the rekey', () => output.includes('certificate rekeyed'));
    await until('the next check, which finds nothing to do', async () => (await calls('certificate needs-renewal')) >= 2);
    expect(await readFile(path.join(certs, 'site.key'), 'utf8')).toBe('new-key');
    expect(await readFile(path.join(certs, 'site.crt'), 'utf8')).toBe('new-crt');
    expect((await readdir(certs)).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(await state()).toMatch(/^ok; last renewed at \d{4}-\d\d-\d\dT/);
  });
});
