import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import https from 'node:https';

import { beforeAll, describe, expect, inject, it } from 'vitest';

import { waitFor } from '../../common/wait.js';
import type { RevocationResult } from '../../scripts/lib/ca/revocation.js';
import { hostUrl } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { assertEnrolled, enrollAll } from '../../scripts/lib/identity/enrollment.js';
import { serialOf } from '../../scripts/lib/identity/pki.js';
import { appStats, FILES, type Workload } from '../../scripts/lib/workloads/handles.js';
import { sampleStepArgv, TOKEN_SHAPE } from './helpers/argv-sampler.js';
import { operatorCredential, useSharedStack, workload } from './helpers/fixtures.js';
import { mtlsRequest } from './helpers/operator.js';
import { servingCert, stackContainers, waitAllHealthy, waitForNewerCert } from './helpers/renewer.js';
import { operatorScript } from './helpers/scripts.js';

const ctx = inject('e2e');

const publicKeyOfKey = (keyPem: string) => createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' }).toString('base64');
const publicKeyOfCert = (certPem: string) => new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

/** A holder of a copied certificate and key asks the CA for a new certificate (mTLS to /renew). */
function renewWith(certPem: string, keyPem: string, rootPem: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${ctx.outputs.ca_host_url}/1.0/renew`,
      { method: 'POST', ca: rootPem, cert: certPem, key: keyPem, agent: false, timeout: 10_000 },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || '{}') as Record<string, unknown> }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('renew timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function pairOnDisk(w: Workload): Promise<{ certPem: string; keyPem: string }> {
  const [certPem, keyPem] = await Promise.all([docker.readFile(w.renewer, FILES.cert), docker.readFile(w.renewer, FILES.key)]);
  if (!certPem || !keyPem) throw new Error(`${w.name} has no pair on disk`);
  return { certPem, keyPem };
}

describe('keys rotate with certificates; revocation reaches every certificate of the identity', { timeout: 300_000 }, () => {
  const shared = useSharedStack();

  beforeAll(async () => {
    await waitAllHealthy(stackContainers(shared.stack), 60_000);
  });

  it('after a rotation the previous key matches nothing served', async () => {
    const server = workload(shared.stack, 'server');
    const client = workload(shared.stack, 'client');
    // Read here only to compare public keys; never printed.
    const oldKeys = { server: publicKeyOfKey((await pairOnDisk(server)).keyPem), client: publicKeyOfKey((await pairOnDisk(client)).keyPem) };
    const served = { server: await servingCert(server), client: await servingCert(client) };
    await waitForNewerCert(server, served.server, 60_000);
    await waitForNewerCert(client, served.client, 60_000);

    // What the server presents on a new connection ...
    const operator = await operatorCredential(ctx, '5m');
    const res = await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: shared.rootPem, cert: operator.certPem, key: operator.keyPem });
    expect(res.status).toBe(200);
    const presented = await new Promise<string>((resolve, reject) => {
      const req = https.request(
        hostUrl(ctx.outputs, 'server'),
        { ca: shared.rootPem, cert: operator.certPem, key: operator.keyPem, agent: false, servername: 'server.mesh.internal' },
        (r) => {
          const cert = (r.socket as import('node:tls').TLSSocket).getPeerX509Certificate();
          r.resume();
          r.on('end', () =>
            cert ? resolve(cert.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')) : reject(new Error('no peer certificate')),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(presented).not.toBe(oldKeys.server);
    // ... and what the client presents (the server reports its serial; it is the one on disk).
    const clientStats = await appStats(client);
    const clientPair = await pairOnDisk(client);
    expect(serialOf(new X509Certificate(clientPair.certPem))).toBe(clientStats?.credentials?.serial);
    for (const [name, w] of [
      ['server', server],
      ['client', client],
    ] as const) {
      const now = await pairOnDisk(w);
      expect(publicKeyOfCert(now.certPem), `${name} certificate`).not.toBe(oldKeys[name]);
      expect(publicKeyOfKey(now.keyPem), `${name} key`).not.toBe(oldKeys[name]);
      expect(publicKeyOfKey(now.keyPem), `${name} pair matches`).toBe(publicKeyOfCert(now.certPem));
    }
    expect(await docker.logs(server.renewer)).toContain('certificate rekeyed');
  });

  it('a copied certificate and key, and everything renewed from them, cannot be renewed after revoke', async () => {
    const client = workload(shared.stack, 'client');
    // The theft: a copy of the client's pair, renewed once by the thief, so
    // the thief holds a certificate the workload never saw.
    const stolen = await pairOnDisk(client);
    const thiefRenewal = await renewWith(stolen.certPem, stolen.keyPem, shared.rootPem);
    expect(thiefRenewal.status, JSON.stringify(thiefRenewal.body)).toBe(201);
    const thiefCert = String(thiefRenewal.body.crt);
    const thiefSerial = serialOf(new X509Certificate(thiefCert));
    const stolenSerial = serialOf(new X509Certificate(stolen.certPem));

    // The operator revokes the identity; a local user watching argv in the CA sees no token.
    const sampling = sampleStepArgv(shared.stack.ca.container, 12);
    const out = await operatorScript`npx tsx scripts/revoke.ts client --prefix ${ctx.prefix} --json`;
    const seen = await sampling;
    expect(out.exitCode, out.stderr).toBe(0);
    const result = JSON.parse(out.stdout) as RevocationResult;
    const revokedSerials = result.revoked.map((r) => r.serial);
    expect(revokedSerials).toEqual(expect.arrayContaining([stolenSerial, thiefSerial]));
    expect(result.revoked.find((r) => r.serial === thiefSerial)?.source).toBe('ca log');
    expect(result.logComplete).toBe(true);
    expect(result.renewalRefused).toBe(true);
    expect(seen.some((l) => l.startsWith('step ca revoke '))).toBe(true);
    for (const line of seen) {
      expect(line).not.toMatch(TOKEN_SHAPE);
      expect(line).not.toContain('--token');
    }

    // Neither the copied pair nor the thief's own certificate renews any more.
    for (const [what, certPem] of [
      ['copied certificate', stolen.certPem],
      ["thief's renewed certificate", thiefCert],
    ] as const) {
      const again = await renewWith(certPem, stolen.keyPem, shared.rootPem);
      expect(again.status, `${what}: ${JSON.stringify(again.body)}`).toBe(401);
    }
    expect(await docker.logs(shared.stack.ca.container, { since: new Date(Date.now() - 60_000).toISOString() })).toMatch(/certificate has been revoked/);

    // Restore the client for whatever runs next: a new identity document.
    assertEnrolled(await enrollAll(shared.stack, [client], { force: true }));
    await waitFor(
      'client requests to succeed on a fresh certificate',
      async () => {
        const s = await appStats(client);
        return s && !revokedSerials.includes(s.credentials?.serial ?? '') && s.requests?.consecutiveFailures === 0 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
    await waitAllHealthy([client.container, client.renewer], 60_000);
  });
});
