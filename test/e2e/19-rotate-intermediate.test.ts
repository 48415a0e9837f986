import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

import { beforeAll, describe, expect, inject, it } from 'vitest';

import { ROOT_KEY_DIR } from '../../common/facts.js';
import { sleep, waitFor } from '../../common/wait.js';
import { rootFingerprint } from '../../scripts/lib/ca/step.js';
import { type IntermediateRotation, locateCa, rfc3339, servedIntermediate } from '../../scripts/lib/ca-rotation/intermediate.js';
import { INTERMEDIATE_CRT, intermediateJobArgs, ROTATE_INTERMEDIATE_SCRIPT } from '../../scripts/lib/ca-rotation/intermediate-job.js';
import { hostUrl } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { fingerprintOf, splitPem } from '../../scripts/lib/identity/pki.js';
import { appStats, type Workload } from '../../scripts/lib/workloads/handles.js';
import { bundleInUse } from '../../scripts/lib/workloads/rotation-check.js';
import { rotateCa } from './helpers/ca-rotation.js';
import { operatorCredential, useSharedStack, workload } from './helpers/fixtures.js';
import { type IssuedCredential, mtlsRequest } from './helpers/operator.js';
import { clientFailures, stackContainers, waitAllHealthy } from './helpers/renewer.js';
import { operatorScript } from './helpers/scripts.js';

const ctx = inject('e2e');

const intermediateOf = (bundlePem: string): string | undefined => {
  const pem = splitPem(bundlePem)[1];
  return pem ? fingerprintOf(new X509Certificate(pem)) : undefined;
};

/** The intermediate the server presents to the host on a new connection (seen from outside the mesh). */
function servedByServer(rootPem: string, op: IssuedCredential): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      hostUrl(ctx.outputs, 'server'),
      { ca: rootPem, cert: op.certPem, key: op.keyPem, agent: false, servername: 'server.mesh.internal', timeout: 5000 },
      (res) => {
        const issuer = (res.socket as TLSSocket).getPeerCertificate(true).issuerCertificate;
        res.resume();
        res.on('end', () =>
          issuer?.raw ? resolve(fingerprintOf(new X509Certificate(issuer.raw))) : reject(new Error('the server presented no intermediate')),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * The workload uses the certificate on disk (per its own report, what it
 * serves, or — curl, psql — its files), and that one is under `intermediate`.
 */
async function onNewChain(w: Workload, intermediate: string): Promise<string | undefined> {
  const used = await bundleInUse(w);
  return used && intermediateOf(used.bundle) === intermediate ? used.serial : undefined;
}

/** `rotate-ca intermediate --json`, as an operator runs it. */
const rotate = () => rotateCa<IntermediateRotation>(ctx.prefix, ['intermediate']);

describe('intermediate rotation under continuous traffic', { timeout: 360_000 }, () => {
  let first: IntermediateRotation | undefined;
  const shared = useSharedStack();
  let operator: IssuedCredential;

  beforeAll(async () => {
    await waitAllHealthy(stackContainers(shared.stack), 60_000);
    // Issued under the old intermediate; it must keep working after the switch.
    operator = await operatorCredential(ctx, '3m');
  });

  it('the CA issues from a new intermediate; every workload renews onto it with 0 failed requests; the root stays offline and unchanged', async () => {
    const client = workload(shared.stack, 'client');
    const oldIntermediate = (await servedIntermediate(ctx.outputs.ca_host_url, shared.rootPem)).fingerprint;
    expect(intermediateOf(operator.certPem)).toBe(oldIntermediate);
    expect(await servedByServer(shared.rootPem, operator)).toBe(oldIntermediate);
    const failuresBefore = await clientFailures(client);
    const successesBefore = (await appStats(client))?.requests?.successes ?? 0;

    // The host's own traffic, with a leaf under the old intermediate, all along.
    const statuses: number[] = [];
    const errors: string[] = [];
    let stop = false;
    const pinger = (async () => {
      while (!stop) {
        const r = await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: shared.rootPem, cert: operator.certPem, key: operator.keyPem }).catch(
          (err: Error) => err,
        );
        if (r instanceof Error) errors.push(`${new Date().toISOString()} ${r.message}`);
        else statuses.push(r.status);
        // Four requests a second: traffic before, during and after the switch.
        await sleep(250);
      }
    })();

    // Traffic spans the switch: some requests before it, some after every workload moved.
    const hostRequests = async (n: number, what: string) => {
      const target = statuses.length + n;
      await waitFor(what, async () => (statuses.length >= target || errors.length ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    };
    try {
      await hostRequests(5, 'host requests before the rotation');
      const password = (await docker.execOk(shared.stack.ca.container, ['cat', '/home/step/secrets/password'])).trim();
      const run = await rotate();
      expect(run.exitCode, run.output).toBe(0);
      expect(password.length).toBeGreaterThan(20);
      expect(run.output).not.toContain(password);
      const result = run.result!;
      first = result;
      const switched = Date.now();
      expect(result.old.fingerprint).toBe(oldIntermediate);
      expect(result.new.fingerprint).not.toBe(oldIntermediate);
      expect(result.new.serial).not.toBe(result.old.serial);
      expect(result.rootFingerprint).toBe(ctx.fingerprint);
      expect(result.actions).toEqual([
        'made a new intermediate key and certificate, signed by the root',
        'installed it (the previous pair kept as *.previous)',
        `reloaded the CA: it serves ${result.new.serial}`,
      ]);
      // The CA itself, seen from the host, serves the new intermediate without a restart.
      expect((await servedIntermediate(ctx.outputs.ca_host_url, shared.rootPem)).fingerprint).toBe(result.new.fingerprint);
      expect(await docker.logs(shared.stack.ca.container, { since: new Date(Date.now() - 120_000).toISOString() })).toContain('reloading ...');
      const status = await operatorScript`npx tsx scripts/status.ts --prefix ${ctx.prefix} --json`;
      expect((JSON.parse(status.stdout) as { caIntermediate: { serial?: string } }).caIntermediate.serial, status.stderr).toBe(result.new.serial);

      // Every workload renews onto the new chain and serves it.
      for (const w of shared.stack.workloads) {
        await waitFor(`${w.name} to serve a leaf under the new intermediate`, () => onNewChain(w, result.new.fingerprint), {
          timeoutMs: 180_000,
          intervalMs: 1000,
        });
      }
      console.log(`rotate-ca intermediate took ${run.ms} ms; every workload served a new-chain leaf ${Date.now() - switched} ms after it returned`);
      // Seen from outside: the server presents leaf + new intermediate; the old-chain operator leaf is still accepted.
      expect(await servedByServer(shared.rootPem, operator)).toBe(result.new.fingerprint);
      const late = await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: shared.rootPem, cert: operator.certPem, key: operator.keyPem });
      expect(late.status).toBe(200);
      // The stack's client kept making requests across the switch (none failed: checked below).
      await waitFor(
        'the client to succeed on its new-chain leaf',
        async () => {
          const r = (await appStats(client))?.requests;
          return r?.consecutiveFailures === 0 && (r.successes ?? 0) > successesBefore ? true : undefined;
        },
        { timeoutMs: 30_000 },
      );
      await hostRequests(5, 'host requests after every workload moved');
    } finally {
      stop = true;
      await pinger;
    }
    expect(errors).toEqual([]);
    expect(statuses.length).toBeGreaterThanOrEqual(10);
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect((await clientFailures(client)) - failuresBefore).toBe(0);

    // The root key stayed out of the serving CA, and the root did not change.
    expect(await docker.volumeAt(shared.stack.ca.container, ROOT_KEY_DIR)).toBeUndefined();
    const found = await docker.exec(shared.stack.ca.container, ['find', '/', '-xdev', '-name', 'root_ca_key*']);
    expect(found.stdout.trim()).toBe('');
    expect((await docker.exec(shared.stack.ca.container, ['find', '/home/step', '-name', 'root_ca_key*'])).stdout.trim()).toBe('');
    expect((await rootFingerprint(shared.stack.ca)).trim()).toBe(ctx.fingerprint);
    // The old pair is kept as the backup, the key 0600.
    expect(await docker.fileMode(shared.stack.ca.container, '/home/step/secrets/intermediate_ca_key.previous')).toBe('600');
    expect(await docker.fileMode(shared.stack.ca.container, '/home/step/secrets/intermediate_ca_key')).toBe('600');
    await waitAllHealthy(stackContainers(shared.stack), 60_000);
  });
  it('a run stopped after installing, before the reload: running it again only reloads, makes no other intermediate, and the workloads follow', async () => {
    expect(first, 'the first rotation ran').toBeDefined();
    // What a run killed between its job and SIGHUP leaves behind: a new intermediate installed, the CA still on the old one.
    const where = await locateCa(shared.stack);
    const job = intermediateJobArgs({
      name: `${shared.stack.ca.container}-rotate`,
      prefix: shared.stack.prefix,
      image: where.image,
      caVolume: where.caVolume,
      rootKeyVolume: where.rootKeyVolume,
      subject: 'Stopped Run Intermediate CA',
      notAfter: rfc3339(new Date(new X509Certificate(shared.rootPem).validTo)),
    });
    const stopped = await docker.runOnce(job.flags, job.image, job.args, { input: ROTATE_INTERMEDIATE_SCRIPT });
    expect(stopped.exitCode, stopped.stderr).toBe(0);
    const installed = fingerprintOf(new X509Certificate((await docker.readFile(shared.stack.ca.container, INTERMEDIATE_CRT))!));
    expect(installed).not.toBe(first!.new.fingerprint);
    expect((await servedIntermediate(ctx.outputs.ca_host_url, shared.rootPem)).fingerprint).toBe(first!.new.fingerprint);

    const run = await rotate();
    expect(run.exitCode, run.output).toBe(0);
    const again = run.result!;
    expect(again.actions).toEqual([`found ${again.new.serial} installed but not yet served: reloading only`, `reloaded the CA: it serves ${again.new.serial}`]);
    expect(again.old.fingerprint).toBe(first!.new.fingerprint);
    expect(again.new.fingerprint).toBe(installed);
    expect(again.new.subject).toContain('Stopped Run Intermediate CA');
    expect(again.rootFingerprint).toBe(ctx.fingerprint);
    expect((await servedIntermediate(ctx.outputs.ca_host_url, shared.rootPem)).fingerprint).toBe(installed);
    const backup = await docker.readFile(shared.stack.ca.container, `${INTERMEDIATE_CRT}.previous`);
    expect(backup && fingerprintOf(new X509Certificate(backup))).toBe(first!.new.fingerprint);
    for (const w of shared.stack.workloads) {
      await waitFor(`${w.name} to serve a leaf under the third intermediate`, () => onNewChain(w, again.new.fingerprint), {
        timeoutMs: 180_000,
        intervalMs: 1000,
      });
    }
    expect(await servedByServer(shared.rootPem, operator)).toBe(again.new.fingerprint);
    expect((await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: shared.rootPem, cert: operator.certPem, key: operator.keyPem })).status).toBe(200);
    await waitAllHealthy(stackContainers(shared.stack), 60_000);
  });
});
