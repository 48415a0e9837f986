// The HAProxy recipe on the host (Debian's haproxy 2.6, what the offline image
// runs) as an mTLS proxy in front of the Node reference server: who gets in
// and the exact refusals, the trust-file contract (hostile root.crt files
// refused with their reasons, the old trust kept), and renewals handed to the
// running process over its runtime API: a new certificate served and
// presented upstream, a new trust in force, the same haproxy process, open
// connections kept and no failed call.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { httpsGet, within } from '../services/helpers/harness.js';
import {
  call,
  type Caller,
  caller,
  HAPROXY_DNS,
  type HaproxyWorld,
  identity,
  pem,
  RECIPES,
  refusal,
  requireHostHaproxy,
  selfSignedCaller,
  startHaproxyWorld,
  traffic,
  trustOtherRootToo,
} from './helpers/haproxy-recipe.js';

let world: HaproxyWorld;
let allowed: Caller;

const stats = () => world.stats();
/** mtls-health with the recipe's stats file and run directory: exit code and its one line. */
const health = () =>
  new Promise<[number, string]>((resolve) =>
    execFile(
      'sh',
      [join(RECIPES, 'haproxy', 'mtls-health')],
      { env: { PATH: `${join(RECIPES, 'lib')}:${process.env['PATH']}`, STATS_FILE: join(world.files.dir, 'stats.json'), MTLS_HAPROXY_RUN: world.runDir } },
      (error, stdout) => resolve([error ? 1 : 0, stdout.trim()]),
    ),
  );
/** waitFor, with the recipe's last output when it times out. */
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> =>
  waitFor(what, probe, within(timeoutMs)).catch((error: Error) => {
    throw new Error(`${error.message}\n${world.recipe.output().slice(-4000)}`);
  });
const relabel = (text: string, label: string) => pem(text).replaceAll(' CERTIFICATE-----', ` ${label}-----`);

beforeAll(async () => {
  requireHostHaproxy();
  world = await startHaproxyWorld('haproxy-recipe');
  allowed = await caller(world.mesh, 'caller');
  await until('the recipe serving', async () => (await stats().catch(() => undefined))?.state === 'serving' || undefined, 15_000);
}, 30_000);
afterAll(async () => {
  await world?.stop();
});

describe('haproxy recipe: who gets in', { timeout: 20_000 }, () => {
  it('proxies an allowed identity to the upstream, presenting its own certificate there', async () => {
    const res = await call(world, allowed);
    expect(res.status, res.text).toBe(200);
    const s = await stats();
    expect(res.peerSerial, 'HAProxy serves its certificate').toBe(s.serial);
    expect(res.body).toMatchObject({ identity: 'spiffe://mesh.internal/haproxy', clientSerial: s.serial });
  });

  it('refuses a valid certificate whose identity is not allowed with 403 and its JSON, proxying nothing', async () => {
    const res = await call(world, await caller(world.mesh, 'intruder'));
    expect([res.status, res.body]).toEqual([403, { error: 'forbidden', reason: 'client identity not allowed' }]);
  });

  it('checks the subject, not the SANs: the allowed DNS name and URI under another CN are refused', async () => {
    const otherCn = await world.mesh.issue({ ...identity('caller'), commonName: 'Caller Inc' });
    expect((await call(world, { cert: otherCn.bundlePem, key: otherCn.keyPem })).status).toBe(403);
  });

  it('refuses in the handshake: no certificate (certificate_required), self-signed or another CA (unknown_ca)', async () => {
    expect(await refusal(world, {})).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    expect(await refusal(world, await selfSignedCaller('caller'))).toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
    expect(await refusal(world, await caller(world.other, 'caller'))).toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
  });

  it('counts what it answered and refused, and logs each refused handshake as a JSON line', async () => {
    const s = await until('counted requests', async () => ((await stats()).requests.refused >= 5 ? stats() : undefined), 5_000);
    expect(s.requests.ok).toBeGreaterThanOrEqual(1);
    expect(s.requests.failed).toBe(0);
    const handshakes = world.recipe.logs.filter((l) => l.msg === 'connection refused');
    expect(handshakes.map((l) => l['tlsError'])).toEqual(
      expect.arrayContaining([expect.stringMatching(/peer did not return a certificate/), expect.stringMatching(/certificate verify failed/)]),
    );
  });
});

describe('haproxy recipe: trust file', { timeout: 20_000 }, () => {
  const hostile: ReadonlyArray<readonly [string, string, () => string]> = [
    [
      'the other root appended as TRUSTED CERTIFICATE',
      'foreign_block',
      () => pem(world.mesh.root.certPem) + relabel(world.other.root.certPem, 'TRUSTED CERTIFICATE'),
    ],
    [
      'the other root appended as X509 CERTIFICATE',
      'foreign_block',
      () => pem(world.mesh.root.certPem) + relabel(world.other.root.certPem, 'X509 CERTIFICATE'),
    ],
    ['the other root appended as a plain CERTIFICATE', 'unpinned', () => pem(world.mesh.root.certPem) + pem(world.other.root.certPem)],
  ];

  it.each(hostile)('refuses root.crt with %s (%s), keeping its trust and certificate', async (_name, reason, make) => {
    const before = await stats();
    await world.write('root.crt', make());
    const refused = await until('the refusal', async () => ((await stats()).failedReloads > before.failedReloads ? stats() : undefined), 10_000);
    expect(refused.lastError, world.recipe.output()).toMatch(new RegExp(`^root\\.crt refused: ${reason}: `));
    expect(refused.serial).toBe(before.serial);
    expect(await refusal(world, await caller(world.other, 'caller')), 'the other CA is still not trusted').toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
    expect((await call(world, allowed)).status).toBe(200);
  });
});

describe('haproxy recipe: renewals over the runtime API, no restart', { timeout: 60_000 }, () => {
  it('serves and presents upstream each renewed certificate, in the same process, with 0 failed calls and open connections kept', async () => {
    // The trust tests left a refused root.crt: the mesh root again (the same trust and certificate, handed over again).
    const restored = await stats();
    await world.write('root.crt', pem(world.mesh.root.certPem));
    await until('the files taken again', async () => ((await stats()).reloads > restored.reloads ? true : undefined), 10_000);
    const pid = await world.haproxyPid();
    const before = await stats();
    // A kept-alive connection opened before the renewals.
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: world.mesh.root.certPem, ...allowed, servername: HAPROXY_DNS });
    const opened = await httpsGet({ port: world.port, ca: '', agent, servername: HAPROXY_DNS });
    expect(opened.status).toBe(200);
    // Callers on new connections all along.
    const load = traffic(world, allowed);
    let result = { calls: 0, failures: ['not run'] };
    try {
      for (let n = 1; n <= 2; n++) {
        const leaf = await world.mesh.issue(identity('haproxy'));
        await world.rotate(leaf);
        const now = await until(`renewal ${n} loaded`, async () => ((await stats()).serial === leaf.serial ? stats() : undefined), 10_000);
        expect(now.reloads).toBe(before.reloads + n);
        const res = await call(world, allowed);
        expect([res.peerSerial, res.body.clientSerial], 'served, and presented upstream').toEqual([leaf.serial, leaf.serial]);
      }
    } finally {
      result = await load.stop();
    }
    expect(result.failures).toEqual([]);
    expect(result.calls).toBeGreaterThan(10);
    expect(await world.haproxyPid(), 'the same haproxy process').toBe(pid);
    const kept = await httpsGet({ port: world.port, ca: '', agent, servername: HAPROXY_DNS });
    expect([kept.status, kept.reusedSocket, kept.peerSerial], 'the connection opened before, still open').toEqual([200, true, opened.peerSerial]);
    agent.destroy();
  });

  it('puts a new trust in force with a master-worker reload: the same master, 0 failed calls, certificates over the runtime API after', async () => {
    const pid = await world.haproxyPid();
    const outsider = await caller(world.other, 'caller');
    expect(await refusal(world, outsider)).toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
    const load = traffic(world, allowed);
    let result = { calls: 0, failures: ['not run'] };
    try {
      await trustOtherRootToo(world);
      const res = await until('the second root trusted', async () => call(world, outsider).catch(() => undefined), 10_000);
      expect(res.status).toBe(200);
    } finally {
      result = await load.stop();
    }
    expect(result.failures).toEqual([]);
    expect(result.calls).toBeGreaterThan(5);
    expect(await world.haproxyPid(), 'the same master process').toBe(pid);
    // A certificate under the second root for HAProxy itself, over the runtime API after the reload.
    const leaf = await world.other.issue(identity('haproxy'));
    await world.rotate(leaf);
    await until('the second root’s certificate loaded', async () => ((await stats()).serial === leaf.serial ? true : undefined), 10_000);
    expect((await call(world, outsider, pem(world.other.root.certPem))).peerSerial).toBe(leaf.serial);
  });

  it('answers its health check ready; stops cleanly on SIGTERM; then unhealthy (HAProxy gone)', async () => {
    expect(await health()).toEqual([0, expect.stringMatching(/^ready: serving certificate [0-9A-F]+ until /)]);
    await world.recipe.stop();
    expect(await world.recipe.exited()).toBe(0);
    expect(await health()).toEqual([1, 'unhealthy: haproxy is not running']);
  });
});

describe('haproxy recipe: wiring', () => {
  const read = (file: string) => readFileSync(join(RECIPES, file), 'utf8');

  it('builds its trust file from root.crt with mtls-trust, and HAProxy loads only its own files', () => {
    expect(read('haproxy/mtls-haproxy')).toContain('mtls-trust "$CERT_DIR/root.crt" "$ROOT_PIN_FILE" ');
    const tls = read('haproxy/haproxy.cfg.in')
      .split('\n')
      .filter((l) => /^\s*(bind|server) /.test(l));
    expect(tls).toHaveLength(2);
    for (const line of tls) expect(line).toMatch(/ crt @RUN@\/tls\/site\.pem ca-file @RUN@\/tls\/trust\.crt verify required /);
  });

  it('copies the tools into its image', () => {
    expect(read('haproxy/Dockerfile')).toMatch(/^COPY .*\blib\/mtls-trust\b.* \/usr\/local\/bin\/$/m);
  });
});
