// The admin channel on both targets: a handle says which API carries a
// command, a malformed handle is refused before anything runs, and the
// Kubernetes path keeps the Docker path's promise that stdin (where tokens
// travel) is passed through and never becomes an argument. The second half
// runs exec() for real with a stand-in kubectl that records its argv and stdin.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { commandStderr, execArgv, kubernetesHandle, parseHandle, useCluster } from '../../../../scripts/lib/admin/channel.js';
import { exec } from '../../../../scripts/lib/docker/commands.js';
import { makeTempDir } from '../../../helpers/pki.js';

const KUBECTL = { bin: '/opt/k/kubectl', kubeconfig: '/etc/k/admin.kubeconfig' };

describe('handles', () => {
  it('reads a Docker container name and a Kubernetes handle', () => {
    expect(parseHandle('mtls-ref-server-renewer')).toEqual({ kind: 'docker', container: 'mtls-ref-server-renewer' });
    expect(parseHandle('k8s:mtls-ref/deployment/server/renewer')).toEqual({
      kind: 'kubernetes',
      namespace: 'mtls-ref',
      owner: { kind: 'deployment', name: 'server' },
      container: 'renewer',
    });
    expect(kubernetesHandle('mtls-ref', { kind: 'job', name: 'ca-init' }, 'init')).toBe('k8s:mtls-ref/job/ca-init/init');
  });

  it.each([
    ['an option in place of a name', '--privileged'],
    ['an empty name', ''],
    ['a space', 'server renewer'],
    ['too few parts', 'k8s:ns/deployment/server'],
    ['too many parts', 'k8s:ns/deployment/server/app/x'],
    ['an unknown owner kind', 'k8s:ns/daemonset/server/app'],
    ['an upper-case namespace', 'k8s:NS/deployment/server/app'],
    ['a path in a name', 'k8s:ns/deployment/../app'],
    ['an option as the container', 'k8s:ns/deployment/server/-it'],
  ])('refuses %s', (_what, handle) => {
    expect(() => parseHandle(handle)).toThrow(/^not a (container name|Kubernetes handle)/);
  });
});

describe('the argv each target runs', () => {
  it('docker exec, with -i only when there is input', () => {
    expect(execArgv('c1', ['cat', '/f'], { interactive: false })).toEqual(['docker', 'exec', 'c1', 'cat', '/f']);
    expect(execArgv('c1', ['sh'], { interactive: true })).toEqual(['docker', 'exec', '-i', 'c1', 'sh']);
  });

  it('kubectl exec in the owner, container named, arguments after --', () => {
    expect(execArgv('k8s:ns/deployment/server/renewer', ['cat', '--', '-x'], { interactive: true, kubectl: KUBECTL })).toEqual([
      KUBECTL.bin,
      '--kubeconfig',
      KUBECTL.kubeconfig,
      'exec',
      '-i',
      '-n',
      'ns',
      'deployment/server',
      '-c',
      'renewer',
      '--',
      'cat',
      '--',
      '-x',
    ]);
    expect(execArgv('k8s:ns/job/init/step', ['true'], { interactive: false, kubectl: { bin: 'kubectl' } })).toEqual([
      'kubectl',
      'exec',
      '-n',
      'ns',
      'job/init',
      '-c',
      'step',
      '--',
      'true',
    ]);
  });

  it('refuses a Kubernetes handle when no cluster is configured', () => {
    expect(() => execArgv('k8s:ns/deployment/server/app', ['true'], { interactive: false })).toThrow(
      'k8s:ns/deployment/server/app is on Kubernetes, and no cluster is configured for this command',
    );
  });
});

describe('exec() through a stand-in kubectl', () => {
  let dir: { path: string; remove(): Promise<void> };
  const SECRET = 'eyJhbGciOiJFUzI1NiJ9.c2VjcmV0.c2ln';
  beforeAll(async () => {
    dir = await makeTempDir('admin-channel-');
    // Records argv (one per line) and stdin; exits with the code the command asks for, as kubectl exec does.
    const bin = path.join(dir.path, 'kubectl');
    // As kubectl does after a failed command, it prints the command's own stderr, then a line of its own.
    await writeFile(
      bin,
      [
        '#!/bin/bash',
        `printf '%s\\n' "$@" >"${dir.path}/argv"`,
        `cat >"${dir.path}/stdin"`,
        'code="${!#}"',
        'if [ "$code" != 0 ]; then echo "waiting: the command\'s own last line" >&2; echo "command terminated with exit code $code" >&2; fi',
        'exit "$code"',
        '',
      ].join('\n'),
    );
    await chmod(bin, 0o755);
    useCluster({ bin });
  });
  afterAll(async () => {
    useCluster(undefined);
    await dir.remove();
  });

  it('passes stdin through, keeps it out of argv, and returns the command exit code', async () => {
    const out = await exec('k8s:ns/deployment/server/renewer', ['sh', '-c', 'exit "$1"', 'x', '3'], { input: SECRET });
    expect(out.exitCode).toBe(3);
    const argv = await readFile(path.join(dir.path, 'argv'), 'utf8');
    expect(argv.split('\n').slice(0, 7)).toEqual(['exec', '-i', '-n', 'ns', 'deployment/server', '-c', 'renewer']);
    expect(argv).not.toContain(SECRET);
    expect(await readFile(path.join(dir.path, 'stdin'), 'utf8')).toBe(SECRET);
    // kubectl's own line is not the command's: a health check's last line stays its verdict, as with docker exec.
    expect(out.stderr).toBe("waiting: the command's own last line");
  });
});

describe("the command's own stderr", () => {
  it("drops only kubectl exec's closing line, and only on Kubernetes", () => {
    const kubectlSays = 'waiting: no certificate yet\ncommand terminated with exit code 1\n';
    expect(commandStderr('k8s:ns/deployment/server/app', kubectlSays)).toBe('waiting: no certificate yet');
    expect(commandStderr('k8s:ns/deployment/server/app', 'command terminated with exit code 7')).toBe('');
    expect(commandStderr('k8s:ns/deployment/server/app', 'the app said: command terminated with exit code 1 earlier\nok\n')).toBe(
      'the app said: command terminated with exit code 1 earlier\nok\n',
    );
    expect(commandStderr('mtls-server', kubectlSays)).toBe(kubectlSays);
  });
});
