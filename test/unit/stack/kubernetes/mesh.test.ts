// What the Kubernetes renderer reads from the shared sources (workload-env.ts,
// workload-plan.ts, technologies.ts): each app's environment, command,
// health, memory and writable paths; a Service per server at the address
// every pod's hostAliases give the mesh's name.
import { describe, expect, it } from 'vitest';

import { CERT_DIR, LABEL, ROOT_PIN_FILE } from '../../../../common/facts.js';
import { NOT_IN_CATALOG } from '../../../../meshes/catalog.js';
import { CA_NAMES } from '../../../../stack/kubernetes/ca.js';
import { find, HOST_PORT_ANNOTATION, type Service } from '../../../../stack/kubernetes/objects.js';
import { TECHNOLOGIES } from '../../../../stack/technologies.js';
import { acmeDnsNames, appEnvironment, appRuntime } from '../../../../stack/workload-env.js';
import { APP_MEMORY_MB, caPlan } from '../../../../stack/workload-plan.js';
import { envRecord, MESHES, podsOf, PREFIX, workloadPod } from './fixtures.js';

/** `[dns-subdomain/]name`, the name at most 63 characters. */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const PROBE_SCHEDULE = { periodSeconds: 60, timeoutSeconds: 5, failureThreshold: 3 };
/** The CA's: every second while it starts, for up to Docker's 60 s start period. */
const STARTUP_SCHEDULE = { periodSeconds: 1, timeoutSeconds: 5, failureThreshold: 60 };

describe.each(MESHES)('the $name mesh on Kubernetes', ({ mesh, objects, ips }) => {
  const ca = caPlan(mesh.domain, {}, acmeDnsNames(mesh.workloads));

  it('lives in the namespace <prefix>, which enforces Pod Security "restricted"', () => {
    const ns = find(objects, 'Namespace', PREFIX);
    expect(ns.metadata.labels).toMatchObject({ [LABEL.prefix]: PREFIX, 'pod-security.kubernetes.io/enforce': 'restricted' });
    for (const o of objects.filter((x) => x.kind !== 'Namespace')) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(PREFIX);
  });

  it('labels every object with valid Kubernetes labels (identities are annotations)', () => {
    for (const o of objects) {
      expect(o.metadata.labels?.[LABEL.project], o.metadata.name).toBe('mtls-reference');
      for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
        expect(LABEL_KEY.test(k), k).toBe(true);
        expect(v.length <= 63 && LABEL_VALUE.test(v), `${k}=${v}`).toBe(true);
      }
    }
  });

  it.each(mesh.workloads.map((w) => [w.name, w] as const))('%s: its app runs what the Docker target runs', (_, w) => {
    const { app, renewer } = workloadPod(objects, w.name);
    const runtime = appRuntime(w);
    expect(envRecord(app)).toEqual({ CERT_DIR, ROOT_PIN_FILE, ...appEnvironment(w, { caUrl: ca.caUrl }) });
    expect(app.args).toEqual(runtime.command);
    expect(app.command).toBeUndefined();
    expect(app.resources.limits.memory).toBe(`${runtime.memoryMb ?? APP_MEMORY_MB}Mi`);
    expect(app.readinessProbe).toEqual({ exec: { command: runtime.health!.slice(1) }, ...PROBE_SCHEDULE });
    // No startup probe: it would restart a container still waiting for enrollment.
    expect(app.startupProbe).toBeUndefined();
    for (const path of Object.keys(runtime.tmpfs ?? {})) expect(app.volumeMounts.map((m) => m.mountPath)).toContain(path);
    expect(renewer.command).toEqual(['/usr/local/bin/mtls-renewer']);
    expect(envRecord(renewer)).toEqual({ CA_URL: ca.caUrl, CERT_DIR });
    expect(renewer.readinessProbe).toEqual({ exec: { command: ['/usr/local/bin/mtls-renewer', 'health'] }, ...PROBE_SCHEDULE });
    expect(renewer.startupProbe).toBeUndefined();
    expect(app.image).toBe(`k8stest-${w.technologyName}:local`);
  });

  it.each(mesh.workloads.filter((w) => w.port !== undefined).map((w) => [w.name, w] as const))(
    '%s: has a Service on its mesh port at the address every workload pod gives its name',
    (_, w) => {
      const svc = find<Service>(objects, 'Service', w.name);
      expect(svc.spec).toEqual({
        type: 'ClusterIP',
        clusterIP: ips[w.name],
        selector: { [LABEL.project]: 'mtls-reference', [LABEL.prefix]: PREFIX, [LABEL.workload]: w.name },
        ports: [{ name: w.protocol, port: w.port, targetPort: w.port, protocol: 'TCP' }],
        publishNotReadyAddresses: true,
      });
      expect(svc.metadata.annotations).toMatchObject({ [LABEL.dnsName]: w.identity.dnsName, [HOST_PORT_ANNOTATION]: String(w.hostPort) });
      const { spec, app } = workloadPod(objects, w.name);
      expect(spec.securityContext).toBeDefined();
      expect(app.ports).toEqual([{ name: w.protocol, containerPort: w.port, protocol: 'TCP' }]);
      for (const other of mesh.workloads) {
        expect(workloadPod(objects, other.name).spec.hostAliases, other.name).toContainEqual({ ip: ips[w.name], hostnames: [w.identity.dnsName] });
      }
    },
  );

  it("fences the namespace as Docker's internal network, and the CA's Jobs off any network", () => {
    const policies = objects.filter((o) => o.kind === 'NetworkPolicy');
    expect(policies.map((o) => [o.metadata.name, o.spec])).toEqual([
      [
        'mesh',
        {
          podSelector: { matchExpressions: [{ key: LABEL.role, operator: 'NotIn', values: ['ca-init'] }] },
          policyTypes: ['Ingress', 'Egress'],
          ingress: [{ from: [{ podSelector: {} }] }],
          egress: [{ to: [{ podSelector: {} }] }],
        },
      ],
      ['ca-jobs', { podSelector: { matchLabels: { [LABEL.role]: 'ca-init' } }, policyTypes: ['Ingress', 'Egress'] }],
    ]);
  });

  it('gives clients no Service', () => {
    const services = objects.filter((o) => o.kind === 'Service').map((o) => o.metadata.name);
    expect(services.sort()).toEqual([CA_NAMES.service, ...mesh.workloads.filter((w) => w.port !== undefined).map((w) => w.name)].sort());
  });

  it("runs the CA's plan: the shared environment, its Service at ca.<domain>'s address", () => {
    const caPod = podsOf(objects).find((p) => p.owner === `Deployment/${CA_NAMES.deployment}`)!.spec;
    const initPod = podsOf(objects).find((p) => p.owner === `Job/${CA_NAMES.initJob}`)!.spec;
    expect(envRecord(caPod.containers[0]!)).toEqual(ca.serve.env);
    expect(envRecord(initPod.containers[0]!)).toEqual(ca.init.env);
    expect(initPod.containers[0]!.args).toEqual(['init']);
    expect(caPod.containers[0]!.readinessProbe?.exec.command).toEqual(ca.serve.health!.slice(1));
    expect(caPod.containers[0]!.startupProbe).toEqual({ exec: { command: ca.serve.health!.slice(1) }, ...STARTUP_SCHEDULE });
    expect(find<Service>(objects, 'Service', CA_NAMES.service).spec).toMatchObject({ clusterIP: ips[CA_NAMES.service], ports: [{ port: 9000 }] });
    expect(workloadPod(objects, mesh.workloads[0]!.name).spec.hostAliases).toContainEqual({ ip: ips[CA_NAMES.service], hostnames: [ca.dnsName] });
    expect(caPod.hostAliases).toBeUndefined();
    expect(initPod.hostAliases).toBeUndefined();
  });
});

describe('the catalog mesh', () => {
  it('renders every technology of technologies.ts the catalog runs (all but those it names as left out)', () => {
    const { objects } = MESHES.find((m) => m.name === 'catalog')!;
    const rendered = new Set(objects.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.labels?.[LABEL.technology]));
    expect(Object.keys(TECHNOLOGIES).filter((t) => !rendered.has(t))).toEqual(Object.keys(NOT_IN_CATALOG));
  });
});
