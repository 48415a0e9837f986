// The root pin under attack, against every server technology of the suite's
// stack. A writer of a workload's certs volume (its renewer, or anyone who
// takes it over) appends a foreign root to root.crt in a form OpenSSL loads
// but a naive pin check does not look at (`TRUSTED CERTIFICATE`), then a
// client with a certificate from that foreign CA and an allowed identity
// calls. The server must refuse the file (the trust-file contract in
// recipes/README.md: reason `foreign_block`), keep the trust it had, and
// refuse the foreign client in the handshake, while the mesh's own callers
// keep getting in.
import { X509Certificate } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { CERT_DIR, CERT_FILES, ROOT_PIN_FILE } from '../../common/facts.js';
import { waitFor } from '../../common/wait.js';
import type { WorkloadOutput } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { type AppReport, appReport } from '../../scripts/lib/workloads/app-report.js';
import { appStats, certOnDisk, type Workload } from '../../scripts/lib/workloads/handles.js';
import { healthNow } from '../../scripts/lib/workloads/readiness.js';
import { servedCertificate } from '../../scripts/lib/workloads/served-cert.js';
import { servesAcme } from '../../stack/technologies.js';
import { createPki } from '../helpers/pki.js';
import { type CallOutcome, callServer, type Credential } from './helpers/callers.js';
import { useSharedStack } from './helpers/fixtures.js';
import { enrollHostIdentity } from './helpers/operator.js';

const ctx = inject('e2e');

/** Makes the foreign client's call to one server and checks the refusal its technology gives. */
type Check = (call: () => Promise<CallOutcome>, w: Workload) => Promise<void>;
const alert =
  (code: string): Check =>
  async (call) => {
    const got = await call();
    expect(got.ok ? undefined : got.code, JSON.stringify(got)).toBe(code);
  };

/** The Node server's handshake refusals for an unknown CA so far. */
async function unknownCaRefusals(w: Workload): Promise<number> {
  return (await appStats(w))?.handshakeFailures?.unknown_ca ?? 0;
}

// Node refuses after the client's last handshake flight (TLS 1.3): the
// caller sees the alert or a reset, whichever its socket reads first, and
// the server counts the refusal by its reason (the reference server and Express alike).
const nodeTls: Check = async (call, w) => {
  const before = await unknownCaRefusals(w);
  const got = await call();
  expect(got.ok ? undefined : got.code, JSON.stringify(got)).toMatch(/^(ERR_SSL_TLSV1_ALERT_UNKNOWN_CA|ECONNRESET)$/);
  await waitFor(`${w.name} to count an unknown_ca handshake failure`, async () => ((await unknownCaRefusals(w)) > before ? true : undefined), {
    timeoutMs: 10_000,
    intervalMs: 300,
  });
};

const UNTRUSTED: Record<string, Check> = {
  'node-server': nodeTls,
  'express-server': nodeTls,
  'go-server': alert('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'),
  'python-server': alert('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'),
  'node-exporter': alert('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'),
  httpd: alert('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'),
  mariadb: alert('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'),
  haproxy: alert('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'),
  caddy: alert('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'),
  'grpc-server': alert('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'),
  redis: alert('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'),
  'caddy-acme': alert('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA'),
  // nginx asks for a certificate in the handshake and verifies it after (recipes/nginx): its JSON 400.
  nginx: async (call) => {
    const got = await call();
    expect(got.status, JSON.stringify(got)).toBe(400);
    expect(got.ok ? '' : got.message).toMatch(/"error":"tls_refused".*unable to get local issuer certificate/);
  },
  postgres: async (call) => {
    const got = await call();
    expect(got.ok ? '' : got.message).toMatch(/tlsv1 alert unknown ca/);
  },
};

// Every published server: one whose technology has no entry above fails by name, rather than being skipped.
const servers = ctx.outputs.workloads.filter((w) => w.host_port > 0);
function untrusted(w: WorkloadOutput): Check {
  const check = UNTRUSTED[w.technology];
  if (!check) throw new Error(`no refusal pinned for ${w.technology} (${w.name}): add it to UNTRUSTED`);
  return check;
}

/** A certificate's PEM under another label, the way OpenSSL still loads it. */
const relabel = (pem: string, label: string) =>
  pem
    .trim()
    .replace(/-----BEGIN CERTIFICATE-----/, `-----BEGIN ${label}-----`)
    .replace(/-----END CERTIFICATE-----/, `-----END ${label}-----`);

describe('the root pin holds when a certs volume is written by an attacker', { timeout: 300_000 }, () => {
  const shared = useSharedStack();
  let operator: Credential;
  let foreignOperator: Credential;
  let foreignRootPem: string;
  const stackWorkloads = new Map<string, Workload>();
  const originalRoots = new Map<string, string>();
  const before = new Map<string, AppReport | undefined>();

  beforeAll(async () => {
    for (const w of shared.stack.workloads) stackWorkloads.set(w.name, w);
    operator = await enrollHostIdentity(shared.stack.ca, ctx.outputs.ca_host_url, shared.rootPem, {
      commonName: 'operator.mesh.internal',
      dns: ['operator.mesh.internal'],
      uris: [ctx.operatorUri],
      notAfter: '5m',
    });
    // The operator's identity (allowed on every server), issued by a CA the mesh never pinned.
    const foreign = await createPki('Foreign');
    foreignRootPem = foreign.root.certPem;
    const leaf = await foreign.issue({ commonName: 'operator.mesh.internal', dns: ['operator.mesh.internal'], uris: [ctx.operatorUri] });
    foreignOperator = { certPem: leaf.bundlePem, keyPem: leaf.keyPem };
  });

  afterAll(async () => {
    // Put every server's root.crt back as its renewer wrote it and wait until each serves again.
    for (const [name, pem] of originalRoots) await docker.writeFile(stackWorkloads.get(name)!.renewer, `${CERT_DIR}/${CERT_FILES.root}`, pem);
    for (const w of servers) {
      await waitFor(`${w.name} ready again`, async () => ((await healthNow(w.container)).phase === 'ready' ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 1000,
      });
    }
  });

  it('the suite deploys a server of every technology, and the foreign client is refused before any attack', async () => {
    expect([...new Set(servers.map((w) => w.technology))].sort()).toEqual(Object.keys(UNTRUSTED).sort());
    for (const w of servers) await untrusted(w)(() => callServer(w, shared.rootPem, 'operator', foreignOperator), stackWorkloads.get(w.name)!);
  });

  describe.each(servers.map((w) => [w.name, w] as [string, WorkloadOutput]))('%s', (name, w) => {
    it('refuses a root.crt with a foreign root appended as TRUSTED CERTIFICATE (foreign_block), keeping the trust it had', async () => {
      const renewer = stackWorkloads.get(name)!.renewer;
      const file = `${CERT_DIR}/${CERT_FILES.root}`;
      const original = (await docker.readFile(renewer, file)) ?? '';
      // The file as the renewer wrote it: one root, the one the app pins (whatever root rotations ran before).
      const pins = (await docker.readFile(w.container, ROOT_PIN_FILE)) ?? '';
      expect(pins.split('\n').map((l) => l.trim())).toContain(new X509Certificate(original).fingerprint256.replaceAll(':', '').toLowerCase());
      originalRoots.set(name, original);
      before.set(name, await appReport(stackWorkloads.get(name)!));

      await docker.writeFile(renewer, file, `${original.trim()}\n${relabel(foreignRootPem, 'TRUSTED CERTIFICATE')}\n`);

      const refused = await waitFor(
        `${name} to refuse the hostile root.crt`,
        async () => {
          const now = await appReport(stackWorkloads.get(name)!);
          return now && (now.failedReloads ?? 0) > (before.get(name)?.failedReloads ?? 0) ? now : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      expect(refused.lastError).toMatch(/foreign_block/);
      // Kept: the one it had, or — 1-minute certificates renew every ~40 s — the renewal written meanwhile
      // (by its renewer, or for an app that serves an ACME certificate, the one it serves now).
      const current = servesAcme(w.technology)
        ? await servedCertificate({ port: w.host_port, serverName: w.dns_name, protocol: w.protocol })
        : await certOnDisk(stackWorkloads.get(name)!);
      expect([before.get(name)?.serial, current?.serial], 'the certificate in use is kept').toContain(refused.serial);
    });

    it("refuses the foreign CA's client with an allowed identity in the handshake", async () => {
      await untrusted(w)(() => callServer(w, shared.rootPem, 'operator', foreignOperator), stackWorkloads.get(name)!);
    });

    it("still lets the mesh's own allowed caller in", async () => {
      const got = await callServer(w, shared.rootPem, 'operator', operator);
      expect(got.ok, JSON.stringify(got)).toBe(true);
    });
  });
});
