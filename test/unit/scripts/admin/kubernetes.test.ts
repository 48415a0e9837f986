// The admin channel's Kubernetes side beyond exec: a pod's container read as
// the readiness code reads a Docker container (so the same waits run on both
// targets), the pin written as a ConfigMap key with the pods nudged, and a
// port forwarded for the length of one call. The last two run for real
// against a stand-in kubectl that records its argv.
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { kubectlArgv, useCluster } from '../../../../scripts/lib/admin/channel.js';
import { containerStateOf, currentPod, type PodJson, REFRESH_ANNOTATION, setConfigMapKey, withPortForward } from '../../../../scripts/lib/admin/kubernetes.js';
import { verdict } from '../../../../scripts/lib/workloads/readiness.js';
import { makeTempDir } from '../../../helpers/pki.js';

const HEALTH = ['/usr/local/bin/mtls-health'];

function pod(over: { name?: string; created?: string; deleting?: boolean; status?: PodJson['status']; restartPolicy?: string } = {}): PodJson {
  return {
    metadata: {
      name: over.name ?? 'server-7d9f-abcde',
      creationTimestamp: over.created ?? '2026-12-05T10:00:00Z',
      ...(over.deleting ? { deletionTimestamp: '2026-12-05T10:05:00Z' } : {}),
    },
    spec: {
      ...(over.restartPolicy ? { restartPolicy: over.restartPolicy } : {}),
      containers: [{ name: 'app', readinessProbe: { exec: { command: HEALTH }, timeoutSeconds: 5 } }],
      initContainers: [{ name: 'renewer', restartPolicy: 'Always', readinessProbe: { exec: { command: ['mtls-renewer', 'health'] }, timeoutSeconds: 5 } }],
    },
    ...(over.status ? { status: over.status } : {}),
  };
}

describe('a pod container, as the readiness code reads a Docker container', () => {
  it('the owner’s newest pod that is not being deleted', () => {
    const old = pod({ name: 'old', created: '2026-12-05T10:00:00Z' });
    const leaving = pod({ name: 'leaving', created: '2026-12-05T10:09:00Z', deleting: true });
    const fresh = pod({ name: 'fresh', created: '2026-12-05T10:05:00Z' });
    expect(currentPod([old, leaving, fresh])?.metadata.name).toBe('fresh');
    expect(currentPod([leaving])).toBeUndefined();
    expect(currentPod([])).toBeUndefined();
  });

  it('running and Ready is healthy; its readiness probe is the health test, run as Docker’s CMD form', () => {
    const s = containerStateOf(
      pod({ status: { phase: 'Running', containerStatuses: [{ name: 'app', ready: true, restartCount: 2, state: { running: {} } }] } }),
      'app',
    );
    expect(s).toEqual({ status: 'running', exitCode: 0, restartCount: 2, health: 'healthy', healthTest: ['CMD', ...HEALTH], healthTimeoutMs: 5000 });
    expect(verdict(s)).toEqual({ kind: 'ready' });
    expect(verdict(s, { trustDocker: false })).toEqual({ kind: 'probe', test: HEALTH, timeoutMs: 5000 });
  });

  it('a native sidecar is found among the init containers; running but not Ready is probed', () => {
    const s = containerStateOf(
      pod({ status: { phase: 'Running', initContainerStatuses: [{ name: 'renewer', ready: false, restartCount: 0, state: { running: {} } }] } }),
      'renewer',
    );
    expect(s?.health).toBe('starting');
    expect(verdict(s)).toEqual({ kind: 'probe', test: ['mtls-renewer', 'health'], timeoutMs: 5000 });
  });

  it('a container not started yet waits, with the kubelet’s reason or the pod’s phase', () => {
    const creating = containerStateOf(
      pod({ status: { phase: 'Pending', containerStatuses: [{ name: 'app', state: { waiting: { reason: 'ContainerCreating' } } }] } }),
      'app',
    );
    expect(creating?.status).toBe('waiting (ContainerCreating)');
    expect(verdict(creating)).toEqual({ kind: 'wait', why: 'waiting (ContainerCreating)' });
    expect(containerStateOf(pod(), 'app')?.status).toBe('waiting (pod Pending)');
  });

  it('one that ended is restarting when the kubelet starts it again, and exited (with its code) when it does not', () => {
    const ended = { phase: 'Running', containerStatuses: [{ name: 'app', restartCount: 4, state: { terminated: { exitCode: 137 } } }] };
    const again = containerStateOf(pod({ status: ended }), 'app');
    expect(again).toMatchObject({ status: 'restarting', exitCode: 137, restartCount: 4 });
    expect(verdict(again)).toEqual({ kind: 'wait', why: 'restarting (restarted 4×)' });
    const once = containerStateOf(pod({ status: ended, restartPolicy: 'Never' }), 'app');
    expect(verdict(once)).toEqual({ kind: 'failed', why: 'exited with code 137' });
  });

  it('no such container: undefined, which the waits report as missing', () => {
    expect(containerStateOf(pod(), 'nope')).toBeUndefined();
    expect(verdict(undefined)).toEqual({ kind: 'failed', why: 'does not exist' });
  });
});

describe('through a stand-in kubectl', () => {
  let dir: { path: string; remove(): Promise<void> };
  let bin: string;
  const calls = async () =>
    (await readFile(path.join(dir.path, 'calls'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { argv: string[] });

  beforeAll(async () => {
    dir = await makeTempDir('admin-kubernetes-');
    bin = path.join(dir.path, 'kubectl');
    // Each call appends its argv as a line. `get deployment` prints a selector, `get pods` two pods (one leaving);
    // port-forward prints kubectl's line and waits to be stopped, recording that it was.
    await writeFile(
      bin,
      `#!/usr/bin/env node
const fs = require('node:fs');
const argv = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(path.join(dir.path, 'calls'))}, JSON.stringify({ argv }) + '\\n');
if (argv.includes('port-forward')) {
  if (process.env.FORWARD_FAILS) { process.stderr.write('error: services "ca" not found\\n'); process.exit(1); }
  // The handler first: the caller may stop the forward as soon as it has read the line.
  process.on('SIGTERM', () => { fs.writeFileSync(${JSON.stringify(path.join(dir.path, 'stopped'))}, 'yes'); process.exit(0); });
  process.stdout.write('Forwarding from 127.0.0.1:40123 -> 9000\\n');
  setInterval(() => {}, 1000);
} else if (argv.includes('deployment/server')) {
  process.stdout.write(JSON.stringify({ 'io.mtls-reference.workload': 'server' }));
} else if (argv.includes('pods')) {
  process.stdout.write(JSON.stringify({ items: [
    { metadata: { name: 'server-a' }, spec: { containers: [] } },
    { metadata: { name: 'server-b', deletionTimestamp: 'x' }, spec: { containers: [] } },
  ] }));
}
`,
    );
    await chmod(bin, 0o755);
    useCluster({ bin, kubeconfig: '/k/admin.kubeconfig', context: 'local' });
  });
  afterAll(async () => {
    useCluster(undefined);
    await dir.remove();
  });

  it('every kubectl command names the kubeconfig and the context', () => {
    expect(kubectlArgv({ bin: 'kubectl', kubeconfig: '/k/c', context: 'ctx' }, ['get', 'pods'])).toEqual([
      'kubectl',
      '--kubeconfig',
      '/k/c',
      '--context',
      'ctx',
      'get',
      'pods',
    ]);
  });

  it('a pin set is a merge patch of one ConfigMap key; then the live pods (not the leaving one) are annotated', async () => {
    const pins = '# pins\nAB:CD\n';
    await setConfigMapKey('k8s:ns/deployment/server/renewer', 'server-trust', 'root-pins', pins);
    const [patch, , , annotate] = await calls();
    expect(patch!.argv.slice(0, 14)).toEqual([
      '--kubeconfig',
      '/k/admin.kubeconfig',
      '--context',
      'local',
      'patch',
      'configmap',
      'server-trust',
      '-n',
      'ns',
      '--type',
      'merge',
      '--field-manager',
      'mtls-operator',
      '--patch',
    ]);
    expect(JSON.parse(patch!.argv[14]!)).toEqual({ data: { 'root-pins': pins } });
    expect(annotate!.argv.slice(4, 11)).toEqual(['annotate', '-n', 'ns', '--overwrite', '--field-manager', 'mtls-operator', 'pod/server-a']);
    expect(annotate!.argv[11]).toMatch(new RegExp(`^${REFRESH_ANNOTATION.replace(/\./g, '\\.')}=\\d{4}-\\d\\d-\\d\\dT`));
  });

  it('a forwarded port: bound to 127.0.0.1, handed to the call, closed after it', async () => {
    const service = { namespace: 'ns', name: 'ca', port: 9000 };
    const got = await withPortForward({ bin }, service, async (port) => port);
    expect(got).toBe(40123);
    const forward = (await calls()).find((c) => c.argv.includes('port-forward'))!;
    expect(forward.argv).toEqual(['port-forward', '-n', 'ns', '--address', '127.0.0.1', 'service/ca', ':9000']);
    await expect.poll(() => readFile(path.join(dir.path, 'stopped'), 'utf8').catch(() => ''), { timeout: 5000 }).toBe('yes');
  });

  it('a forward that cannot start fails with kubectl’s own reason, and the call never runs', async () => {
    process.env.FORWARD_FAILS = '1';
    let ran = false;
    try {
      await expect(
        withPortForward({ bin }, { namespace: 'ns', name: 'ca', port: 9000 }, async () => {
          ran = true;
        }),
      ).rejects.toThrow(/port-forward to service\/ca exited \(1\): error: services "ca" not found/);
    } finally {
      delete process.env.FORWARD_FAILS;
    }
    expect(ran).toBe(false);
  });
});
