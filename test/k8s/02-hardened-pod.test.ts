import { describe, expect, inject, it } from 'vitest';

import { apply, exec, podReady, runOk } from './helpers/cluster.js';
import { hardenedPod } from './helpers/manifests.js';

const ctx = inject('k8s');

describe('a hardened pod from an image built by Docker', { timeout: 180_000 }, () => {
  const pod = hardenedPod({ name: 'reader', namespace: ctx.namespace, image: ctx.image, command: ['sleep', 'infinity'] });

  it('runs from the imported image without any pull', async () => {
    await apply(pod);
    await podReady('reader');
    const imageId = await runOk(['get', 'pod', 'reader', '-n', ctx.namespace, '-o', 'jsonpath={.status.containerStatuses[0].image}']);
    expect(imageId).toBe(`docker.io/${ctx.image}`);
  });

  it('reads the file the Docker build wrote, through kubectl exec', async () => {
    const out = await exec('reader', ['cat', ctx.imageFile.path]);
    expect(out.stderr).toBe('');
    expect(out.stdout.trim()).toBe(ctx.imageFile.content);
  });

  it('runs as uid 1000 with no capability at all', async () => {
    expect((await exec('reader', ['id', '-u'])).stdout.trim()).toBe('1000');
    const status = (await exec('reader', ['cat', '/proc/self/status'])).stdout;
    for (const set of ['CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(status).toMatch(new RegExp(`^${set}:\\s+0000000000000000$`, 'm'));
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
  });

  it('cannot write its root filesystem, only the in-memory emptyDir', async () => {
    const write = await exec('reader', ['touch', '/etc/written']);
    expect(write.exitCode).not.toBe(0);
    expect(write.stderr).toMatch(/Read-only file system/);
    const scratch = await exec('reader', ['sh', '-c', 'echo kept > /scratch/note && cat /scratch/note']);
    expect(scratch.stdout.trim()).toBe('kept');
    const mounts = (await exec('reader', ['cat', '/proc/mounts'])).stdout;
    expect(mounts).toMatch(/^tmpfs \/scratch tmpfs /m);
  });

  it('holds no service-account token', async () => {
    const token = await exec('reader', ['ls', '/var/run/secrets/kubernetes.io/serviceaccount']);
    expect(token.exitCode).not.toBe(0);
    expect(token.stderr).toMatch(/No such file or directory/);
  });
});
