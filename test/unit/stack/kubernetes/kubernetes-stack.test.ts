// The Kubernetes stack (stack/kubernetes/kubernetes-stack.ts) as Terraform
// reads it: one kubectl_manifest per rendered object, chained in apply order,
// the init Job's gate, static host-path volumes, and nothing secret.
import { Testing } from 'cdktf';
import { describe, expect, it } from 'vitest';

import { CA_NAMES } from '../../../../stack/kubernetes/ca.js';
import { KubernetesStack, type KubernetesStackProps } from '../../../../stack/kubernetes/kubernetes-stack.js';
import type { KubeObject } from '../../../../stack/kubernetes/objects.js';
import { allocateServiceIps, renderMesh, serviceNames } from '../../../../stack/kubernetes/render.js';
import { HOST_PATH_STORAGE_CLASS, withHostPathVolumes } from '../../../../stack/kubernetes/volumes.js';
import { resolveMesh } from '../../../../stack/mesh-spec.js';
import { synthesize } from '../../helpers/cdktf-matchers.js';
import { NODE_PAIR } from '../fixtures.js';
import { CA_IMAGE, FIRST_SERVICE_IP, imageOf, MESHES, PREFIX } from './fixtures.js';

interface Manifest {
  readonly yaml_body: string;
  readonly depends_on?: string[];
  readonly force_new?: boolean;
  readonly wait?: boolean;
  readonly wait_for_rollout?: boolean;
  readonly server_side_apply?: boolean;
}
interface DataJson {
  readonly depends_on?: string[];
  readonly input?: { dir: string };
  readonly triggers_replace?: Record<string, string>;
  readonly provisioner: Array<{ 'local-exec': { command: string; environment: Record<string, string>; when?: string } }>;
}

const HOST_DIR = '/node/volumes';
const mesh = resolveMesh(NODE_PAIR);

function props(overrides: Partial<KubernetesStackProps> = {}): KubernetesStackProps {
  return {
    namePrefix: PREFIX,
    mesh,
    images: { ca: CA_IMAGE, workload: imageOf },
    serviceIps: allocateServiceIps(FIRST_SERVICE_IP, serviceNames(mesh)),
    kubeconfig: '/node/admin.kubeconfig',
    kubectl: '/node/bin/kubectl',
    statePath: '/state/terraform.tfstate',
    ...overrides,
  };
}

function build(overrides: Partial<KubernetesStackProps> = {}) {
  const stack = new KubernetesStack(Testing.app(), PREFIX, props(overrides));
  const { raw, json } = synthesize(stack);
  const manifests = (json.resource?.['kubectl_manifest'] ?? {}) as unknown as Record<string, Manifest>;
  const data = (json.resource?.['terraform_data'] ?? {}) as unknown as Record<string, DataJson>;
  /** Walks the depends_on chain from the resource nothing depends on back to the start. */
  const depended = new Set([...Object.values(manifests), ...Object.values(data)].flatMap((r) => r.depends_on ?? []));
  const all: Record<string, { depends_on?: string[] }> = {
    ...Object.fromEntries(Object.entries(manifests).map(([id, m]) => [`kubectl_manifest.${id}`, m])),
    ...Object.fromEntries(Object.entries(data).map(([id, d]) => [`terraform_data.${id}`, d])),
  };
  const lasts = Object.keys(all).filter((a) => !depended.has(a));
  const chain: string[] = [];
  for (let at: string | undefined = lasts[0]; at; at = all[at]?.depends_on?.[0]) chain.unshift(at);
  const objectOf = (address: string) => JSON.parse(manifests[address.replace(/^kubectl_manifest\./, '')]!.yaml_body) as KubeObject;
  return { stack, raw, json, manifests, data, lasts, chain, objectOf };
}

describe('the stack on a cluster with a provisioner', () => {
  const b = build();
  const rendered = renderMesh(props());

  it('applies every rendered object once, as JSON, by server-side apply, in renderMesh order', () => {
    expect(b.lasts).toHaveLength(1);
    const applied = b.chain.filter((a) => a.startsWith('kubectl_manifest.')).map(b.objectOf);
    expect(applied).toEqual(rendered);
    expect(Object.keys(b.manifests)).toHaveLength(rendered.length);
    expect(Object.values(b.manifests).every((m) => m.server_side_apply === true)).toBe(true);
  });

  it('starts the CA only once the init Job has completed, and waits for the CA to roll out', () => {
    const job = b.chain.indexOf('kubectl_manifest.job-ca-init');
    expect(b.chain.slice(job, job + 3)).toEqual(['kubectl_manifest.job-ca-init', 'terraform_data.ca-init-complete', 'kubectl_manifest.deployment-ca']);
    const gate = b.data['ca-init-complete']!;
    expect(gate.triggers_replace).toEqual({ job: '${kubectl_manifest.job-ca-init.uid}' });
    const exec = gate.provisioner[0]!['local-exec'];
    expect(exec.command).toMatch(/wait --for=condition=complete --timeout=180s "job\/\$JOB" \|\| \{ k logs "job\/\$JOB" --all-containers; exit 1; \}/);
    expect(exec.environment).toEqual({ KUBECTL: '/node/bin/kubectl', KUBECONFIG: '/node/admin.kubeconfig', NAMESPACE: PREFIX, JOB: CA_NAMES.initJob });
    const rolling = Object.entries(b.manifests).filter(([, m]) => m.wait_for_rollout !== false);
    expect(rolling.map(([id]) => id)).toEqual(['deployment-ca']);
  });

  it('replaces a Job rather than patching it, and waits on destroy until the namespace is gone', () => {
    expect(
      Object.entries(b.manifests)
        .filter(([, m]) => m.force_new)
        .map(([id]) => id),
    ).toEqual(['job-ca-init']);
    expect(
      Object.entries(b.manifests)
        .filter(([, m]) => m.wait)
        .map(([id]) => id),
    ).toEqual([`namespace-${PREFIX}`]);
    expect(b.chain[0]).toBe(`kubectl_manifest.namespace-${PREFIX}`);
  });

  it('reads the cluster from a kubeconfig path and keeps state where it is told', () => {
    expect(b.json.provider?.['kubectl']).toEqual([{ config_path: '/node/admin.kubeconfig', load_config_file: true }]);
    expect(b.json.terraform?.backend?.['local']?.['path']).toBe('/state/terraform.tfstate');
    expect(b.json.output?.['namespace']?.value).toBe(PREFIX);
  });

  it('makes no volume and no directory of its own', () => {
    expect(
      Object.values(b.manifests)
        .map((m) => JSON.parse(m.yaml_body) as KubeObject)
        .filter((o) => o.kind === 'PersistentVolume'),
    ).toEqual([]);
    expect(Object.keys(b.data)).toEqual(['ca-init-complete']);
  });
});

describe('static host-path volumes (a cluster without a provisioner)', () => {
  const b = build({ storageClassName: HOST_PATH_STORAGE_CLASS, hostPathDir: HOST_DIR });
  const objects = b.chain.filter((a) => a.startsWith('kubectl_manifest.')).map(b.objectOf);

  it('binds each claim to a volume of its own, applied just before it, in a directory under hostPathDir', () => {
    const claims = objects.filter((o) => o.kind === 'PersistentVolumeClaim');
    expect(claims.map((c) => c.metadata.name)).toEqual([CA_NAMES.state, CA_NAMES.rootKey]);
    for (const c of claims) {
      const volume = objects[objects.indexOf(c) - 1]!;
      expect(volume).toMatchObject({
        kind: 'PersistentVolume',
        metadata: { name: `${PREFIX}-${c.metadata.name}` },
        spec: {
          storageClassName: HOST_PATH_STORAGE_CLASS,
          persistentVolumeReclaimPolicy: 'Retain',
          accessModes: ['ReadWriteOnce'],
          capacity: { storage: (c.spec as { resources: { requests: { storage: string } } }).resources.requests.storage },
          claimRef: { namespace: PREFIX, name: c.metadata.name },
          hostPath: { path: `${HOST_DIR}/${PREFIX}/${c.metadata.name}`, type: 'Directory' },
        },
      });
      expect(c.spec).toMatchObject({ storageClassName: HOST_PATH_STORAGE_CLASS });
    }
    expect(b.manifests[`persistentvolume-${PREFIX}-ca`]?.force_new).toBe(true);
  });

  it('makes each directory (the pods user, 0700) before anything else, and removes it after everything else', () => {
    const dirs = Object.entries(b.data).filter(([id]) => id.startsWith('dir-'));
    expect(dirs.map(([, d]) => d.input?.dir).sort()).toEqual([`${HOST_DIR}/${PREFIX}/${CA_NAMES.state}`, `${HOST_DIR}/${PREFIX}/${CA_NAMES.rootKey}`]);
    expect(b.manifests[`namespace-${PREFIX}`]?.depends_on?.sort()).toEqual(dirs.map(([id]) => `terraform_data.${id}`).sort());
    for (const [, d] of dirs) {
      const [create, destroy] = d.provisioner.map((p) => p['local-exec']);
      expect(create).toEqual({ command: 'umask 077 && mkdir -p "$DIR" && chown 1000:1000 "$DIR" && chmod 0700 "$DIR"', environment: { DIR: d.input?.dir } });
      expect(destroy).toEqual({
        command: 'rm -rf -- "$DIR" && { rmdir -- "$(dirname -- "$DIR")" 2>/dev/null || true; }',
        environment: { DIR: '${self.input.dir}' },
        when: 'destroy',
      });
    }
  });

  it('refuses the host-path class without a directory', () => {
    expect(() => build({ storageClassName: HOST_PATH_STORAGE_CLASS })).toThrow(`storageClassName ${HOST_PATH_STORAGE_CLASS} needs hostPathDir`);
  });

  it('leaves claims of any other class alone', () => {
    const rendered = renderMesh(props({ storageClassName: 'standard' }));
    expect(withHostPathVolumes(rendered, HOST_DIR)).toEqual(rendered);
  });
});

describe('no secret reaches the configuration, so none reaches the state', () => {
  const built = [
    ['the node pair', build({ storageClassName: HOST_PATH_STORAGE_CLASS, hostPathDir: HOST_DIR })],
    ...MESHES.map((m) => [`the ${m.name} mesh`, build({ mesh: m.mesh, serviceIps: m.ips })] as const),
  ] as const;

  it.each(built.map(([name, b]) => [name, b]))('%s: no Secret object, and no credential in any body', (_name, b) => {
    const kinds = Object.values(b.manifests).map((m) => (JSON.parse(m.yaml_body) as KubeObject).kind);
    expect(kinds).not.toContain('Secret');
    // The one field that names a token is the one that turns it off (pods.test.ts: false in every pod).
    for (const text of [b.raw, JSON.stringify(b.stack.toTerraform())].map((t) => t.replaceAll('automountServiceAccountToken', ''))) {
      for (const pattern of [/password/i, /token/i, /-----BEGIN/, /PRIVATE KEY/i, /secrets\//, /client[-_]key/i]) expect(text).not.toMatch(pattern);
    }
  });
});
