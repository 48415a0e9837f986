// The root rotation's phases against an in-memory docker (helpers/fake-docker)
// and a fake CA on loopback (real TLS, /roots): activate refuses unless every
// workload reads back trusting both roots and the CA recorded a complete
// prepare; retire's finishing path reloads the CA until /roots serves the new
// root alone; retire's bound comes from the CA's record, or it refuses.
import { X509Certificate } from 'node:crypto';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { fs } from 'zx';

import { CERT_DIR, ROOT_KEY_DIR, ROOT_PIN_FILE, STEPPATH } from '../../../../common/facts.js';
import { INTERMEDIATE_CRT } from '../../../../scripts/lib/ca-rotation/intermediate-job.js';
import { activateRoot, prepareRoot, retireBlockers, retireRoot, rootLine, type RootState } from '../../../../scripts/lib/ca-rotation/root.js';
import { CA_ROOT_FILE, NEXT_ROOT, ROTATION_RECORD } from '../../../../scripts/lib/ca-rotation/root-job.js';
import { createUi } from '../../../../scripts/lib/cli/ui.js';
import { stackDirs, type StackOutputs, type WorkloadOutput } from '../../../../scripts/lib/deploy/stack-instance.js';
import { fingerprintOf } from '../../../../scripts/lib/identity/pki.js';
import type { Stack } from '../../../../scripts/lib/workloads/handles.js';
import { createIntermediateCa, createRootCa, type Issuer } from '../../../helpers/pki.js';
import { type FakeCa, issueLoopbackLeaf, startFakeCa } from '../helpers/fake-ca.js';
import * as fake from '../helpers/fake-docker.js';

vi.mock('../../../../scripts/lib/docker/commands.js', () => import('../helpers/fake-docker.js'));

const fp = (pem: string) => fingerprintOf(new X509Certificate(pem));
const ui = createUi({ quiet: true });
const CA = 'rr-ca';
const NAMES = ['server', 'curl'] as const;

let oldRoot: Issuer;
let newRoot: Issuer;
let oldInt: Issuer;
let newInt: Issuer;
let ca: FakeCa;
let served: string[];
let stack: Stack;

beforeAll(async () => {
  oldRoot = await createRootCa('Old Root CA');
  newRoot = await createRootCa('New Root CA');
  oldInt = await createIntermediateCa(oldRoot, 'Old Intermediate CA');
  newInt = await createIntermediateCa(newRoot, 'New Intermediate CA');
  // The CA presents a chain under the new root: the retire scenarios' CA and an activated one.
  ca = await startFakeCa({ tls: await issueLoopbackLeaf(newInt), rootFor: () => undefined, roots: () => served });
});
afterAll(() => ca.close());

const pins = (...roots: Issuer[]) => `# pins\n${roots.map((r) => fp(r.certPem)).join('\n')}\n`;
const bundle = (...roots: Issuer[]) => roots.map((r) => r.certPem.trim()).join('\n') + '\n';
const workloadOf = (name: string) => stack.workloads.find((w) => w.name === name)!;

/** A CA (volume files), its init container (root-key volume), and two workloads trusting `trusted`. */
function deploy(files: { root: Issuer; next?: Issuer; intermediate: Issuer }, trusted: Issuer[]) {
  fake.resetDocker();
  const prefix = `rrunit${Math.random().toString(36).slice(2, 8)}`;
  fake.addContainer(CA, { mounts: [[STEPPATH, 'rr-ca-volume']] });
  fake.addContainer('rr-ca-init', { role: 'ca-init', mounts: [[ROOT_KEY_DIR, 'rr-root-key']] });
  fake.putFile(CA, CA_ROOT_FILE, files.root.certPem);
  if (files.next) fake.putFile(CA, NEXT_ROOT, files.next.certPem);
  fake.putFile(CA, INTERMEDIATE_CRT, files.intermediate.certPem);
  const workloads = NAMES.map((name) => {
    const w = { name, container: `rr-${name}`, renewer: `rr-${name}-renewer`, volume: `rr-${name}-certs`, trust_volume: `rr-${name}-trust` };
    fake.addContainer(w.container, {
      mounts: [
        [CERT_DIR, w.volume],
        [path.dirname(ROOT_PIN_FILE), w.trust_volume],
      ],
    });
    fake.addContainer(w.renewer, { mounts: [[CERT_DIR, w.volume]] });
    fake.putFile(w.container, ROOT_PIN_FILE, pins(...trusted));
    fake.putFile(w.renewer, `${CERT_DIR}/root.crt`, bundle(...trusted));
    return { ...w, sans: [] } as unknown as WorkloadOutput & { sans: string[] };
  });
  const outputs = {
    prefix,
    ca_host_url: ca.url,
    ca_container: CA,
    cert_lifetimes: { min: '20s', default: '1m', max: '1h' },
    workloads,
  } as unknown as StackOutputs;
  stack = { prefix, outputs, ca: { container: CA, provisioner: 'p' }, workloads };
}

afterEach(async () => {
  if (stack) await fs.remove(stackDirs(stack.prefix).stateDir);
});

const recordOf = () => JSON.parse(fake.fileOf(CA, ROTATION_RECORD) ?? '{}') as Record<string, string>;
const setRecord = (r: Record<string, string>) => fake.putFile(CA, ROTATION_RECORD, JSON.stringify({ newRoot: fp(newRoot.certPem), ...r }));

describe('activate', () => {
  beforeEach(() => deploy({ root: oldRoot, next: newRoot, intermediate: oldInt }, [oldRoot, newRoot]));

  it('refuses, naming the workload, when one does not hold the new root in its root.crt (a prepare that stopped halfway); no job runs', async () => {
    fake.putFile(workloadOf('curl').renewer, `${CERT_DIR}/root.crt`, bundle(oldRoot));
    setRecord({ preparedAt: new Date(Date.now() - 60_000).toISOString() });
    const err = await activateRoot(stack, ui).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/^activate refused: 1 of 2 workloads trust both roots; not: curl\.\n {2}curl: its root\.crt lacks [0-9a-f]{12}…\n/);
    expect((err as Error).message).toContain('run rotate-ca root prepare again (it completes the pinning where it is missing), then activate');
    expect(fake.jobs).toEqual([]);
  });

  it('refuses when a workload cannot be read (its app stopped): not known to trust is not trusting', async () => {
    fake.setRunning(workloadOf('server').container, false);
    setRecord({ preparedAt: new Date(Date.now() - 60_000).toISOString() });
    const err = (await activateRoot(stack, ui).catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(
      /^activate refused: 1 of 2 workloads trust both roots; not: server\.\n {2}server: its pin file cannot be read in rr-server \(not running\?\)/,
    );
    expect(fake.jobs).toEqual([]);
  });

  it("refuses without the CA's record of a complete prepare (a lost or foreign .state/ does not count as long enough)", async () => {
    const err = (await activateRoot(stack, ui).catch((e: Error) => e)) as Error;
    expect(err.message).toBe(
      `activate refused: the CA has no record that prepare completed for the new root ${fp(newRoot.certPem)} (every workload read back trusting both roots): run rotate-ca root prepare again (it completes the pinning where it is missing), then activate`,
    );
    setRecord({ preparedAt: 'not a time' });
    expect(((await activateRoot(stack, ui).catch((e: Error) => e)) as Error).message).toMatch(/^activate refused: the CA has no record that prepare completed/);
    expect(fake.jobs).toEqual([]);
  });

  it('goes through when every workload trusts both and prepare was recorded long enough ago; records the activation with the CA', async () => {
    setRecord({ preparedAt: new Date(Date.now() - 60_000).toISOString() });
    served = [oldRoot.certPem, newRoot.certPem];
    fake.onJob((args) => {
      expect(args[2]).toBe('activate');
      fake.putFile(CA, INTERMEDIATE_CRT, newInt.certPem);
      return { exitCode: 0, stdout: 'did: installed the intermediate under the new root\n' };
    });
    const before = Date.now();
    const result = await activateRoot(stack, ui, { reloadTimeoutMs: 3000 });
    expect(result).toMatchObject({ phase: 'activate', state: 'activated', newFingerprint: fp(newRoot.certPem) });
    expect(fake.signals).toEqual([[CA, 'HUP']]);
    const activatedAt = Date.parse(recordOf().activatedAt ?? '');
    expect(activatedAt).toBeGreaterThanOrEqual(before);
    expect(activatedAt).toBeLessThanOrEqual(Date.now());
  });
});

describe('prepare', () => {
  beforeEach(() => deploy({ root: oldRoot, intermediate: oldInt }, [oldRoot]));

  it('with one renewer stopped: fails naming its workload, and the CA records nothing as prepared', async () => {
    fake.onJob(() => {
      fake.putFile(CA, NEXT_ROOT, newRoot.certPem);
      return { exitCode: 0, stdout: 'did: made a new root key and self-signed root certificate (in the root-key volume)\n' };
    });
    fake.setRunning(workloadOf('curl').renewer, false);
    const err = (await prepareRoot(stack, ui).catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(
      /^rotate-ca root prepare is not complete: 1 of 2 workloads trust both roots; not: curl\.\n {2}curl: its root\.crt cannot be read through rr-curl-renewer \(not running\?\)\n/,
    );
    expect(err.message).toContain('run rotate-ca root prepare again');
    expect(fake.fileOf(CA, ROTATION_RECORD)).toBeUndefined();
    expect(fake.signals).toEqual([]);
  });
});

describe('prepare after activate', () => {
  it('runs no job and completes the pinning where a workload lacks the new root', async () => {
    deploy({ root: oldRoot, next: newRoot, intermediate: newInt }, [oldRoot, newRoot]);
    fake.putFile(workloadOf('curl').renewer, `${CERT_DIR}/root.crt`, bundle(oldRoot));
    served = [oldRoot.certPem, newRoot.certPem];
    const result = await prepareRoot(stack, ui, { reloadTimeoutMs: 3000 });
    expect(result).toMatchObject({ phase: 'prepare', state: 'activated' });
    expect(fake.jobs).toEqual([]);
    expect(fake.fileOf(workloadOf('curl').renewer, `${CERT_DIR}/root.crt`)).toBe(bundle(oldRoot, newRoot));
    expect(result.actions.join('\n')).toContain('2 of 2 workloads trust both roots');
  });
});

describe('retire', () => {
  it('a rerun after the job finished but the reload timed out: reloads the CA until /roots serves the new root alone', async () => {
    // The job's part is done (the CA volume holds the new root alone); bundles, pins and the running CA are not.
    deploy({ root: newRoot, intermediate: newInt }, [oldRoot, newRoot]);
    served = [oldRoot.certPem, newRoot.certPem];
    fake.onSignal(() => (served = [newRoot.certPem]));
    const result = await retireRoot(stack, ui, { reloadTimeoutMs: 3000 });
    expect(fake.signals).toEqual([[CA, 'HUP']]);
    expect(result.actions).toContain('reloaded the CA: /roots serves its root alone');
    for (const w of stack.workloads) {
      expect(fake.fileOf(w.renewer, `${CERT_DIR}/root.crt`)).toBe(newRoot.certPem);
      expect(fake.fileOf(w.container, ROOT_PIN_FILE)).toMatch(new RegExp(`^${fp(newRoot.certPem)}$`, 'm'));
      expect(fake.fileOf(w.container, ROOT_PIN_FILE)).not.toContain(fp(oldRoot.certPem));
    }
  });

  it('fails, saying so, when the CA still serves the old root at /roots after SIGHUP', async () => {
    deploy({ root: newRoot, intermediate: newInt }, [newRoot]);
    served = [oldRoot.certPem, newRoot.certPem];
    const err = (await retireRoot(stack, ui, { reloadTimeoutMs: 1000 }).catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(
      /^the CA did not load the expected roots and intermediate within 1 s after SIGHUP: it serves 2 root\(s\) at \/roots .*expected 1 .*restart the CA \(docker restart rr-ca\)/s,
    );
  });

  describe("the bound when the CA's log does not reach back far enough", () => {
    const state = (): RootState => ({
      phase: 'activated',
      current: { fingerprint: fp(oldRoot.certPem), pem: oldRoot.certPem },
      next: { fingerprint: fp(newRoot.certPem), pem: newRoot.certPem },
    });
    beforeEach(() => deploy({ root: oldRoot, next: newRoot, intermediate: newInt }, [oldRoot, newRoot]));

    it('is the activation the CA recorded plus the longest lifetime, the same whenever asked', async () => {
      const activatedAt = new Date(Date.now() - 10 * 60_000);
      setRecord({ preparedAt: new Date(activatedAt.getTime() - 60_000).toISOString(), activatedAt: activatedAt.toISOString() });
      const bound = new Date(activatedAt.getTime() + 3600_000).toISOString();
      for (const now of [new Date(), new Date(Date.now() + 5 * 60_000)]) {
        expect(await retireBlockers(stack, state(), now)).toEqual([{ what: expect.stringContaining(`recorded by the CA`), notAfter: bound }]);
      }
      expect(await retireBlockers(stack, state(), new Date(activatedAt.getTime() + 3601_000))).toEqual([]);
    });

    it('without a recorded activation: refused with the command that records it, not a date that moves', async () => {
      const err = (await retireBlockers(stack, state()).catch((e: Error) => e)) as Error;
      expect(err.message).toMatch(
        /^cannot retire the old root: the CA's log does not reach back .* and the CA has no record of when it began issuing under the new root\. Run rotate-ca root activate again/,
      );
    });
  });
});

describe('rootLine', () => {
  const fps = { root: 'a'.repeat(64), newRoot: 'b'.repeat(64) };
  it('says what it checked and who does not trust both; sends an incomplete prepare back to prepare', () => {
    const trust = { fingerprints: [fps.root, fps.newRoot], total: 10, not: [{ name: 'curl', why: 'x' }] };
    expect(rootLine({ phase: 'prepared', ...fps, trust })).toBe(
      `CA root rotation PREPARED: old ${fps.root}, new ${fps.newRoot} — 9 of 10 workloads trust both roots; not: curl; next: rotate-ca root prepare (completes the pinning; activate refuses until every workload trusts both)`,
    );
    expect(rootLine({ phase: 'prepared', ...fps, trust: { ...trust, not: [] } })).toMatch(
      /— 10 of 10 workloads trust both roots; next: rotate-ca root activate$/,
    );
    expect(rootLine({ phase: 'activated', ...fps })).toMatch(/— not checked which workloads trust both roots;/);
  });
});
