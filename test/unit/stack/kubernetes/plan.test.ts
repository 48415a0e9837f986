// One plan, two renderers: the Docker constructs and the Kubernetes renderer
// give each container the same command, environment, mounts, writable paths,
// memory and health check, read from stack/workload-plan.ts; and the
// renderer's own rules (sizes, probes, addresses, names it refuses).
import { Container as DockerContainer } from '@cdktf/provider-docker/lib/container/index.js';
import { describe, expect, it } from 'vitest';

import { TRUST_DIR } from '../../../../common/facts.js';
import { CATALOG_MESH } from '../../../../meshes/catalog.js';
import type { Container, PodSpec } from '../../../../stack/kubernetes/objects.js';
import { containerOf, execProbe, tmpfsSize } from '../../../../stack/kubernetes/pod.js';
import { allocateServiceIps, serviceNames } from '../../../../stack/kubernetes/render.js';
import { resolveMesh } from '../../../../stack/mesh-spec.js';
import { renewerPlan } from '../../../../stack/workload-plan.js';
import { type DockerContainerJson, envOf, listOf } from '../../helpers/cdktf-matchers.js';
import { buildStack } from '../fixtures.js';
import { envRecord, podsOf, render, workloadPod } from './fixtures.js';

/** What both targets must agree on, in Docker's terms. */
function docker(c: DockerContainerJson & { tmpfs?: Record<string, string>; entrypoint?: string[]; healthcheck?: { test: string[] } }) {
  return {
    env: envOf(c),
    memory: c.memory,
    command: c.command,
    entrypoint: c.entrypoint,
    health: c.healthcheck?.test.slice(1),
    writable: Object.keys(c.tmpfs ?? {}).sort(),
    mounts: (c.volumes ?? []).map((v) => `${v.container_path}${v.read_only ? ':ro' : ''}`).sort(),
  };
}
/** Docker's tmpfs paths are the pod's in-memory volumes; its named volumes, the others (the certs volume too, in memory here). */
function kube(c: Container, pod: PodSpec) {
  const tmpfs = new Set(pod.volumes.flatMap((v) => ('emptyDir' in v && v.name !== 'certs' ? [v.name] : [])));
  return {
    env: envRecord(c),
    memory: Number(c.resources.limits.memory.replace(/Mi$/, '')),
    command: c.args,
    entrypoint: c.command,
    health: c.readinessProbe?.exec.command,
    writable: c.volumeMounts
      .filter((m) => tmpfs.has(m.name))
      .map((m) => m.mountPath)
      .sort(),
    mounts: c.volumeMounts
      .filter((m) => !tmpfs.has(m.name))
      .map((m) => `${m.mountPath}${m.readOnly ? ':ro' : ''}`)
      .sort(),
  };
}

describe('the catalog mesh on both targets', () => {
  const { json, prefix } = buildStack({ namePrefix: 'plan', mesh: CATALOG_MESH });
  const containers = listOf<DockerContainerJson>(json, DockerContainer);
  const byName = (name: string) => containers.find((c) => c.name === name)!;
  const { mesh, objects } = render(resolveMesh(CATALOG_MESH));

  it.each(mesh.workloads.map((w) => [w.name]))('%s: app and renewer agree', (name) => {
    const { spec, app, renewer } = workloadPod(objects, name);
    expect(kube(app, spec)).toEqual(docker(byName(`${prefix}-${name}`)));
    expect(kube(renewer, spec)).toEqual(docker(byName(`${prefix}-${name}-renewer`)));
  });

  it('the CA and its init agree', () => {
    const pods = podsOf(objects);
    for (const [owner, container] of [
      ['Deployment/ca', `${prefix}-ca`],
      ['Job/ca-init', `${prefix}-ca-init`],
    ]) {
      const pod = pods.find((p) => p.owner === owner)!.spec;
      expect(kube(pod.containers[0]!, pod), owner).toEqual(docker(byName(container!)));
    }
  });
});

describe('the renderer’s rules', () => {
  const mesh = resolveMesh(CATALOG_MESH);

  it('bounds each in-memory volume by its tmpfs size', () => {
    expect(['size=16m', 'rw,size=64k,uid=1000', 'size=1g', 'size=512'].map(tmpfsSize)).toEqual(['16Mi', '64Ki', '1Gi', '512']);
    expect(() => tmpfsSize('rw,noexec')).toThrow('tmpfs options "rw,noexec" have no size=: every in-memory volume must be bounded');
  });

  it("turns Docker's health check forms into exec probes", () => {
    expect(execProbe(['CMD', '/bin/ok', 'x'])?.exec.command).toEqual(['/bin/ok', 'x']);
    expect(execProbe(['CMD-SHELL', 'test -f /tmp/ok'])?.exec.command).toEqual(['/bin/sh', '-c', 'test -f /tmp/ok']);
    expect(execProbe(['NONE'])).toBeUndefined();
    expect(execProbe(undefined)).toBeUndefined();
    expect(() => execProbe(['/bin/ok'])).toThrow('a health check must start with CMD, CMD-SHELL or NONE');
  });

  it('refuses a container a volume its pod does not hand it (the renewer gets the certs volume alone)', () => {
    const plan = { ...renewerPlan('https://ca.mesh.internal:9000'), mounts: [{ volume: 'trust' as const, path: TRUST_DIR, readOnly: false }] };
    expect(() => containerOf(plan, { name: 'renewer', image: 'x', pullPolicy: 'Never', volumes: { certs: 'certs' } })).toThrow(
      'container renewer mounts the trust volume, which its pod does not have',
    );
  });

  it('allocates consecutive Service addresses, the CA first', () => {
    expect(allocateServiceIps('10.96.0.254', ['a', 'b', 'c'])).toEqual({ a: '10.96.0.254', b: '10.96.0.255', c: '10.96.1.0' });
    expect(serviceNames(mesh)[0]).toBe('ca');
    expect(() => allocateServiceIps('10.96.0', ['a'])).toThrow('not an IPv4 address: "10.96.0"');
  });

  it('refuses what Kubernetes would refuse, naming it', () => {
    expect(() => render(mesh, { namePrefix: 'ab-' })).toThrow('the prefix names the namespace, so it must end with a letter or digit, got "ab-"');
    expect(() => render(mesh, { serviceIps: {} })).toThrow('serviceIps has no address for the Service "ca"');
    const named = (name: string) =>
      resolveMesh({ domain: 'mesh.internal', workloads: [{ name, runs: 'node-server', role: 'server', port: 8443, allow: ['ops'] }], operators: ['ops'] });
    expect(() => render(named('ca'))).toThrow(`workload "ca" has the CA's name: rename it`);
    expect(() => render(named('web-'))).toThrow('workload "web-" names a Deployment and a Service, so it must end with a letter or digit');
  });

  it('runs a custom image with its own health check, or none', () => {
    const custom = resolveMesh({
      domain: 'mesh.internal',
      workloads: [
        {
          name: 'mine',
          runs: { image: 'example/mine:1', identityForm: 'uri', protocol: 'https', health: ['CMD-SHELL', 'true'] },
          role: 'server',
          port: 8443,
          allow: ['theirs'],
        },
        { name: 'theirs', runs: { image: 'example/theirs:1', identityForm: 'uri', protocol: 'https', command: ['run'] }, role: 'client', calls: 'mine' },
      ],
    });
    const { objects } = render(custom, { pullPolicy: 'IfNotPresent', storageClassName: 'fast' });
    const mine = workloadPod(objects, 'mine').app;
    const theirs = workloadPod(objects, 'theirs').app;
    expect([mine.image, mine.imagePullPolicy, mine.readinessProbe?.exec.command]).toEqual(['example/mine:1', 'IfNotPresent', ['/bin/sh', '-c', 'true']]);
    expect([theirs.args, theirs.readinessProbe, theirs.resources.limits.memory]).toEqual([['run'], undefined, '192Mi']);
  });

  it('puts data claims in the storage class it is given', () => {
    const { objects } = render(mesh, { storageClassName: 'fast' });
    const claims = objects.filter((o) => o.kind === 'PersistentVolumeClaim');
    expect(claims.map((c) => c.metadata.name).sort()).toEqual(['ca', 'ca-root-key', 'mariadb-data', 'postgres-data']);
    for (const c of claims) expect(c.spec, c.metadata.name).toMatchObject({ accessModes: ['ReadWriteOnce'], storageClassName: 'fast' });
  });
});
