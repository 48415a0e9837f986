// The Kubernetes stack's outputs: the same shape as the Docker stack's, so
// the scripts read either; every container handle names a container the
// rendered objects run, and parses as the admin channel expects.
import { Testing } from 'cdktf';
import { describe, expect, it } from 'vitest';

import { CA_PORT } from '../../../../common/facts.js';
import { NAMED_MESHES } from '../../../../meshes/index.js';
import { parseHandle } from '../../../../scripts/lib/admin/channel.js';
import type { StackOutputs } from '../../../../scripts/lib/deploy/stack-outputs.js';
import { CA_NAMES } from '../../../../stack/kubernetes/ca.js';
import { KubernetesStack } from '../../../../stack/kubernetes/kubernetes-stack.js';
import type { Service } from '../../../../stack/kubernetes/objects.js';
import { allocateServiceIps, serviceNames } from '../../../../stack/kubernetes/render.js';
import { resolveMesh } from '../../../../stack/mesh-spec.js';
import { synthesize } from '../../helpers/cdktf-matchers.js';
import { buildStack } from '../fixtures.js';
import { CA_IMAGE, FIRST_SERVICE_IP, imageOf, PREFIX } from './fixtures.js';

type Outputs = Record<string, { value: unknown }>;

function kubernetesOutputs(meshName: keyof typeof NAMED_MESHES): { outputs: StackOutputs; stack: KubernetesStack } {
  const mesh = resolveMesh(NAMED_MESHES[meshName]!.spec);
  const stack = new KubernetesStack(Testing.app(), PREFIX, {
    namePrefix: PREFIX,
    mesh,
    images: { ca: CA_IMAGE, workload: imageOf },
    serviceIps: allocateServiceIps(FIRST_SERVICE_IP, serviceNames(mesh)),
    kubeconfig: '/node/admin.kubeconfig',
    statePath: '/state/terraform.tfstate',
  });
  const raw = synthesize(stack).json.output as unknown as Outputs;
  return { outputs: Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, v.value])) as unknown as StackOutputs, stack };
}

/** The containers each Deployment of the rendered objects runs (native sidecars included). */
function containersByDeployment(stack: KubernetesStack): Map<string, string[]> {
  return new Map(
    stack.objects
      .filter((o) => o.kind === 'Deployment')
      .map((o) => {
        const pod = (o as unknown as { spec: { template: { spec: { containers: { name: string }[]; initContainers?: { name: string }[] } } } }).spec.template
          .spec;
        return [o.metadata.name, [...(pod.initContainers ?? []), ...pod.containers].map((c) => c.name)];
      }),
  );
}

describe.each(Object.keys(NAMED_MESHES))('the %s mesh: the Kubernetes stack outputs', (meshName) => {
  const { outputs, stack } = kubernetesOutputs(meshName);
  const running = containersByDeployment(stack);
  const configMaps = new Set(stack.objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name));

  it('name every app, renewer and the CA by a handle of a container that runs, in the stack namespace', () => {
    const handles = [outputs.ca_container, ...outputs.workloads.flatMap((w) => [w.container, w.renewer])];
    for (const handle of handles) {
      const t = parseHandle(handle);
      if (t.kind !== 'kubernetes') throw new Error(`${handle} is not a Kubernetes handle`);
      expect(t.namespace, handle).toBe(PREFIX);
      expect(running.get(t.owner.name), handle).toContain(t.container);
    }
  });

  it("point at each app's root pin ConfigMap, and no certs volume (it is in memory)", () => {
    for (const w of outputs.workloads) {
      expect(configMaps.has(w.trust_volume), w.trust_volume).toBe(true);
      expect(w.volume).toBe('');
    }
  });

  it('say how to reach the cluster and the CA by paths and names alone: no fixed host URL, the CA Service to forward a port to', () => {
    expect(outputs.cluster).toEqual({ kubectl: 'kubectl', kubeconfig: '/node/admin.kubeconfig', context: '' });
    expect(outputs.ca_host_url).toBe('');
    expect(outputs.ca_service).toEqual({ namespace: PREFIX, name: CA_NAMES.service, port: CA_PORT });
    const svc = stack.objects.find((o) => o.kind === 'Service' && o.metadata.name === outputs.ca_service!.name) as Service | undefined;
    expect(svc?.spec.ports.map((p) => p.port)).toEqual([CA_PORT]);
  });

  it("describe the mesh as the Docker stack's outputs do, apart from where things are", () => {
    const docker = buildStack({ namePrefix: PREFIX, mesh: NAMED_MESHES[meshName]!.spec }).json.output as unknown as Outputs;
    const where = (ws: StackOutputs['workloads']) => ws.map(({ container: _c, renewer: _r, volume: _v, trust_volume: _t, ...rest }) => rest);
    expect(where(outputs.workloads)).toEqual(where(docker['workloads']!.value as StackOutputs['workloads']));
    for (const key of ['ca_url', 'provisioner', 'cert_lifetimes', 'domain', 'operators'] as const) expect(outputs[key], key).toEqual(docker[key]!.value);
  });
});
