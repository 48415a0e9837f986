import { X509Certificate } from 'node:crypto';

import { beforeAll, describe, expect, inject, it } from 'vitest';

import { ROOT_PIN_FILE } from '../../common/facts.js';
import { waitFor } from '../../common/wait.js';
import { bootstrapTrust } from '../../scripts/lib/ca/trust-bootstrap.js';
import { hostUrl } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { assertEnrolled, enrollAll } from '../../scripts/lib/identity/enrollment.js';
import { serialOf } from '../../scripts/lib/identity/pki.js';
import { appStats, FILES, type Workload } from '../../scripts/lib/workloads/handles.js';
import { createPki } from '../helpers/pki.js';
import { useSharedStack, workload } from './helpers/fixtures.js';
import { mtlsRequest } from './helpers/operator.js';

const ctx = inject('e2e');

describe('apps pin their root', { timeout: 240_000 }, () => {
  const shared = useSharedStack({ operator: '10m' });
  let server: Workload;
  let client: Workload;

  beforeAll(async () => {
    server = workload(shared.stack, 'server');
    client = workload(shared.stack, 'client');
  });

  it('holds the bootstrap fingerprint where the app can only read it and the renewer cannot see it', async () => {
    for (const w of shared.stack.workloads) {
      expect(await docker.readFile(w.container, ROOT_PIN_FILE)).toMatch(new RegExp(`^${ctx.fingerprint}$`, 'm'));
      const write = await docker.exec(w.container, ['sh', '-c', `echo 00 >> ${ROOT_PIN_FILE}`]);
      expect(write.exitCode).not.toBe(0);
      expect(write.stderr).toMatch(/read-only file system|permission denied/i);
      expect((await docker.exec(w.renewer, ['test', '-e', ROOT_PIN_FILE])).exitCode).toBe(1);
    }
  });

  it('keeps serving its valid certificate when a foreign root and a leaf it signed are written into its certs volume', async () => {
    const clientBefore = (await appStats(client))?.requests;
    // Start with enough validity left to finish before the served certificate expires.
    await waitFor(
      'a freshly rotated server certificate',
      async () => {
        const notAfter = Date.parse((await appStats(server))?.credentials?.notAfter ?? '');
        return notAfter - Date.now() > 35_000 ? true : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1_000 },
    );
    const current = (await appStats(server))!.credentials!;

    const foreign = await createPki('Foreign');
    const leaf = await foreign.issue({ commonName: server.dns_name, dns: [server.dns_name], uris: [server.uri] });
    const failedBefore = (await appStats(server))?.credentials?.failedReloads ?? 0;
    await docker.writeFile(server.renewer, FILES.key, leaf.keyPem, '0600');
    await docker.writeFile(server.renewer, FILES.cert, leaf.bundlePem, '0644');
    await docker.writeFile(server.renewer, FILES.root, foreign.root.certPem, '0644');
    try {
      const refused = await waitFor(
        'the app to refuse the foreign set',
        async () => {
          const stats = await appStats(server);
          const failure = stats?.credentials as { failedReloads?: number; lastFailure?: { problem: string; message: string } } | undefined;
          return (failure?.failedReloads ?? 0) > failedBefore && failure?.lastFailure?.problem === 'unpinned' ? failure.lastFailure : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 500 },
      );
      expect(refused.message).toContain('is not a pinned root');
      const logs = await docker.logs(server.container, { since: new Date(Date.now() - 60_000).toISOString() });
      expect(logs).toMatch(/"msg":"credentials rejected; keeping the current ones".*"problem":"unpinned"/);

      // From outside: trusting both roots, the server still presents our certificate.
      const seen = await mtlsRequest(hostUrl(ctx.outputs, 'server'), {
        ca: `${shared.rootPem}\n${foreign.root.certPem}`,
        cert: shared.operator.certPem,
        key: shared.operator.keyPem,
      });
      expect(seen.status).toBe(200);
      expect(seen.peerSerial).toBe(current.serial);
      expect(seen.peerSerial).not.toBe(leaf.serial);
      expect(Date.parse(current.notAfter!)).toBeGreaterThan(Date.now());
      // ... and it verifies against the real root alone.
      expect(
        (await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: shared.rootPem, cert: shared.operator.certPem, key: shared.operator.keyPem })).status,
      ).toBe(200);
    } finally {
      // Recovery is the operator's runbook: bootstrap-trust restores root.crt (and the pin), enroll --force a certificate.
      await bootstrapTrust(ctx.prefix, { quiet: true });
      assertEnrolled(await enrollAll(shared.stack, [server], { force: true }));
    }
    const enrolled = await docker.readFile(server.renewer, FILES.cert);
    const enrolledSerial = serialOf(new X509Certificate(enrolled!));
    await waitFor(
      'the server to serve its re-enrolled certificate',
      async () => {
        const res = await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: shared.rootPem, cert: shared.operator.certPem, key: shared.operator.keyPem });
        return res.peerSerial !== current.serial && res.status === 200 ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(enrolledSerial).toMatch(/^[0-9A-F]+$/);
    const clientAfter = (await appStats(client))?.requests;
    expect((clientAfter?.failures ?? 0) - (clientBefore?.failures ?? 0)).toBe(0);
  });
});
