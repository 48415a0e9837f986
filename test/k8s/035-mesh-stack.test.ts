/**
 * The mesh's CDKTF stack on the local cluster (stack/kubernetes/kubernetes-stack.ts):
 * the kubectl provider (built into the mirror on demand when offline), the
 * CA and Node images built by Docker from the Docker target's recipes and
 * imported into the node, a tiny mesh (one server, one client) applied by
 * the engine with the deploy's own steps (scripts/lib/deploy/iac.ts); then
 * the operator's own code, unchanged, through the admin channel's Kubernetes
 * side: bootstrap-trust (the root over a forwarded loopback port, the pins
 * in ConfigMaps), enrollment (the key made in the pod), readiness and the
 * apps' reports; issue-cert, refusals, revoke, enroll --watch (helpers/operator-on-cluster.ts); then destroy.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';

import { App } from 'cdktf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $, fs } from 'zx';

import { LABEL, PROJECT, ROOT_PIN_FILE } from '../../common/facts.js';
import { waitFor } from '../../common/wait.js';
import { configMapKey } from '../../scripts/lib/admin/kubernetes.js';
import { rootFingerprint } from '../../scripts/lib/ca/step.js';
import { bootstrapTrust } from '../../scripts/lib/ca/trust-bootstrap.js';
import { engineSteps, stepShell, TimedRun } from '../../scripts/lib/deploy/iac.js';
import { buildServices, projectDir, recordOutputs, removeLocalState, stackDirs } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { enrollAll } from '../../scripts/lib/identity/enrollment.js';
import { normaliseFingerprint } from '../../scripts/lib/identity/pki.js';
import { buildIntoCluster } from '../../scripts/lib/kubernetes/images.js';
import { cachePaths } from '../../scripts/lib/toolchain/cache.js';
import { detectMode } from '../../scripts/lib/toolchain/connectivity.js';
import { loadToolchain, toolchainEnv } from '../../scripts/lib/toolchain/index.js';
import { ensureProviderFor } from '../../scripts/lib/toolchain/terraform.js';
import { appReport } from '../../scripts/lib/workloads/app-report.js';
import { FILES, loadStack, type Stack } from '../../scripts/lib/workloads/handles.js';
import { waitForContainers, waitForWorkloads } from '../../scripts/lib/workloads/readiness.js';
import { observeRotations } from '../../scripts/lib/workloads/rotation-check.js';
import { parseDuration } from '../../stack/duration.js';
import { CA_NAMES } from '../../stack/kubernetes/ca.js';
import { KubernetesStack } from '../../stack/kubernetes/kubernetes-stack.js';
import { allocateServiceIps, serviceNames } from '../../stack/kubernetes/render.js';
import { HOST_PATH_STORAGE_CLASS } from '../../stack/kubernetes/volumes.js';
import { PIN_KEY } from '../../stack/kubernetes/workload.js';
import { type MeshSpec, resolveMesh } from '../../stack/mesh-spec.js';
import { HEALTH_CHECK, NODE_IMAGE, STEP_CA_IMAGE } from '../../stack/technology.js';
import { KUBECTL_PROVIDER } from '../../stack/versions.js';
import { layout, run, runOk } from './helpers/cluster.js';
import { hostCallTests, replacementTests } from './helpers/operator-on-cluster.js';

const PREFIX = 'k8sstack';
const CA_IMAGE = `${PROJECT}/k8s-stack-ca:test`;
const WORKLOAD_IMAGE = `${PROJECT}/k8s-stack-workload:test`;
/** The CA's shortest certificate: renewals every ~40 s (images/step-ca/renewer.sh renews at 62-66 % of the lifetime). */
const LIFETIME = '1m';
/** In the service range's static band (KEP-3070: the lowest 16 of a /24), above the `kubernetes` Service's .1. */
const FIRST_SERVICE_IP = '10.96.0.10';
const HOST_PATH_DIR = path.join(layout.state, 'volumes');
const TINY_MESH: MeshSpec = {
  domain: 'mesh.internal',
  operators: ['ops'],
  workloads: [
    { name: 'server', runs: 'node-server', role: 'server', port: 8443, allow: ['client', 'ops'] },
    { name: 'client', runs: 'node-client', role: 'client', calls: 'server' },
  ],
};

const dirs = stackDirs(PREFIX);
const shell = $({ quiet: true, nothrow: true, timeout: '10m' });
const log = (s: string) => process.stderr.write(`[035-mesh-stack] ${s}\n`);
let env: NodeJS.ProcessEnv;
let terraform: { binary: string; flavour: 'terraform' | 'tofu' };

/** The engine's steps of a verb in the synthesized stack's directory, as the deploy runs them; its output, and each step's seconds. */
async function engine(verb: 'deploy' | 'destroy' | 'diff'): Promise<{ output: string; seconds: string }> {
  const timed = new TimedRun(true);
  const seconds: string[] = [];
  for (const args of engineSteps(verb)) {
    const started = Date.now();
    const code = await timed.run(stepShell({ cwd: dirs.workDir, env, quiet: true })`${terraform.binary} ${args}`);
    if (code !== 0)
      throw new Error(`terraform ${args[0]} (${verb}) failed (exit ${code}):\n${(timed.stdout + timed.stderr).split('\n').slice(-40).join('\n')}`);
    seconds.push(`${args[0]} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  return { output: timed.stdout, seconds: seconds.join(', ') };
}

const selector = (role: string) => `${LABEL.prefix}=${PREFIX},${LABEL.role}=${role}`;
const jsonpath = (args: readonly string[], path: string) => runOk([...args, '--namespace', PREFIX, '-o', `jsonpath=${path}`]);

describe('the mesh stack applied by the kubectl provider', { timeout: 600_000 }, () => {
  let applied = false;

  beforeAll(async () => {
    const paths = cachePaths();
    const tc = await loadToolchain(paths);
    const { providers } = await detectMode();
    const started = Date.now();
    const { built } = await ensureProviderFor(paths, KUBECTL_PROVIDER, { fromMirror: providers === 'mirror' });
    log(
      `${KUBECTL_PROVIDER.source}: ${providers === 'mirror' ? (built ? 'built into the mirror' : 'in the mirror') : 'from the registry'} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    env = { ...toolchainEnv(tc), FORCE_COLOR: '0', TF_IN_AUTOMATION: '1' };
    terraform = tc.terraform;

    const images = Date.now();
    await buildServices();
    for (const [recipe, tag] of [
      [STEP_CA_IMAGE, CA_IMAGE],
      [NODE_IMAGE, WORKLOAD_IMAGE],
    ] as const) {
      await buildIntoCluster(layout, { recipe, baseImages: tc.baseImages, projectDir, tag });
    }
    log(`images built and imported: ${((Date.now() - images) / 1000).toFixed(1)} s`);

    await removeLocalState(PREFIX);
    const mesh = resolveMesh(TINY_MESH);
    // A fresh clone has no synth directory yet (the App makes only its last level).
    await fs.mkdirp(dirs.synthOut);
    const app = new App({ outdir: dirs.synthOut });
    new KubernetesStack(app, PREFIX, {
      namePrefix: PREFIX,
      mesh,
      images: { ca: CA_IMAGE, workload: () => WORKLOAD_IMAGE },
      serviceIps: allocateServiceIps(FIRST_SERVICE_IP, serviceNames(mesh)),
      storageClassName: HOST_PATH_STORAGE_CLASS,
      hostPathDir: HOST_PATH_DIR,
      kubeconfig: layout.adminKubeconfig,
      kubectl: path.join(layout.kubernetesBin, 'kubectl'),
      statePath: dirs.stateFile,
    });
    app.synth();
  });

  afterAll(async () => {
    // After a failure half-way: take down what was made; the image was only ever this suite's.
    if (applied) await engine('destroy').catch((err: unknown) => log(`cleanup destroy failed: ${String(err)}`));
    await removeLocalState(PREFIX);
    await shell`docker image rm ${CA_IMAGE} ${WORKLOAD_IMAGE}`;
  });

  it('applies: the init Job completes, then the CA rolls out Ready on its static volumes', async () => {
    applied = true;
    log(`deploy: ${(await engine('deploy')).seconds}`);
    await recordOutputs(PREFIX, terraform, env);
    expect(await jsonpath(['get', 'job', CA_NAMES.initJob], '{.status.succeeded}/{.status.conditions[?(@.type=="Complete")].status}')).toBe('1/True');
    expect(await jsonpath(['get', 'deployment', CA_NAMES.deployment], '{.status.readyReplicas}')).toBe('1');
    const ready = await jsonpath(['get', 'pods', '--selector', selector('ca')], '{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}');
    expect(ready.split('\n').filter(Boolean)).toEqual(['True']);
    for (const claim of [CA_NAMES.state, CA_NAMES.rootKey]) {
      expect(await jsonpath(['get', 'pvc', claim], '{.status.phase}/{.spec.volumeName}')).toBe(`Bound/${PREFIX}-${claim}`);
      const dir = await stat(path.join(HOST_PATH_DIR, PREFIX, claim));
      expect({ uid: dir.uid, mode: (dir.mode & 0o777).toString(8) }).toEqual({ uid: 1000, mode: '700' });
    }
    // The init Job moved the root key to its own volume; the serving CA's volume holds none.
    expect((await fs.readdir(path.join(HOST_PATH_DIR, PREFIX, CA_NAMES.rootKey))).length).toBeGreaterThan(0);
  });

  it('serves: the CA answers its own health check over TLS', async () => {
    const out = await run(['exec', '--namespace', PREFIX, `deployment/${CA_NAMES.deployment}`, '--', '/bin/bash', '/entrypoint.sh', 'health']);
    expect(out.stdout).toMatch(/^ready: the CA serves https:\/\/127\.0\.0\.1:9000/);
  });

  describe("the operator's commands, through the admin channel", () => {
    let stack: Stack;
    let fingerprint: string;
    const named = (name: string) => stack.workloads.find((w) => w.name === name)!;

    beforeAll(async () => {
      stack = await loadStack(PREFIX);
    });

    it("bootstrap-trust: the root fetched over a forwarded loopback port and checked; the pin in each app's ConfigMap and in its mounted file; root.crt beside each renewer", async () => {
      const started = Date.now();
      const result = await bootstrapTrust(PREFIX, { quiet: true });
      fingerprint = normaliseFingerprint(await rootFingerprint(stack.ca));
      expect(result.fingerprint).toBe(fingerprint);
      const root = await fs.readFile(stackDirs(PREFIX).hostStep.root, 'utf8');
      for (const w of stack.workloads) {
        expect(await configMapKey(w.renewer, w.trust_volume, PIN_KEY), w.name).toContain(fingerprint);
        expect(await docker.readFile(w.renewer, FILES.root), w.name).toBe(root);
      }
      // The kubelet projects the new ConfigMap into the running pod (nudged by the annotation, not at its next periodic sync).
      await Promise.all(
        stack.workloads.map((w) =>
          waitFor(`${w.name}'s app to see the pin`, async () => (await docker.readFile(w.container, ROOT_PIN_FILE))?.includes(fingerprint), {
            timeoutMs: 45_000,
            intervalMs: 500,
          }),
        ),
      );
      log(`bootstrap-trust until every app saw its pin: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      // The trust volume is read-only to the app, and the renewer has none.
      const write = await docker.exec(named('server').container, ['sh', '-c', `echo x > ${ROOT_PIN_FILE}`]);
      expect(write.stderr).toMatch(/Read-only file system/);
    });

    it('enrolls: each key made in its pod (0600), the certificate naming the workload; every app and renewer then passes its own health check', async () => {
      const started = Date.now();
      // One-minute certificates (the CA's minimum): the renewals below come within the test's time.
      const results = await enrollAll(stack, stack.workloads, { concurrency: 2, lifetime: LIFETIME });
      expect(results.map((r) => ({ workload: r.workload, action: r.action, keyMode: r.keyMode, error: r.error }))).toEqual(
        stack.workloads.map((w) => ({ workload: w.name, action: 'issued', keyMode: '600', error: undefined })),
      );
      for (const r of results) expect(r.identities, r.workload).toEqual(named(r.workload).sans);
      await waitForWorkloads(stack.workloads);
      log(`enrolled until ready: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    });

    it("the client calls the server over mTLS: ok calls and 0 failed, in the apps' own reports", async () => {
      const client = named('client');
      const report = await waitFor(
        'the client to have made ok calls',
        async () => {
          const r = await appReport(client);
          return (r?.requests.ok ?? 0) >= 5 && r;
        },
        { timeoutMs: 60_000, intervalMs: 1000 },
      );
      expect(report.requests.failed).toBe(0);
      expect(report.lastError ?? null).toBeNull();
      const server = await appReport(named('server'));
      expect(server?.requests.served).toBeGreaterThanOrEqual(5);
    });

    hostCallTests(PREFIX, () => stack);
  });

  describe('renewal on the cluster, through the same rotation check as on Docker', () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await loadStack(PREFIX);
    });

    it('every workload rotates twice under its callers traffic, notAfter moving forward, with 0 failed calls', async () => {
      const report = await observeRotations(stack, { rotations: 2, timeoutMs: 4 * parseDuration(LIFETIME) * 1000, intervalMs: 1000 });
      log(`two rotations in ${report.elapsedSeconds.toFixed(0)} s: ${JSON.stringify(report.calls)}`);
      expect(report.problems).toEqual([]);
      expect(report.traffic.failures).toBe(0);
      expect(report.calls.map((c) => c.ok).every((ok) => ok > 0)).toBe(true);
    });

    it('deleting the CA pod: the new pod serves the same root from its volume, and the workloads renew against it with 0 failed calls', async () => {
      const before = normaliseFingerprint(await rootFingerprint(stack.ca));
      const old = await runOk(['get', 'pods', '--namespace', PREFIX, '--selector', selector('ca'), '-o', 'jsonpath={.items[*].metadata.name}']);
      await runOk(['delete', 'pod', '--namespace', PREFIX, '--wait=true', ...old.split(' ').filter(Boolean)]);
      await waitForContainers([stack.ca.container], 'after its pod was deleted', { want: 'ready', timeoutMs: 120_000 });
      const now = await runOk(['get', 'pods', '--namespace', PREFIX, '--selector', selector('ca'), '-o', 'jsonpath={.items[*].metadata.name}']);
      expect(now).not.toBe(old);
      expect(normaliseFingerprint(await rootFingerprint(stack.ca))).toBe(before);
      const report = await observeRotations(stack, { rotations: 1, timeoutMs: 3 * parseDuration(LIFETIME) * 1000, intervalMs: 1000 });
      expect(report.problems).toEqual([]);
      expect(report.traffic.failures).toBe(0);
    });

    replacementTests(PREFIX, LIFETIME, () => stack, log);
  });

  it("the kubelet's own readiness probes agree within one probe period (Services do not wait on them: they publish not-ready pods, as Docker routes to unhealthy containers)", async () => {
    const readiness = async () => {
      const pods = JSON.parse(await runOk(['get', 'pods', '--namespace', PREFIX, '--selector', `${LABEL.prefix}=${PREFIX}`, '-o', 'json'])) as {
        items: { metadata: { labels: Record<string, string> }; status: { conditions?: { type: string; status: string }[] } }[];
      };
      return pods.items
        .filter((p) => p.metadata.labels[LABEL.workload])
        .map((p) => `${p.metadata.labels[LABEL.workload]}=${p.status.conditions?.find((c) => c.type === 'Ready')?.status}`)
        .sort();
    };
    const periodMs = parseDuration(HEALTH_CHECK.interval) * 1000;
    const ready = await waitFor(
      'both workload pods Ready',
      async () => {
        const r = await readiness();
        return r.every((x) => x.endsWith('=True')) && r;
      },
      { timeoutMs: periodMs + 30_000, intervalMs: 2000 },
    );
    expect(ready).toEqual(['client=True', 'server=True']);
  });

  it('plans no change on a second run: what the provider reads back is what it applied', async () => {
    expect((await engine('diff')).output).toMatch(/No changes\. Your infrastructure matches the configuration\./);
  });

  it('keeps no Secret and no key material in the state', async () => {
    const state = await fs.readFile(dirs.stateFile, 'utf8');
    expect(state).toContain('kubectl_manifest');
    expect(state).not.toMatch(/"kind"\s*:\s*"Secret"|kind: Secret/);
    expect(state).not.toMatch(/-----BEGIN|PRIVATE KEY/);
  });

  it('destroys: the namespace, the volumes and their directories are gone', async () => {
    log(`destroy: ${(await engine('destroy')).seconds}`);
    applied = false;
    const ns = await run(['get', 'namespace', PREFIX]);
    expect(ns.exitCode).not.toBe(0);
    expect(ns.stderr).toMatch(/NotFound/);
    expect(await runOk(['get', 'persistentvolumes', '--selector', `${LABEL.prefix}=${PREFIX}`, '-o', 'name'])).toBe('');
    expect(await fs.pathExists(path.join(HOST_PATH_DIR, PREFIX))).toBe(false);
  });
});
