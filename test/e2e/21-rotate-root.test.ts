// Root rotation under continuous traffic, on the suite's stack (every
// technology of the mesh): prepare → activate → retire with 0 failed calls in
// every client of the mesh and in a host load generator; every workload moves
// onto the new root without a restart; retire refuses while a leaf under the
// old root is valid and names it; afterwards bootstrap-trust pins the new
// root and a leaf from the retired root is refused as unknown. Last file: it
// changes the stack's root.
import { X509Certificate } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { $, fs } from 'zx';

import { ROOT_PIN_FILE } from '../../common/facts.js';
import { sleep, waitFor } from '../../common/wait.js';
import { servedIntermediate } from '../../scripts/lib/ca-rotation/intermediate.js';
import type { PhaseResult } from '../../scripts/lib/ca-rotation/root.js';
import { hostUrl, projectDir, stackDirs } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { issuedBy, splitPem } from '../../scripts/lib/identity/pki.js';
import { FILES, type Workload } from '../../scripts/lib/workloads/handles.js';
import { bundleInUse } from '../../scripts/lib/workloads/rotation-check.js';
import { servedLeafPem } from '../../scripts/lib/workloads/served-cert.js';
import {
  appStates,
  type CallCounts,
  clientCalls,
  expectNoFailedCalls,
  expectNoRestarts,
  expectOnlyRoot,
  fp,
  retireOnceAllowed,
  rotateCa,
} from './helpers/ca-rotation.js';
import { type ContainerState } from './helpers/containers.js';
import { useSharedStack } from './helpers/fixtures.js';
import { enrollHostIdentity, type IssuedCredential, mtlsRequest } from './helpers/operator.js';

const ctx = inject('e2e');
const hostRootFile = () => stackDirs(ctx.prefix).hostStep.root;
const rotateRoot = (phase: string) => rotateCa<PhaseResult>(ctx.prefix, ['root', phase]);

const signedBy = (leafPem: string, issuerPem: string) => issuedBy(new X509Certificate(leafPem), new X509Certificate(issuerPem));

/** The workload uses (per its own report, what it serves, or its files) the certificate on disk, and that one is under `intermediatePem`. */
async function onChain(w: Workload, intermediatePem: string): Promise<boolean> {
  const used = await bundleInUse(w);
  return used !== undefined && signedBy(used.leaf, intermediatePem);
}

describe('root rotation under continuous traffic', { timeout: 600_000 }, () => {
  const shared = useSharedStack();
  let oldRoot: string;
  let before: Map<string, ContainerState>;
  let callsBefore: CallCounts;
  let hostCred: IssuedCredential;
  const host = { ok: 0, failed: [] as string[], stop: false, done: Promise.resolve() };

  beforeAll(async () => {
    oldRoot = (await fs.readFile(hostRootFile(), 'utf8')).trim();
    before = await appStates(shared.stack);
    callsBefore = await clientCalls(shared.stack);
    // Short-lived: it is replaced by one under the new root after activation, and must be gone before retire.
    hostCred = await enrollHostIdentity(shared.stack.ca, ctx.outputs.ca_host_url, oldRoot, {
      commonName: 'operator.mesh.internal',
      uris: [ctx.operatorUri],
      notAfter: '2m',
    });
    // A load generator on the host: it trusts whatever the host's pinned state holds
    // (both roots during the rotation), as an operator's tools would.
    host.done = (async () => {
      while (!host.stop) {
        const ca = await fs.readFile(hostRootFile(), 'utf8');
        const r = await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca, cert: hostCred.certPem, key: hostCred.keyPem }).catch((err: Error) => err);
        if (r instanceof Error || r.status !== 200) host.failed.push(r instanceof Error ? r.message : `HTTP ${r.status}`);
        else host.ok += 1;
        // Paced like an operator's tool: five requests a second through every phase.
        await sleep(200);
      }
    })();
  });

  afterAll(async () => {
    host.stop = true;
    await host.done;
  });

  let newRoot: string;
  let oldLeaf: IssuedCredential;

  it('prepare: a new root; every app pins and trusts both roots; the CA still issues under the old one', async () => {
    const run = await rotateRoot('prepare');
    expect(run.exitCode, run.output).toBe(0);
    expect(run.result).toMatchObject({ phase: 'prepare', state: 'prepared', oldFingerprint: ctx.fingerprint });
    // Activation before every app can have loaded both roots is refused: asked
    // at once, before the checks below, which take longer than those 15 s on a busy machine.
    const early = await rotateRoot('activate');
    expect(early.exitCode).toBe(1);
    expect(early.output).toMatch(/give every app 15 s to load both roots/);
    newRoot = (await docker.execOk(shared.stack.ca.container, ['cat', '/home/step/certs/root_ca.next.crt'])).trim();
    expect(fp(newRoot)).toBe(run.result!.newFingerprint);
    for (const w of shared.stack.workloads) {
      expect((await docker.readFile(w.container, ROOT_PIN_FILE))?.match(/^[0-9a-f]{64}$/gm)?.sort(), w.name).toEqual([ctx.fingerprint, fp(newRoot)].sort());
      expect(splitPem((await docker.readFile(w.renewer, FILES.root)) ?? '').map(fp), w.name).toEqual([ctx.fingerprint, fp(newRoot)]);
    }
    expect(splitPem(await fs.readFile(hostRootFile(), 'utf8')).map(fp)).toEqual([ctx.fingerprint, fp(newRoot)]);
    const status = await $({ cwd: projectDir, nothrow: true, quiet: true })`npx tsx scripts/status.ts --prefix ${ctx.prefix} --json`;
    expect((JSON.parse(status.stdout) as { caRoot: unknown }).caRoot).toEqual({
      phase: 'prepared',
      root: ctx.fingerprint,
      newRoot: fp(newRoot),
      trust: { fingerprints: [ctx.fingerprint, fp(newRoot)], total: shared.stack.workloads.length, not: [] },
    });
  });

  it('activate: the CA issues under the new root; every workload moves onto it; a leaf under the old root is still accepted', async () => {
    // Issued under the old root just before the switch: it must keep working, and it holds retire back.
    // Three minutes: it must outlive the activation and every workload's move
    // onto the new root, slower on a busy machine; retire then waits it out
    // (within its 5-minute wait).
    oldLeaf = await enrollHostIdentity(shared.stack.ca, ctx.outputs.ca_host_url, `${oldRoot}\n${newRoot}`, {
      commonName: 'operator.mesh.internal',
      uris: [ctx.operatorUri],
      notAfter: '3m',
    });
    await waitFor('15 s since prepare', async () => ((await rotateRoot('activate')).exitCode === 0 ? true : undefined), {
      timeoutMs: 60_000,
      intervalMs: 2000,
    });
    const intermediate = await servedIntermediate(ctx.outputs.ca_host_url, newRoot);
    expect(signedBy(intermediate.pem, newRoot)).toBe(true);
    // The host's load generator renews onto the new root too, as a workload does.
    // Long enough for the rest of this file (about 3 minutes); a later root
    // rotation (e2e 24) cannot retire this root until this leaf has expired.
    hostCred = await enrollHostIdentity(shared.stack.ca, ctx.outputs.ca_host_url, `${oldRoot}\n${newRoot}`, {
      commonName: 'operator.mesh.internal',
      uris: [ctx.operatorUri],
      notAfter: '6m',
    });
    expect(signedBy(splitPem(hostCred.certPem)[0]!, intermediate.pem)).toBe(true);
    // Every workload, each technology, renews onto the new chain at its own schedule and uses it.
    for (const w of shared.stack.workloads) {
      await waitFor(`${w.name} on the new root`, async () => ((await onChain(w, intermediate.pem)) ? true : undefined), {
        timeoutMs: 150_000,
        intervalMs: 1000,
      });
    }
    // The servers present it to callers outside the mesh too (openssl s_client on their ports).
    for (const w of shared.stack.workloads.filter((x) => x.host_port)) {
      const leaf = await servedLeafPem({ port: w.host_port, serverName: w.dns_name, protocol: w.protocol });
      expect(leaf && signedBy(leaf, intermediate.pem), `${w.name} presents a leaf under the new intermediate`).toBe(true);
    }
    const r = await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: `${oldRoot}\n${newRoot}`, cert: oldLeaf.certPem, key: oldLeaf.keyPem });
    expect(r.status).toBe(200);
  });

  it('retire is refused while a leaf under the old root is valid, naming it; then it goes through', async () => {
    const validForMs = Date.parse(new X509Certificate(splitPem(oldLeaf.certPem)[0]!).validTo) - Date.now();
    console.log(`[e2e 21] the old-root leaf has ${Math.round(validForMs / 1000)} s left at the first retire attempt`);
    expect(validForMs, 'the old-root leaf is still valid at the first attempt').toBeGreaterThan(5000);
    const refused = await rotateRoot('retire');
    expect(refused.exitCode).toBe(1);
    expect(refused.output).toMatch(/cannot retire the old root yet/);
    expect(refused.output).toContain(`certificate ${oldLeaf.serial}`);
    // Nothing changed: every app still trusts both roots.
    for (const w of shared.stack.workloads) expect(splitPem((await docker.readFile(w.renewer, FILES.root)) ?? '').length, w.name).toBe(2);
    const done = await retireOnceAllowed<PhaseResult>(ctx.prefix, { timeoutMs: 300_000, intervalMs: 5000 });
    expect(done.result).toMatchObject({ phase: 'retire', state: 'none', newFingerprint: fp(newRoot) });
    await expectOnlyRoot(shared.stack, newRoot);
    expect((await rotateRoot('retire')).exitCode, 'retire again: nothing to do').toBe(0);
  });

  it('after retire: bootstrap-trust pins the new root; a leaf from the retired root is refused as unknown', async () => {
    const boot = await $({ cwd: projectDir, nothrow: true, quiet: true })`npx tsx scripts/bootstrap-trust.ts --prefix ${ctx.prefix} --json`;
    expect(boot.exitCode, boot.stderr).toBe(0);
    expect((JSON.parse(boot.stdout) as { fingerprint: string }).fingerprint).toBe(fp(newRoot));
    // The old-root leaf has expired by now, but with its root gone it is refused as
    // unknown, not as expired: Python (OpenSSL) names the reason in its alert; the
    // Node server refuses the handshake too.
    await expect(mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: newRoot, cert: oldLeaf.certPem, key: oldLeaf.keyPem })).rejects.toThrow();
    const python = shared.stack.workloads.find((w) => w.name === 'python-server')!;
    const alert = await mtlsRequest(`https://127.0.0.1:${python.host_port}/`, {
      ca: newRoot,
      cert: oldLeaf.certPem,
      key: oldLeaf.keyPem,
      servername: python.dns_name,
    }).catch((err: NodeJS.ErrnoException) => err);
    expect((alert as NodeJS.ErrnoException).code).toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
  });

  it('0 failed calls across the whole sequence, in every client of the mesh and on the host; no app restarted', async () => {
    host.stop = true;
    await host.done;
    expect(host.failed).toEqual([]);
    expect(host.ok).toBeGreaterThan(100);
    await expectNoFailedCalls(shared.stack, callsBefore);
    await expectNoRestarts(shared.stack, before);
  });
});
