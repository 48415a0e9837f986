import { describe, expect, inject, it } from 'vitest';

import { caCertificate, caToken } from '../../scripts/lib/ca/step.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { certOnDisk, FILES } from '../../scripts/lib/workloads/handles.js';
import { useSharedStack, workload } from './helpers/fixtures.js';
import { makeCsr, signWithToken } from './helpers/operator.js';

const ctx = inject('e2e');

describe('one-time tokens', { timeout: 120_000 }, () => {
  const shared = useSharedStack();
  const subject = 'operator.mesh.internal';
  const sans = [subject, ctx.operatorUri];

  it('a replayed token is refused with 401, and the CA logs that it was already used', async () => {
    const token = await caToken(shared.stack.ca, { subject, sans });
    const first = await signWithToken(ctx.outputs.ca_host_url, shared.rootPem, token, (await makeCsr(subject, [subject], [ctx.operatorUri])).csrPem);
    expect(first.status).toBe(201);
    expect(String(first.json.crt)).toContain('BEGIN CERTIFICATE');

    const replay = await signWithToken(ctx.outputs.ca_host_url, shared.rootPem, token, (await makeCsr(subject, [subject], [ctx.operatorUri])).csrPem);
    expect(replay.status).toBe(401);
    expect(replay.json.crt).toBeUndefined();
    expect(await docker.logs(shared.stack.ca.container)).toMatch(/token already used/);
  });

  it('a token minted for other SANs is refused', async () => {
    const token = await caToken(shared.stack.ca, { subject, sans });
    const csr = await makeCsr('client.mesh.internal', ['client.mesh.internal'], ['spiffe://mesh.internal/client']);
    const res = await signWithToken(ctx.outputs.ca_host_url, shared.rootPem, token, csr.csrPem);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.json.crt).toBeUndefined();
  });

  it('a workload cannot use a token minted for another workload, and keeps its certificate', async () => {
    const client = workload(shared.stack, 'client');
    const server = workload(shared.stack, 'server');
    const before = await certOnDisk(client);
    const token = await caToken(shared.stack.ca, { subject: server.dns_name, sans: server.sans });
    const res = await caCertificate({
      renewer: client.renewer,
      subject: client.dns_name,
      token,
      caUrl: shared.stack.outputs.ca_url,
      certFile: '/tmp/stolen.crt',
      keyFile: '/tmp/stolen.key',
      rootFile: FILES.root,
    });
    expect(res.ok).toBe(false);
    expect(await docker.readFile(client.renewer, '/tmp/stolen.crt')).toBeUndefined();
    // Its own certificate is untouched in identity (the renewer may well have
    // rotated it meanwhile: compare who it names, not its serial).
    const after = await certOnDisk(client);
    expect(after?.dnsNames).toEqual(before?.dnsNames);
    expect(after?.uris).toEqual([client.uri]);
    expect(after?.dnsNames).not.toContain(server.dns_name);
  });

  it('an expired token is refused', async () => {
    const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const token = await caToken(shared.stack.ca, { subject, sans, tokenNotBefore: minutesAgo(10), tokenNotAfter: minutesAgo(3) });
    const res = await signWithToken(ctx.outputs.ca_host_url, shared.rootPem, token, (await makeCsr(subject, [subject], [ctx.operatorUri])).csrPem);
    expect(res.status).toBe(401);
    expect(res.json.crt).toBeUndefined();
  });
});
