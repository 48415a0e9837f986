import { describe, expect, inject, it } from 'vitest';

import { waitFor } from '../../common/wait.js';
import { hostUrl } from '../../scripts/lib/deploy/stack-instance.js';
import { appStats, type Stack } from '../../scripts/lib/workloads/handles.js';
import { createPki, selfSignedLeaf } from '../helpers/pki.js';
import { useSharedStack, workload } from './helpers/fixtures.js';
import { enrollHostIdentity, mtlsRequest } from './helpers/operator.js';

const ctx = inject('e2e');

/** The server's handshake-failure counters, by reason. */
async function handshakeFailures(stack: Stack): Promise<Record<string, number>> {
  const s = await appStats(workload(stack, 'server'));
  return s?.handshakeFailures ?? {};
}

describe('the server refuses what it must refuse', { timeout: 180_000 }, () => {
  const shared = useSharedStack();

  /** Sends one request, expects the TLS handshake to fail, and returns the counter delta. */
  async function expectHandshakeFailure(cert?: { certPem: string; keyPem: string }) {
    const before = await handshakeFailures(shared.stack);
    await expect(mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: shared.rootPem, cert: cert?.certPem, key: cert?.keyPem })).rejects.toThrow();
    const after = await waitFor(
      'the server to count the failure',
      async () => {
        const now = await handshakeFailures(shared.stack);
        const total = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
        return total(now) > total(before) ? now : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 300 },
    );
    return Object.fromEntries(
      Object.keys(after)
        .map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)])
        .filter(([, v]) => v !== 0),
    );
  }

  it('no client certificate → handshake failure, counted as no_certificate', async () => {
    expect(await expectHandshakeFailure()).toEqual({ no_certificate: 1 });
  });

  it('self-signed certificate with an allowed identity → handshake failure', async () => {
    const leaf = await selfSignedLeaf({ commonName: 'operator.mesh.internal', uris: [ctx.operatorUri] });
    const delta = await expectHandshakeFailure({ certPem: leaf.bundlePem, keyPem: leaf.keyPem });
    expect(delta.no_certificate ?? 0).toBe(0);
    expect(Object.values(delta).reduce((a: number, b) => a + Number(b), 0)).toBe(1);
  });

  it('certificate from a second, independent CA with an allowed identity → handshake failure', async () => {
    const other = await createPki('Independent');
    const leaf = await other.issue({ commonName: 'operator.mesh.internal', uris: [ctx.operatorUri] });
    const delta = await expectHandshakeFailure({ certPem: leaf.bundlePem, keyPem: leaf.keyPem });
    expect(delta.no_certificate ?? 0).toBe(0);
  });

  it('an expired certificate from the real CA → handshake failure, counted as expired', async () => {
    const short = await enrollHostIdentity(shared.stack.ca, ctx.outputs.ca_host_url, shared.rootPem, {
      commonName: 'operator.mesh.internal',
      uris: [ctx.operatorUri],
      notAfter: ctx.minCertLifetime,
    });
    // While valid it works: the failure below is about time, nothing else.
    expect((await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: shared.rootPem, cert: short.certPem, key: short.keyPem })).status).toBe(200);
    const notAfter = new Date(new (await import('node:crypto')).X509Certificate(short.certPem).validTo).getTime();
    await waitFor('the certificate to expire', async () => (Date.now() > notAfter + 1500 ? true : undefined), { timeoutMs: 90_000, intervalMs: 1000 });
    expect(await expectHandshakeFailure({ certPem: short.certPem, keyPem: short.keyPem })).toEqual({ expired: 1 });
  });
});
