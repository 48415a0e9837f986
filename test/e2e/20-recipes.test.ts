// Every recipe against the real containers of the suite's one stack: the
// allowed caller gets through; no client certificate, a self-signed one and
// an unlisted identity are refused, each for its exact reason; then every
// workload of the mesh rotates twice while its callers keep calling, with 0
// failed calls, the serial each server presents (seen from outside with
// openssl s_client) changes, and no container restarts.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { sleep, waitFor } from '../../common/wait.js';
import type { WorkloadOutput } from '../../scripts/lib/deploy/stack-instance.js';
import { certOnDisk } from '../../scripts/lib/workloads/handles.js';
import { observeRotations, type RotationReport } from '../../scripts/lib/workloads/rotation-check.js';
import { servedCertificate } from '../../scripts/lib/workloads/served-cert.js';
import { parseDuration } from '../../stack/duration.js';
import { selfSignedLeaf } from '../helpers/pki.js';
import { type CallOutcome, callServer, type Credential } from './helpers/callers.js';
import { type ContainerState, containerState } from './helpers/containers.js';
import { useSharedStack } from './helpers/fixtures.js';
import { enrollHostIdentity } from './helpers/operator.js';

const ctx = inject('e2e');

/** What a server of each technology answers to a caller it must refuse. */
type Refusal = { readonly status: number; readonly body?: RegExp } | { readonly code: string | RegExp } | { readonly message: RegExp };
interface Refusals {
  readonly noCertificate: Refusal;
  readonly selfSigned: Refusal;
  readonly unlisted: Refusal;
}

/** TLS alert 42 (bad_certificate), in the spelling of the host's Node: OpenSSL 3.0 says SSLV3, 3.5 SSL/TLS. */
const BAD_CERTIFICATE = /^ERR_SSL_(SSLV3|SSL\/TLS)_ALERT_BAD_CERTIFICATE$/;

// Pinned from the recipes' own tests by hand (recipes/*/README.md): the exact
// alert or status each technology gives, as the caller sees it.
const REFUSALS: Record<string, Refusals> = {
  // nginx requires a certificate in the handshake (ssl_conf_command VerifyMode
  // Require) but verifies it after: a foreign one gets its JSON 400.
  nginx: {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { status: 400, body: /"error":"tls_refused".*self-signed certificate/ },
    unlisted: { status: 403 },
  },
  // Go and OpenSSL refuse in the handshake (TLS 1.3 alerts as Node names them).
  'go-server': {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { status: 403 },
  },
  'python-server': {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { status: 403 },
  },
  postgres: {
    noCertificate: { message: /connection requires a valid client certificate/ },
    selfSigned: { message: /tlsv1 alert unknown ca/ },
    unlisted: { message: /certificate authentication failed for user "intruder"/ },
  },
  // mod_ssl refuses in the handshake (SSLVerifyClient require), the identity
  // with Require expr on the subject DN and its JSON ErrorDocument.
  httpd: {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { status: 403, body: /"error":"forbidden","reason":"client identity not allowed"/ },
  },
  // Express on Node's TLS (services/express): no certificate fails inside
  // OpenSSL's handshake (its alert); an untrusted one is verified after it and
  // Node closes the connection without an alert; the identity in a middleware.
  'express-server': {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ECONNRESET' },
    unlisted: { status: 403, body: /^\{"error":"forbidden","identity":\["intruder\.mesh\.internal",.*"reason":"none of the identities/ },
  },
  // MariaDB asks for a certificate but does not require one in the handshake:
  // without one the account's REQUIRE SUBJECT refuses the login; an account
  // that does not exist fails the authentication switch (1698).
  mariadb: {
    noCertificate: { message: /^ERROR 1045 \(28000\): Access denied for user 'operator'@'[0-9.]+' \(using password: NO\)$/ },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    unlisted: { message: /^ERROR 1698 \(28000\): Access denied for user 'intruder'@'[0-9.]+'$/ },
  },
  // exporter-toolkit refuses in Go's handshake (RequireAndVerifyClientCert),
  // the identity too: client_allowed_sans fails VerifyPeerCertificate, a bad_certificate alert.
  'node-exporter': {
    noCertificate: { code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
    selfSigned: { code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
    // Alert 42; Node 20 (OpenSSL 3.0) names it SSLV3, Node 22 and 24 (OpenSSL 3.5) SSL/TLS.
    unlisted: { code: BAD_CERTIFICATE },
  },
};

function expectRefusal(got: CallOutcome, want: Refusal, what: string) {
  expect(got.ok, `${what}: ${JSON.stringify(got)}`).toBe(false);
  if ('status' in want) {
    expect(got.status, what).toBe(want.status);
    if (want.body) expect(got.ok ? '' : got.message, what).toMatch(want.body);
  } else if ('code' in want) {
    const code = got.ok ? undefined : got.code;
    if (typeof want.code === 'string') expect(code, `${what}: ${got.ok ? '' : got.message}`).toBe(want.code);
    else expect(code, `${what}: ${got.ok ? '' : got.message}`).toMatch(want.code);
  } else {
    expect(got.ok ? '' : got.message, what).toMatch(want.message);
  }
}

const recipeServers = ctx.outputs.workloads.filter((w) => w.host_port > 0 && w.technology in REFUSALS);
const appContainers = ctx.outputs.workloads.map((w) => w.container);

describe('recipes: who gets in', { timeout: 120_000 }, () => {
  const shared = useSharedStack();
  let operator: Credential;
  let intruder: Credential;
  let foreign: Credential;

  beforeAll(async () => {
    const id = (name: string) => ({
      commonName: `${name}.mesh.internal`,
      dns: [`${name}.mesh.internal`],
      uris: [`spiffe://mesh.internal/${name}`],
      notAfter: '2m',
    });
    operator = await enrollHostIdentity(shared.stack.ca, ctx.outputs.ca_host_url, shared.rootPem, id('operator'));
    // A valid certificate from the mesh's own CA, for an identity no allow-list names.
    intruder = await enrollHostIdentity(shared.stack.ca, ctx.outputs.ca_host_url, shared.rootPem, id('intruder'));
    // The operator's identity, signed by nobody the mesh trusts.
    const leaf = await selfSignedLeaf({ commonName: 'operator.mesh.internal', dns: ['operator.mesh.internal'], uris: ['spiffe://mesh.internal/operator'] });
    foreign = { certPem: leaf.certPem, keyPem: leaf.keyPem };
  });

  it('the suite deploys a server of every recipe, each published on 127.0.0.1', () => {
    expect(recipeServers.map((w) => w.technology).sort()).toEqual(Object.keys(REFUSALS).sort());
  });

  describe.each(recipeServers.map((w) => [w.name, w] as [string, WorkloadOutput]))('%s', (name, w) => {
    it('lets an allowed identity in (the operator, on its allow-list)', async () => {
      const got = await waitFor(
        `${name} to answer the operator`,
        async () => {
          const r = await callServer(w, shared.rootPem, 'operator', operator);
          return r.ok ? r : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 1000 },
      );
      if (w.protocol !== 'https') expect(got.body).toBe('operator true');
      else expect(got.status).toBe(200);
    });

    it('refuses a caller without a client certificate', async () => {
      expectRefusal(await callServer(w, shared.rootPem, 'operator'), REFUSALS[w.technology]!.noCertificate, `${name}, no certificate`);
    });

    it('refuses a self-signed certificate with the allowed identity in it', async () => {
      expectRefusal(await callServer(w, shared.rootPem, 'operator', foreign), REFUSALS[w.technology]!.selfSigned, `${name}, self-signed`);
    });

    it('refuses a valid certificate whose identity is not on its allow-list', async () => {
      expectRefusal(await callServer(w, shared.rootPem, 'intruder', intruder), REFUSALS[w.technology]!.unlisted, `${name}, unlisted identity`);
    });
  });
});

describe("recipes: every workload rotates under its callers' traffic", { timeout: 420_000 }, () => {
  const shared = useSharedStack();
  let before: Map<string, ContainerState>;
  let servedBefore: Map<string, string>;
  let report: RotationReport;
  /** When each workload's site.crt changed on disk, by serial (the renewer's write). */
  const writtenAt = new Map<string, Map<string, number>>();
  let polling = true;

  beforeAll(async () => {
    before = new Map(await Promise.all(appContainers.map(async (c) => [c, await containerState(c)] as const)));
    servedBefore = new Map();
    for (const w of recipeServers) {
      const cert = await servedCertificate({ port: w.host_port, serverName: w.dns_name, protocol: w.protocol });
      if (cert) servedBefore.set(w.name, cert.serial);
    }
    // Files written → new serial in use: the reload latency of each technology.
    void (async () => {
      while (polling) {
        await Promise.all(
          shared.stack.workloads.map(async (w) => {
            const c = await certOnDisk(w);
            if (!c) return;
            const seen = writtenAt.get(w.name) ?? new Map<string, number>();
            if (!seen.has(c.serial)) seen.set(c.serial, Date.now());
            writtenAt.set(w.name, seen);
          }),
        );
        // Sampled four times a second: the resolution of the reload latencies measured here.
        await sleep(250);
      }
    })();
    report = await observeRotations(shared.stack, { rotations: 2, timeoutMs: 360_000, intervalMs: 500 });
  });

  afterAll(() => {
    polling = false;
  });

  it('every workload picked up two renewed certificates, notAfter moving forward', () => {
    expect(report.problems).toEqual([]);
    expect(report.workloads.map((w) => w.workload).sort()).toEqual(ctx.outputs.workloads.map((w) => w.name).sort());
    for (const w of report.workloads) expect(w.rotations, w.workload).toBeGreaterThanOrEqual(2);
  });

  it('every client kept calling its server through both rotations, with 0 failed calls', () => {
    expect(report.traffic.failures).toBe(0);
    expect(report.calls.map((c) => c.client).sort()).toEqual(
      ctx.outputs.workloads
        .filter((w) => w.role === 'client')
        .map((w) => w.name)
        .sort(),
    );
    for (const c of report.calls) {
      expect(c.failed, `${c.client} → ${c.server}`).toBe(0);
      expect(c.ok, `${c.client} → ${c.server}`).toBeGreaterThan(10);
    }
  });

  it('each recipe server presents a new certificate, seen from outside with openssl s_client', async () => {
    expect(servedBefore.size).toBe(recipeServers.length);
    for (const w of recipeServers) {
      const now = await servedCertificate({ port: w.host_port, serverName: w.dns_name, protocol: w.protocol });
      expect(now, w.name).toBeDefined();
      expect(now!.serial, w.name).not.toBe(servedBefore.get(w.name));
      expect(now!.dnsNames, w.name).toContain(w.dns_name);
    }
  });

  it('no app container restarted: the same start time and restart count as before', async () => {
    for (const c of appContainers) {
      const now = await containerState(c);
      expect({ restarts: now.restartCount, startedAt: now.startedAt, running: now.running }, c).toEqual({
        restarts: before.get(c)!.restartCount,
        startedAt: before.get(c)!.startedAt,
        running: true,
      });
    }
  });

  it("reports each technology's reload latency (file written → new serial in use)", () => {
    const rows = report.workloads.map((w) => {
      const written = writtenAt.get(w.workload) ?? new Map<string, number>();
      const latencies = w.timeline.slice(1).flatMap((e) => {
        const at = written.get(e.serial);
        return at === undefined ? [] : [Date.parse(e.seenAt) - at];
      });
      return { workload: w.workload, technology: ctx.outputs.workloads.find((x) => x.name === w.workload)?.label, latenciesMs: latencies };
    });
    // The renewer writes a new certificate at 62-66 % of the old one's lifetime
    // (images/step-ca/renewer.sh): the old one has at least a third of it
    // left, and an app slower than that to reload risks serving it expired.
    // Negative values are the disk poll's lag, not the app's: no lower bound.
    const limitMs = (parseDuration(ctx.certLifetime) * 1000) / 3;
    console.log(`[e2e 20] reload latency, file written → new serial in use (ms, polled every 250-500 ms, limit ${limitMs}): ${JSON.stringify(rows)}`);
    const technologies = [...new Set(ctx.outputs.workloads.map((w) => w.label))].sort();
    const measured = [...new Set(rows.filter((r) => r.latenciesMs.length > 0).map((r) => r.technology))].sort();
    expect(technologies.length).toBeGreaterThan(1);
    expect(measured, 'technologies with at least one measured reload').toEqual(technologies);
    for (const r of rows) for (const l of r.latenciesMs) expect(l, r.workload).toBeLessThan(limitMs);
  });
});
