// The renewer loop (images/step-ca/renewer.sh) against a stand-in `step`
// whose answers each case scripts: every exit code it does not expect is a
// failure that is reported and retried — never "nothing to do", never the end
// of the loop — and a successful rekey installs the new pair.
import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { $ } from 'zx';

const RENEWER = path.resolve(import.meta.dirname, '../../../images/step-ca/renewer.sh');
/** The shell library the renewer sources from PATH (recipes/lib/mtls-common.sh). */
const SHELL_LIB = path.resolve(import.meta.dirname, '../../../recipes/lib');
let dir: string;
let certs: string;
let loop: ChildProcess | undefined;
let output = '';

/**
 * A stand-in step: `certificate inspect` prints the serial and validity of the
 * case (`due`: 80 % of the lifetime is over; `fresh`: just issued; a number:
 * that exit code and no output), and the installed `new-crt` is always
 * fresh; `ca rekey` answers as the case says; the pair always validates.
 */
async function fakeStep(opts: { inspect: 'due' | 'fresh' | number; rekey: 'fail-silently' | 'succeed' | 'enrolled-meanwhile' }) {
  const bin = path.join(dir, 'bin');
  await mkdir(bin);
  const answer =
    'while [ $# -gt 0 ]; do case "$1" in --out-cert) printf new-crt >"$2"; shift;; --out-key) printf new-key >"$2"; shift;; esac; shift; done; exit 0';
  // While the CA answers, an enrollment installs its own pair (by renames, key first, as it does).
  const enrollment =
    'd=$(dirname "$2"); printf enrolled-key >"$d/.e.key"; mv -f "$d/.e.key" "$d/site.key"; printf enrolled-crt >"$d/.e.crt"; mv -f "$d/.e.crt" "$d/site.crt"; ';
  const rekey = { succeed: answer, 'fail-silently': 'exit 1', 'enrolled-meanwhile': enrollment + answer }[opts.rekey];
  const validity = (from: number, to: number) =>
    `printf '  Serial Number: 42 (0x002a)\\n  Not Before: %s UTC\\n  Not After : %s UTC\\n' "$(date -u -d @$(($(date +%s) + ${from})) '+%b %-d %T %Y')" "$(date -u -d @$(($(date +%s) + ${to})) '+%b %-d %T %Y')"`;
  const inspect =
    typeof opts.inspect === 'number'
      ? `exit ${opts.inspect}`
      : `if [ "$(cat "$3")" != old-site.crt ] || [ ${opts.inspect} = fresh ]; then ${validity(0, 3600)}; else ${validity(-80, 20)}; fi; exit 0`;
  await writeFile(
    path.join(bin, 'step'),
    [
      '#!/bin/bash',
      `echo "$1 $2" >>${path.join(dir, 'calls')}`,
      'case "$1 $2" in',
      '  "certificate verify") exit 0;;',
      '  "certificate key"|"crypto key") echo PUBLIC-KEY; exit 0;;',
      `  "certificate inspect") ${inspect};;`,
      `  "ca rekey") shift 2; ${rekey};;`,
      'esac',
      'exit 99',
    ].join('\n'),
  );
  await chmod(path.join(bin, 'step'), 0o755);
  return bin;
}

function start(bin: string, env: Record<string, string> = {}) {
  output = '';
  loop = spawn('bash', [RENEWER], {
    env: {
      ...env,
      PATH: `${bin}:${SHELL_LIB}:${process.env.PATH}`,
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
/** The renewer's own health line (it reads the state file only). */
const health = async () => {
  const out = await $({
    quiet: true,
    nothrow: true,
    env: { PATH: `${SHELL_LIB}:${process.env.PATH}`, CERT_DIR: certs, STATE_FILE: path.join(dir, 'state') },
  })`bash ${RENEWER} health`;
  return { exitCode: out.exitCode, line: out.stdout.trim() };
};
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
  it('a certificate it cannot inspect (exit 255, no output, as on a truncated file) is a reported failure, and the loop keeps going', async () => {
    start(await fakeStep({ inspect: 255, rekey: 'succeed' }));
    await until('the failure to be reported', async () => (await state()).includes('exited 255') && output.includes('exited 255'));
    expect(output).toMatch(/"level":"error".*"msg":"step certificate inspect site.crt exited 255; retrying with backoff/);
    expect(await state()).toMatch(/^phase=failing$/m);
    // Retried, not abandoned: the loop keeps asking.
    await until('two more checks', async () => (await calls('certificate inspect')) >= 3);
    expect(loop!.exitCode).toBeNull();
    expect(await calls('ca rekey')).toBe(0);
    expect(await readFile(path.join(certs, 'site.crt'), 'utf8')).toBe('old-site.crt');
    expect(await health()).toEqual({ exitCode: 1, line: 'unhealthy: step certificate inspect site.crt exited 255' });
  });

  it('a rekey that fails with no output at all is retried, not the end of the loop', async () => {
    start(await fakeStep({ inspect: 'due', rekey: 'fail-silently' }));
    await until('the failure to be reported', async () => (await state()).includes('renewal failed'));
    await until('two more attempts', async () => (await calls('ca rekey')) >= 3);
    expect(loop!.exitCode).toBeNull();
    expect(output).toContain('renewal failed');
    expect(await readdir(certs)).toEqual(['root.crt', 'site.crt', 'site.key']);
    // The pair is still valid: ready, and saying that renewals fail.
    const h = await health();
    expect([h.exitCode, h.line]).toEqual([0, expect.stringMatching(/^ready: certificate 2A valid until \S+; renewal failing since \S+: renewal failed/)]);
  });

  it('a successful rekey installs the new key and certificate and leaves nothing staged', async () => {
    start(await fakeStep({ inspect: 'due', rekey: 'succeed' }));
    await until('the rekey', () => output.includes('certificate rekeyed'));
    expect(await readFile(path.join(certs, 'site.key'), 'utf8')).toBe('new-key');
    expect(await readFile(path.join(certs, 'site.crt'), 'utf8')).toBe('new-crt');
    expect((await readdir(certs)).filter((f) => f.startsWith('.'))).toEqual([]);
    await until('the state to say so', async () => /^detail=last renewed at \d{4}-\d\d-\d\dT/m.test(await state()));
    expect(await state()).toMatch(/^phase=ok$/m);
    expect(await calls('ca rekey')).toBe(1);
  });

  it("a pair an enrollment installs while a rekey is in flight wins: the rekey's answer is dropped, not installed over it, and nothing fails", async () => {
    start(await fakeStep({ inspect: 'due', rekey: 'enrolled-meanwhile' }));
    await until('the rekey to be dropped', () => output.includes('another certificate was installed while the CA answered'));
    expect([await readFile(path.join(certs, 'site.key'), 'utf8'), await readFile(path.join(certs, 'site.crt'), 'utf8')]).toEqual([
      'enrolled-key',
      'enrolled-crt',
    ]);
    await until("the enrollment's pair to be adopted", async () => /^phase=ok$/m.test(await state()) && (await calls('certificate verify')) >= 2);
    expect((await readdir(certs)).filter((f) => f.startsWith('.'))).toEqual([]);
    expect(output).not.toContain('"level":"error"');
    expect(await calls('ca rekey')).toBe(1);
  });

  it('between renewals it runs no process at all: the pair is checked when its files change, the renewal time once per certificate', async () => {
    const bin = await fakeStep({ inspect: 'fresh', rekey: 'succeed' });
    // `stat` (the full signature) counted too.
    const realStat = (await $({ quiet: true })`command -v stat`).stdout.trim();
    await writeFile(path.join(bin, 'stat'), `#!/bin/bash\necho stat >>${path.join(dir, 'stats')}\nexec ${realStat} "$@"\n`, { mode: 0o755 });
    start(bin, { FULL_CHECK_SECONDS: '600' });
    await until('the first check', async () => /^phase=ok$/m.test(await state()));
    const before = (await readFile(path.join(dir, 'calls'), 'utf8')).split('\n').filter(Boolean);
    expect(before.sort()).toEqual(['certificate inspect', 'certificate key', 'certificate verify', 'crypto key']);
    const beat = path.join(dir, 'state.beat');
    const firstBeat = await readFile(beat, 'utf8');
    const stats = async () => (await readFile(path.join(dir, 'stats'), 'utf8')).split('\n').filter(Boolean).length;
    const statsBefore = await stats();
    await until('three more ticks (one a second)', async () => Number(await readFile(beat, 'utf8')) >= Number(firstBeat) + 3);
    expect((await readFile(path.join(dir, 'calls'), 'utf8')).split('\n').filter(Boolean)).toHaveLength(4);
    expect(await stats()).toBe(statsBefore);
    // A changed file is checked again.
    await writeFile(path.join(certs, 'site.crt'), 'other-site.crt');
    await until('the check of the changed file', async () => (await calls('certificate verify')) === 2);
    expect((await health()).line).toMatch(/^ready: certificate 2A valid until /);
  });

  it('a certificate rewritten in place with the same size in the same second is verified again (step ca certificate --force rewrites in place)', async () => {
    start(await fakeStep({ inspect: 'fresh', rekey: 'succeed' }), { FULL_CHECK_SECONDS: '1' });
    await until('the first check', async () => /^phase=ok$/m.test(await state()));
    const crt = path.join(certs, 'site.crt');
    const before = await stat(crt);
    const verified = await calls('certificate verify');
    // Same inode, same size, the mtime in the same whole second as before.
    await writeFile(crt, 'new-site.crt');
    const sameSecond = Math.floor(before.mtimeMs / 1000) + ((before.mtimeMs % 1000) + 1) / 1000;
    await utimes(crt, sameSecond, sameSecond);
    const after = await stat(crt);
    expect([after.ino, after.size, Math.floor(after.mtimeMs / 1000)]).toEqual([before.ino, before.size, Math.floor(before.mtimeMs / 1000)]);
    await until('the pair to be verified again', async () => (await calls('certificate verify')) > verified);
  });

  it('a pair caught between its two writes (key first, certificate next) is looked at again, not reported unusable', async () => {
    // A "certificate" file holds `crt:<pub>`, a key `key:<pub>`; the first key
    // read renames the new certificate into place, as an install does.
    const bin = path.join(dir, 'bin');
    await mkdir(bin);
    const fresh = `printf '  Serial Number: 7 (0x07)\\n  Not Before: %s UTC\\n  Not After : %s UTC\\n' "$(date -u '+%b %-d %T %Y')" "$(date -u -d @$(($(date +%s) + 3600)) '+%b %-d %T %Y')"`;
    const step = [
      '#!/bin/bash',
      'case "$1 $2" in',
      '  "certificate verify") exit 0 ;;',
      '  "certificate key") sed -n "s/^crt://p" "$3" ;;',
      '  "crypto key") sed -n "s/^key://p" "$4"; d=$(dirname "$4"); [ ! -e "$d/.swap" ] || mv -f "$d/.swap" "$d/site.crt" ;;',
      `  "certificate inspect") ${fresh} ;;`,
      '  *) exit 3 ;;',
      'esac',
    ].join('\n');
    await writeFile(path.join(bin, 'step'), `${step}\n`, { mode: 0o755 });
    await writeFile(path.join(certs, 'site.key'), 'key:new');
    await writeFile(path.join(certs, 'site.crt'), 'crt:old');
    await writeFile(path.join(certs, '.swap'), 'crt:new');
    start(bin);
    await until('the pair to be in use', async () => /^phase=ok$/m.test(await state()));
    expect(output).not.toContain('"level":"error"');
    expect((await health()).line).toMatch(/^ready: certificate 7 valid until /);
  });
});
