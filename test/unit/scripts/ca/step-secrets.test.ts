// One-time tokens must never be in a process's argv (/proc/<pid>/cmdline is
// world-readable): every command the scripts build for a token carries it on
// stdin, and the fixed shell line hands it to step in STEP_TOKEN. The second
// half runs that shell line for real with a stand-in `step` that records its
// argv and environment.
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';

import { waitFor } from '../../../../common/wait.js';
import {
  certificateCommand,
  ENROLL_STAGING_PREFIX,
  INSTALL_COMMIT_PREFIX,
  revokeCommand,
  type SecretCommand,
  tokensCommand,
} from '../../../../scripts/lib/ca/step.js';

/** Conditions in these tests hold within milliseconds. */
const WAIT = { timeoutMs: 10_000, intervalMs: 50 };

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzZW50aW5lbCJ9.c2lnbmF0dXJlLXNlbnRpbmVs';

const REQUEST = {
  renewer: 'x-renewer',
  subject: 'server.mesh.internal',
  token: TOKEN,
  caUrl: 'https://ca.mesh.internal:9000',
  certFile: '/var/run/step/site.crt',
  keyFile: '/var/run/step/site.key',
  rootFile: '/var/run/step/root.crt',
  lifetime: '5m',
};

const built: Record<string, SecretCommand> = {
  'step ca certificate': certificateCommand(REQUEST),
  'step ca revoke': revokeCommand('1234567890', 'key compromise', TOKEN),
};

describe.each(Object.entries(built))('%s as built for docker exec', (verb, cmd) => {
  it('has no token (or any of its parts) in argv', () => {
    for (const part of [TOKEN, ...TOKEN.split('.')]) {
      for (const arg of cmd.args) expect(arg).not.toContain(part);
    }
    expect(cmd.args).not.toContain('--token');
    expect(cmd.args.join(' ')).toContain(verb.replace(/^step /, ''));
  });

  it('carries the token on stdin', () => {
    expect(cmd.input).toBe(TOKEN);
  });
});

describe('the shell line that hands the token to step', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'step-secrets-'));
    // A stand-in step: records argv (one per line) and STEP_TOKEN.
    // For `ca certificate SUBJECT CRT KEY`, it writes CRT and KEY (0600) like step; subject fail.* exits 7.
    await writeFile(
      path.join(dir, 'step'),
      `#!/bin/bash\nprintf '%s\\n' "$0" "$@" >"${dir}/argv"\nprintf '%s' "\${STEP_TOKEN-<unset>}" >"${dir}/env"\n` +
        `[[ $3 == fail.* ]] && { echo "the CA refused" >&2; exit 7; }\n` +
        `if [ "$2" = certificate ]; then printf CERT >"$4"; printf KEY >"$5"; chmod 600 "$5"; echo "✔ Certificate: $4"; fi\n`,
    );
    await chmod(path.join(dir, 'step'), 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = (cmd: SecretCommand) =>
    $({ quiet: true, nothrow: true, input: cmd.input, env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } })`${cmd.args}`;

  it('execs step with the token in STEP_TOKEN and not in its argv', async () => {
    const out = await run(built['step ca certificate']!);
    expect(out.exitCode, out.stderr).toBe(0);
    const argv = await readFile(path.join(dir, 'argv'), 'utf8');
    expect(argv).toContain('certificate\nserver.mesh.internal\n');
    expect(argv).not.toContain(TOKEN);
    expect(await readFile(path.join(dir, 'env'), 'utf8')).toBe(TOKEN);
  });

  it('install: runs step with the token in STEP_TOKEN only, installs the staged pair, then prints the key mode, a NUL and the certificate installed', async () => {
    const files = { certFile: path.join(dir, 'site.crt'), keyFile: path.join(dir, 'site.key') };
    const cmd = certificateCommand({ ...REQUEST, ...files }, { install: true });
    for (const part of [TOKEN, ...TOKEN.split('.')]) for (const arg of cmd.args) expect(arg).not.toContain(part);
    const out = await run(cmd);
    expect(out.exitCode, out.stderr).toBe(0);
    expect(out.stdout).toBe('600\n\0CERT');
    expect(out.stderr).toContain('✔ Certificate:');
    expect(await readFile(path.join(dir, 'env'), 'utf8')).toBe(TOKEN);
    // step wrote the staging names; nothing staged is left behind.
    expect((await readFile(path.join(dir, 'argv'), 'utf8')).split('\n').slice(4, 6)).toEqual([
      path.join(dir, `${ENROLL_STAGING_PREFIX}site.crt`),
      path.join(dir, `${ENROLL_STAGING_PREFIX}site.key`),
    ]);
    expect((await readdir(dir)).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('install: waits for the install lock the renewer holds, and only then replaces the pair', async () => {
    const installDir = await mkdtemp(path.join(dir, 'install-'));
    const files = { certFile: path.join(installDir, 'site.crt'), keyFile: path.join(installDir, 'site.key') };
    await writeFile(files.certFile, 'OLD-CERT');
    await writeFile(files.keyFile, 'OLD-KEY');
    // The renewer's side of the lock (renewer-certs.sh take_install_lock): an flock on the
    // directory, held by the flock process alone (--close), so killing it releases the lock.
    const holder = spawn('flock', ['--close', installDir, 'sleep', '30'], { stdio: 'ignore' });
    try {
      await waitFor('the holder to take the lock', async () => (await $({ nothrow: true, quiet: true })`flock -n ${installDir} true`).exitCode === 1, WAIT);
      const install = run(certificateCommand({ ...REQUEST, ...files }, { install: true }));
      await waitFor('step to have written the staged pair', async () => (await readdir(installDir)).includes(`${ENROLL_STAGING_PREFIX}site.crt`), WAIT);
      // Blocked on the lock (its flock process is waiting), the old pair still in place.
      await waitFor(
        'the install to wait on the lock',
        async () => (await $({ nothrow: true, quiet: true })`pgrep -f ${'^flock -w [0-9]+ 9$'}`).exitCode === 0,
        WAIT,
      );
      expect(await readFile(files.certFile, 'utf8')).toBe('OLD-CERT');
      expect(await readFile(files.keyFile, 'utf8')).toBe('OLD-KEY');
      holder.kill('SIGKILL');
      const out = await install;
      expect(out.exitCode, out.stderr).toBe(0);
      expect([await readFile(files.keyFile, 'utf8'), await readFile(files.certFile, 'utf8')]).toEqual(['KEY', 'CERT']);
      expect(await readdir(installDir)).toEqual(['site.crt', 'site.key']);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('install: a step that fails gives its exit code, nothing to read, and leaves the pair in place', async () => {
    await writeFile(path.join(dir, 'x.crt'), 'KEPT');
    const out = await run(certificateCommand({ ...REQUEST, subject: 'fail.mesh.internal', certFile: path.join(dir, 'x.crt') }, { install: true }));
    expect(out.exitCode).toBe(7);
    expect(out.stdout).toBe('');
    expect(out.stderr).toContain('the CA refused');
    expect(await readFile(path.join(dir, 'x.crt'), 'utf8')).toBe('KEPT');
  });

  it("install: its commit-point names are the renewer's, whose crash recovery finishes or discards an interrupted install", async () => {
    const renewer = await readFile(path.resolve(import.meta.dirname, '../../../../images/step-ca/renewer.sh'), 'utf8');
    expect(renewer).toContain(`NEXT_CERT="$CERT_DIR/${INSTALL_COMMIT_PREFIX}site.crt"`);
    expect(renewer).toContain(`NEXT_KEY="$CERT_DIR/${INSTALL_COMMIT_PREFIX}site.key"`);
  });

  it('refuses to run step without a token on stdin', async () => {
    await rm(path.join(dir, 'argv'), { force: true });
    const out = await run({ ...built['step ca revoke']!, input: '\n' });
    expect(out.exitCode).toBe(2);
    expect(out.stderr).toContain('no token on stdin');
    await expect(readFile(path.join(dir, 'argv'), 'utf8')).rejects.toThrow(/ENOENT/);
  });

  it('refuses a token that would not fit on one line', () => {
    expect(() => revokeCommand('1', 'x', `${TOKEN}\n--evil`)).toThrow(/single non-empty line/);
    expect(() => revokeCommand('1', 'x', '')).toThrow(/single non-empty line/);
  });
});

describe('the loop that mints many tokens in one exec', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'step-tokens-'));
    // A stand-in step: `ca token SUBJECT …` prints a token naming the subject and appends its argv to a log; subject fail.* fails.
    await writeFile(
      path.join(dir, 'step'),
      `#!/bin/bash\n[ "$1 $2" = "ca token" ] || exit 0\nprintf '%s|' "$@" >>"${dir}/calls"; echo >>"${dir}/calls"\n` +
        `[[ $3 == fail.* ]] && { echo "provisioner refused" >&2; exit 1; }\necho "hdr.\${3//./_}.sig"\n`,
    );
    await chmod(path.join(dir, 'step'), 0o755);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const ca = { container: 'x-ca', provisioner: 'admin' };

  it('runs step ca token once per request, with each SAN as its own --san, one line out per request (! where it failed)', async () => {
    const cmd = tokensCommand(ca, [
      { subject: 'a.mesh.internal', sans: ['a.mesh.internal', 'spiffe://mesh.internal/a'] },
      { subject: 'fail.mesh.internal', sans: ['fail.mesh.internal'] },
      { subject: 'b.mesh.internal', sans: [] },
    ]);
    expect(cmd.args.join(' ')).not.toContain('mesh.internal/a');
    const out = await $({ quiet: true, nothrow: true, input: cmd.input, env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } })`${cmd.args}`;
    expect(out.stdout).toBe('hdr.a_mesh_internal.sig\n!\nhdr.b_mesh_internal.sig\n');
    const calls = (await readFile(path.join(dir, 'calls'), 'utf8')).trim().split('\n');
    expect(calls).toHaveLength(3);
    expect(calls[0]).toMatch(/^ca\|token\|a\.mesh\.internal\|--san\|a\.mesh\.internal\|--san\|spiffe:\/\/mesh\.internal\/a\|--provisioner\|admin\|/);
    expect(calls[0]).toMatch(/\|--root\|[^|]+\|$/);
    expect(calls[2]).toMatch(/^ca\|token\|b\.mesh\.internal\|--provisioner\|/);
  });

  it('refuses a subject or SAN that is not one word, before anything runs', () => {
    expect(() => tokensCommand(ca, [{ subject: 'a b', sans: [] }])).toThrow("a token's subject and SANs are single words");
    expect(() => tokensCommand(ca, [{ subject: 'a', sans: ['x\n--provisioner evil'] }])).toThrow('single words');
  });
});
