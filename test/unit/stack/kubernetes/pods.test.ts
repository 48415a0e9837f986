// Every pod the Kubernetes renderer makes, on both shipped meshes: hardened
// as every Docker container is (stack/hardening.ts), the certs volume shared
// as on Docker (the renewer writes it, the app reads it), the root pin only
// in the app, the root key only in the CA's Jobs.
import { describe, expect, it } from 'vitest';

import { CERT_DIR, TRUST_DIR } from '../../../../common/facts.js';
import { CA_NAMES } from '../../../../stack/kubernetes/ca.js';
import { containersOf, MESHES, podsOf, workloadPod } from './fixtures.js';

const HARDENED_CONTAINER = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

describe.each(MESHES)('the $name mesh on Kubernetes', ({ mesh, objects }) => {
  const pods = podsOf(objects);

  it('has a pod for the CA, its init Job and every workload', () => {
    expect(pods.map((p) => p.owner).sort()).toEqual(
      [`Deployment/${CA_NAMES.deployment}`, `Job/${CA_NAMES.initJob}`, ...mesh.workloads.map((w) => `Deployment/${w.name}`)].sort(),
    );
  });

  it.each(pods.map((p) => [p.owner, p] as const))('%s is hardened', (_, { spec }) => {
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.enableServiceLinks).toBe(false);
    expect(spec.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    for (const c of containersOf(spec)) {
      expect(c.securityContext, c.name).toEqual(HARDENED_CONTAINER);
      expect(c.imagePullPolicy, c.name).toBe('Never');
      expect(c.resources.limits.memory, c.name).toMatch(/^[1-9]\d*Mi$/);
      expect(c.resources.requests, c.name).toEqual(c.resources.limits);
      // Every writable path is a bounded in-memory volume, as every tmpfs is on Docker.
      expect(c.volumeMounts.some((m) => m.mountPath === '/tmp')).toBe(true);
    }
    for (const v of spec.volumes)
      if ('emptyDir' in v) expect(v.emptyDir, v.name).toEqual({ medium: 'Memory', sizeLimit: expect.stringMatching(/^\d+[KMG]i$/) });
  });

  it.each(mesh.workloads.map((w) => [w.name]))('%s: the renewer is a native sidecar that writes the certs; the app reads them', (name) => {
    const { spec, app, renewer } = workloadPod(objects, name);
    expect(renewer.restartPolicy).toBe('Always');
    expect(spec.containers.map((c) => c.name)).toEqual(['app']);
    // Docker: the app mounts the certs volume read-only, the renewer read-write.
    expect(app.volumeMounts.filter((m) => m.mountPath === CERT_DIR)).toEqual([{ name: 'certs', mountPath: CERT_DIR, readOnly: true }]);
    expect(renewer.volumeMounts.filter((m) => m.mountPath === CERT_DIR)).toEqual([{ name: 'certs', mountPath: CERT_DIR }]);
    expect(spec.volumes.find((v) => v.name === 'certs')).toEqual({ name: 'certs', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } });
  });

  it.each(mesh.workloads.map((w) => [w.name]))(
    '%s: the pin ConfigMap is mounted read-only in the app only, and holds nothing until bootstrap-trust',
    (name) => {
      const { spec, app, renewer } = workloadPod(objects, name);
      const trust = spec.volumes.find((v) => 'configMap' in v);
      expect(trust).toEqual({ name: 'trust', configMap: { name: `${name}-trust`, defaultMode: 0o444 } });
      expect(app.volumeMounts.filter((m) => m.name === 'trust')).toEqual([{ name: 'trust', mountPath: TRUST_DIR, readOnly: true }]);
      expect(renewer.volumeMounts.map((m) => m.name)).not.toContain('trust');
      const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === `${name}-trust`);
      expect(configMap?.data).toBeUndefined();
    },
  );

  it('mounts a pin ConfigMap in its own workload pod only: none in the CA or its Job', () => {
    const workloads = new Set(mesh.workloads.map((w) => `Deployment/${w.name}`));
    for (const p of pods) {
      const configMaps = p.spec.volumes.flatMap((v) => ('configMap' in v ? [v.configMap.name] : []));
      expect(configMaps, p.owner).toEqual(workloads.has(p.owner) ? [`${p.owner.slice('Deployment/'.length)}-trust`] : []);
    }
  });

  it('mounts the root-key claim in the init Job only, never in a long-running pod', () => {
    const withRootKey = pods.filter((p) => p.spec.volumes.some((v) => 'persistentVolumeClaim' in v && v.persistentVolumeClaim.claimName === CA_NAMES.rootKey));
    expect(withRootKey.map((p) => p.owner)).toEqual([`Job/${CA_NAMES.initJob}`]);
    expect(withRootKey.every((p) => !p.longRunning && p.spec.restartPolicy === 'OnFailure')).toBe(true);
    const ca = pods.find((p) => p.owner === `Deployment/${CA_NAMES.deployment}`)!;
    expect(ca.spec.volumes.filter((v) => 'persistentVolumeClaim' in v)).toEqual([{ name: 'state', persistentVolumeClaim: { claimName: CA_NAMES.state } }]);
  });

  it('keeps every data path on a claim of its workload', () => {
    for (const w of mesh.workloads.filter((x) => x.technology?.dataPath)) {
      const { spec, app } = workloadPod(objects, w.name);
      expect(spec.volumes).toContainEqual({ name: 'data', persistentVolumeClaim: { claimName: `${w.name}-data` } });
      expect(app.volumeMounts).toContainEqual({ name: 'data', mountPath: w.technology!.dataPath });
      expect(objects.some((o) => o.kind === 'PersistentVolumeClaim' && o.metadata.name === `${w.name}-data`)).toBe(true);
    }
  });

  it('renders no secret: no Secret, no private key, no password or token, no path into the CA secrets', () => {
    const text = JSON.stringify(objects);
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(text).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
    expect(text).not.toMatch(/secrets\/(provisioner_)?password|root_ca_key|intermediate_ca_key/);
    for (const p of pods) {
      for (const v of p.spec.volumes) expect(Object.keys(v), p.owner).not.toContain('secret');
      for (const c of containersOf(p.spec)) for (const e of c.env) expect(e.name, `${p.owner} ${c.name}`).not.toMatch(/PASSWORD|TOKEN|SECRET/);
    }
  });
});
