import https from 'node:https';

import { describe, expect, inject, it } from 'vitest';

import { sleep } from '../../common/wait.js';
import { hostUrl } from '../../scripts/lib/deploy/stack-instance.js';
import { serialOf } from '../../scripts/lib/identity/pki.js';
import { observeRotations, type TimelineEntry } from '../../scripts/lib/workloads/rotation-check.js';
import { NODE_PAIR } from './helpers/containers.js';
import { useSharedStack } from './helpers/fixtures.js';
import { type IssuedCredential, mtlsRequest } from './helpers/operator.js';

const ctx = inject('e2e');
const ROTATIONS = 3;

/** The serial the server presents on a brand-new connection. */
async function freshServerSerial(rootPem: string, op: IssuedCredential): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      hostUrl(ctx.outputs, 'server'),
      { ca: rootPem, cert: op.certPem, key: op.keyPem, agent: false, servername: 'server.mesh.internal' },
      (res) => {
        const serial = serialOf((res.socket as import('node:tls').TLSSocket).getPeerCertificate());
        res.resume();
        res.on('end', () => resolve(serial));
      },
    );
    req.setTimeout(5000, () => req.destroy(new Error('fresh connection timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('rotation under continuous traffic', { timeout: 420_000 }, () => {
  const shared = useSharedStack({ operator: '5m' });

  it(`rotates server and client ${ROTATIONS} times with 0 failed requests; fresh connections see each new serial; an old connection keeps working`, async () => {
    // A keep-alive client that keeps one connection busy (so the server's idle
    // timeout does not close it) and records which connection served each request.
    const keepAlive = new https.Agent({
      keepAlive: true,
      ca: shared.rootPem,
      cert: shared.operator.certPem,
      key: shared.operator.keyPem,
      servername: 'server.mesh.internal',
    });
    const served: Array<{ at: number; port?: number; status: number; peerSerial?: string }> = [];
    const errors: string[] = [];
    let stop = false;
    const pinger = (async () => {
      while (!stop) {
        const r = await mtlsRequest(hostUrl(ctx.outputs, 'server'), { ca: shared.rootPem, agent: keepAlive }).catch((err: Error) => err);
        if (r instanceof Error) errors.push(`${new Date().toISOString()} ${r.message}`);
        else served.push({ at: Date.now(), port: r.localPort, status: r.status, peerSerial: r.peerSerial });
        // One request a second: steady traffic across the rotations, not a load test.
        await sleep(1000);
      }
    })();

    const freshChecks: Array<Promise<{ expected: string; got: string }>> = [];
    const report = await observeRotations(shared.stack, {
      rotations: ROTATIONS,
      timeoutMs: 360_000,
      only: NODE_PAIR,
      onChange: (w: string, e: TimelineEntry) => {
        if (w === 'server') freshChecks.push(freshServerSerial(shared.rootPem, shared.operator).then((got) => ({ expected: e.serial, got })));
      },
    });
    stop = true;
    await pinger;

    expect(report.problems).toEqual([]);
    expect(report.workloads.map((w) => w.workload).sort()).toEqual([...NODE_PAIR].sort());
    for (const w of report.workloads) {
      expect(w.rotations, w.workload).toBeGreaterThanOrEqual(ROTATIONS);
      expect(w.notAfterMonotonic, w.workload).toBe(true);
      expect(new Set(w.timeline.map((e) => e.serial)).size).toBe(w.timeline.length);
    }
    // Each rotation was seen in use after the renewer's 62-66 % of the old
    // certificate's lifetime (never before it: the renewer does not renew
    // earlier) and before the old certificate expired; the exact renewal point
    // is pinned by the renewer's unit test, not by polling a busy machine.
    const fractions = report.workloads.flatMap((w) =>
      w.timeline.slice(1).map((e, i) => {
        const old = w.timeline[i]!;
        return {
          workload: w.workload,
          rotation: i + 1,
          fraction: (Date.parse(e.seenAt) - Date.parse(old.notBefore)) / (Date.parse(old.notAfter) - Date.parse(old.notBefore)),
        };
      }),
    );
    console.log(
      `[e2e 02] rotations seen in use, as a fraction of the old certificate's lifetime: ${JSON.stringify(fractions.map((f) => ({ ...f, fraction: Number(f.fraction.toFixed(3)) })))}`,
    );
    expect(fractions.length).toBeGreaterThanOrEqual(report.workloads.length * ROTATIONS);
    for (const f of fractions) {
      expect(f.fraction, `${f.workload} rotation ${f.rotation} at ${(f.fraction * 100).toFixed(0)} % of the lifetime`).toBeGreaterThan(0.6);
      expect(f.fraction, `${f.workload} rotation ${f.rotation} at ${(f.fraction * 100).toFixed(0)} % of the lifetime`).toBeLessThan(1);
    }
    expect(report.traffic.failures).toBe(0);
    expect(report.traffic.successes).toBeGreaterThan(ROTATIONS * 10);

    // Every serial the server rotated to was served to a fresh connection. (A
    // later rotation can race the check; the serial must then be newer.)
    const checks = await Promise.all(freshChecks);
    const order = report.workloads.find((w) => w.workload === 'server')!.timeline.map((e) => e.serial);
    for (const c of checks) expect(order.indexOf(c.got), `fresh connection saw ${c.got}`).toBeGreaterThanOrEqual(order.indexOf(c.expected));
    expect(checks.length).toBeGreaterThanOrEqual(ROTATIONS);

    // One connection served requests both before and after the server
    // rotated: it was opened under the old certificate and kept working.
    expect(errors).toEqual([]);
    expect(served.every((r) => r.status === 200)).toBe(true);
    const serverTimeline = report.workloads.find((w) => w.workload === 'server')!.timeline;
    const firstRotation = Date.parse(serverTimeline[1]!.seenAt);
    const newest = serverTimeline.at(-1)!.serial;
    const spanning = [...new Set(served.map((r) => r.port))].filter((port) => {
      const onPort = served.filter((r) => r.port === port);
      return (
        onPort.some((r) => r.at < firstRotation) &&
        onPort.some((r) => r.at > firstRotation) &&
        // still the old certificate on the wire, while the server moved on
        onPort.every((r) => r.peerSerial === onPort[0]!.peerSerial) &&
        onPort[0]!.peerSerial !== newest
      );
    });
    expect(spanning.length, `connections: ${JSON.stringify([...new Set(served.map((r) => r.port))])}`).toBeGreaterThanOrEqual(1);
    keepAlive.destroy();
  });
});
