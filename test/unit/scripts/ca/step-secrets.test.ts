// One-time tokens must never be in a process's argv (/proc/<pid>/cmdline is
// world-readable): every command the scripts build for a token carries it on
// stdin, and the fixed shell line hands it to step in STEP_TOKEN. The second
// half runs that shell line for real with a stand-in `step` that records its
// argv and environment.
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';

import { certificateCommand, revokeCommand, type SecretCommand } from '../../../../scripts/lib/ca/step.js';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzZW50aW5lbCJ9.c2lnbmF0dXJlLXNlbnRpbmVs';

const built: Record<string, SecretCommand> = {
  'step ca certificate': certificateCommand({
    renewer: 'x-renewer',
    subject: 'server.mesh.internal',
    token: TOKEN,
    caUrl: 'https://ca.mesh.internal:9000',
    certFile: '/var/run/step/site.crt',
    keyFile: '/var/run/step/site.key',
    rootFile: '/var/run/step/root.crt',
    lifetime: '5m',
  }),
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
    await writeFile(path.join(dir, 'step'), `#!/bin/bash\nprintf '%s\\n' "$0" "$@" >"${dir}/argv"\nprintf '%s' "\${STEP_TOKEN-<unset>}" >"${dir}/env"\n`);
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
