import path from 'node:path';

import { describe, expect, inject, it } from 'vitest';
import { fs } from 'zx';

import { waitFor } from '../../common/wait.js';
import { httpsGet } from '../../scripts/lib/ca/api.js';
import { hostUrl } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { appStats } from '../../scripts/lib/workloads/handles.js';
import { health } from '../../scripts/lib/workloads/readiness.js';
import { createRootCa } from '../helpers/pki.js';
import { servingContainers } from './helpers/containers.js';
import { useSharedStack } from './helpers/fixtures.js';
import { enrollHostIdentity, mtlsRequest } from './helpers/operator.js';

const ctx = inject('e2e');

describe('happy path', { timeout: 120_000 }, () => {
  const shared = useSharedStack({ operator: '10m' });

  it('serves step-ca /health over TLS verified against the bootstrapped root', async () => {
    const res = await httpsGet(`${ctx.outputs.ca_host_url}/health`, { ca: shared.rootPem });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
    // ... and the same URL is refused when verified against any other root.
    const other = await createRootCa('Unrelated Root');
    await expect(httpsGet(`${ctx.outputs.ca_host_url}/health`, { ca: other.certPem })).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
  });

  it('wrote step-style defaults for the host', async () => {
    const defaults = await fs.readJson(path.join(ctx.hostStepPath, 'config', 'defaults.json'));
    expect(defaults['ca-url']).toBe(ctx.outputs.ca_host_url);
    expect(defaults.fingerprint).toBe(ctx.fingerprint);
    expect(defaults.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('runs every container healthy', async () => {
    // The CA's init step has run and exited (see 15-root-key); the rest serve.
    const names = (await docker.listLabelled('container', ctx.prefix)).filter((n) => n !== `${ctx.prefix}-ca-init`);
    expect(names.sort()).toEqual(servingContainers(ctx.outputs).sort());
    for (const name of names) {
      await waitFor(`${name} healthy`, async () => ((await health(name)) === 'healthy' ? true : undefined), { timeoutMs: 60_000 });
    }
  });

  it('client → server returns 200 and the server reports the client identity', async () => {
    const client = shared.stack.workloads.find((w) => w.name === 'client')!;
    const stats = await waitFor(
      'client success',
      async () => {
        const s = await appStats(client);
        return (s?.requests?.successes ?? 0) > 0 ? s : undefined;
      },
      { timeoutMs: 60_000 },
    );
    const last = stats.lastResponse as { status: number; body: { identity: string; clientSerial: string } };
    expect(last.status).toBe(200);
    expect(last.body.identity).toBe(client.uri);
    expect(last.body.clientSerial).toBe(stats.credentials?.serial);
  });

  it('the host operator identity is served with its own identity; an unlisted identity gets 403', async () => {
    const ok = await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: shared.rootPem, cert: shared.operator.certPem, key: shared.operator.keyPem });
    expect(ok.status).toBe(200);
    expect(ok.json?.identity).toBe(ctx.operatorUri);
    expect(ok.json?.clientSerial).toBe(shared.operator.serial);

    const intruder = await enrollHostIdentity(shared.stack.ca, ctx.outputs.ca_host_url, shared.rootPem, {
      commonName: 'intruder.mesh.internal',
      uris: ['spiffe://mesh.internal/intruder'],
    });
    const denied = await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: shared.rootPem, cert: intruder.certPem, key: intruder.keyPem });
    expect(denied.status).toBe(403);
    expect(denied.json?.error).toBe('forbidden');
    expect(JSON.stringify(denied.json?.identity)).toContain('spiffe://mesh.internal/intruder');
  });
});
