// WORKERS > 1: the server bundle as the image runs it, with two worker
// processes on one mTLS port and a primary that owns the admin listener.
// Real processes, real TLS: a reload reaches every worker, /stats and
// /metrics add the workers up, a dead worker comes back, SIGTERM drains all.
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { buildServices } from '../../../services/build.js';
import { ServerCluster, WORKER_SETTLED_MS } from '../../../services/server/cluster.js';
import { makeTempDir } from '../../helpers/pki.js';
import { type CertDir, CLIENT_DNS, createCertDir, createTestPki, type TestPki } from './helpers/fixtures.js';
import { adminGet, captureLogs, freePort, httpsGet, type LoggedProcess, sample, spawnWithLogs, within } from './helpers/harness.js';

const node = process.env['BUNDLE_NODE'] ?? process.execPath;
let out: { path: string; remove(): Promise<void> };
let pki: TestPki;
const dirs: CertDir[] = [];
const children: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  out = await makeTempDir('cluster-bundle');
  await buildServices({ outDir: out.path });
  pki = await createTestPki();
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs) await dir.remove();
  await out?.remove();
});

interface Cluster extends LoggedProcess {
  readonly port: number;
  readonly admin: number;
  readonly dir: CertDir;
}

async function startCluster(env: Record<string, string> = {}): Promise<Cluster> {
  const dir = await createCertDir(pki, 'cluster-server');
  dirs.push(dir);
  await dir.write(await pki.serverLeaf());
  const [port, admin] = [await freePort(), await freePort()];
  const p = spawnWithLogs(node, join(out.path, 'server.mjs'), {
    CERT_DIR: dir.path,
    LISTEN_HOST: '127.0.0.1',
    LISTEN_PORT: String(port),
    ADMIN_PORT: String(admin),
    ALLOWED_IDENTITIES: CLIENT_DNS,
    RELOAD_DEBOUNCE_MS: '20',
    WORKERS: '2',
    ...env,
  });
  children.push(p.child);
  return { ...p, port, admin, dir };
}

/** `n` requests from the allowed client, each on a new connection; their responses. */
async function get(c: Cluster, n: number, path = '/'): Promise<Array<Awaited<ReturnType<typeof httpsGet>>>> {
  const client = await pki.clientLeaf();
  const responses = [];
  for (let i = 0; i < n; i++) responses.push(await httpsGet({ port: c.port, ca: pki.mesh.root.certPem, cert: client.bundlePem, key: client.keyPem, path }));
  return responses;
}

/** The primary's /healthz once every worker serves (not merely waits for) its certificate. */
const healthy = async (c: Cluster) => {
  const r = await adminGet(c.admin, '/healthz');
  return r.status === 200 && r.body.status === 'ready' ? r.body : undefined;
};

describe('server cluster (WORKERS=2)', () => {
  it('serves on one port from two workers, and /stats and /metrics add them up', async () => {
    const c = await startCluster();
    const health = await waitFor('both workers healthy', () => healthy(c), within(15_000));
    expect(health.workers).toHaveLength(2);
    expect(new Set(health.workers.map((w: { pid: number }) => w.pid)).size).toBe(2);
    expect(health.workers.every((w: { status: string }) => w.status === 'ready')).toBe(true);
    expect(health.detail).toMatch(new RegExp(`^2 workers; serving mTLS on 127.0.0.1:${c.port}; certificate ${health.serial} valid until `));

    const requests = 24;
    expect((await get(c, requests)).map((r) => r.status)).toEqual(Array(requests).fill(200));
    const stats = await waitFor(
      'every request counted',
      async () => {
        const s = (await adminGet(c.admin, '/stats')).body;
        return s.requests.total === requests ? s : undefined;
      },
      within(5_000),
    );
    expect(stats.requests.byIdentity[CLIENT_DNS]['200']).toBe(requests);
    expect(stats.workers.map((w: { requests: number }) => w.requests).reduce((a: number, b: number) => a + b, 0)).toBe(requests);
    // What the container is charged for: the primary and both workers.
    expect(stats.processes).toHaveLength(3);
    expect(stats.process.rssBytes).toBe(stats.processes.reduce((sum: number, p: { rssBytes: number }) => sum + p.rssBytes, 0));

    const metrics = (await adminGet(c.admin, '/metrics')).text;
    expect(sample(metrics, `mtls_server_requests_total{identity="${CLIENT_DNS}",status="200"}`)).toBe(requests);
    expect(sample(metrics, 'mtls_credentials_loaded{worker="0"}')).toBe(1);
    expect(sample(metrics, 'mtls_credentials_loaded{worker="1"}')).toBe(1);
    // The mTLS port's /metrics shows the cluster's sums too (as of the last second).
    const viaMtls = await waitFor(
      'cluster metrics on the mTLS port',
      async () => {
        const [r] = await get(c, 1, '/metrics');
        return (sample(r!.text, `mtls_server_requests_total{identity="${CLIENT_DNS}",status="200"}`) ?? 0) >= requests ? r!.text : undefined;
      },
      within(5_000),
    );
    expect(viaMtls).toContain('worker="1"');

    c.child.kill('SIGTERM');
    expect(await c.exited()).toBe(0);
  });

  it('a rotation reaches every worker: each reports and serves the new serial', async () => {
    const c = await startCluster();
    const before = await waitFor('healthy', () => healthy(c), within(15_000));
    const next = await pki.serverLeaf();
    await c.dir.write(next);
    const after = await waitFor(
      'every worker on the new serial',
      async () => {
        const h = await healthy(c);
        return h && h.serial !== before.serial && h.workers.every((w: { serial: string }) => w.serial === h.serial) ? h : undefined;
      },
      within(10_000),
    );
    expect((await get(c, 8)).map((r) => r.peerSerial)).toEqual(Array(8).fill(after.serial));
    c.child.kill('SIGTERM');
    expect(await c.exited()).toBe(0);
  });

  it('a killed worker makes health fail until it is forked again; SIGTERM then stops every process', async () => {
    const c = await startCluster();
    const before = await waitFor('healthy', () => healthy(c), within(15_000));
    const requests = 12;
    await get(c, requests);
    const counted = await waitFor(
      'requests reported',
      async () => {
        const s = (await adminGet(c.admin, '/stats')).body;
        return s.requests.total === requests ? s : undefined;
      },
      within(5_000),
    );
    // The worker that served the most: its counts must survive it.
    const busiest = counted.workers.reduce((a: { requests: number }, b: { requests: number }) => (b.requests > a.requests ? b : a));
    expect(busiest.requests).toBeGreaterThan(0);
    const slot = busiest.index as number;
    const victim = before.workers[slot].pid as number;
    process.kill(victim, 'SIGKILL');
    const down = await waitFor(
      'health 503 after the kill',
      async () => {
        const r = await adminGet(c.admin, '/healthz');
        return r.status === 503 ? r.body : undefined;
      },
      within(5_000),
    );
    // Down until forked again, then starting until its first report.
    expect(['unhealthy', 'starting']).toContain(down.status);
    expect(down.workers[slot].detail).toMatch(new RegExp(`^worker ${slot} (is down|has not reported yet)`));
    const back = await waitFor(
      'the worker forked again',
      async () => {
        const h = await healthy(c);
        return h && h.workers[slot].pid !== victim ? h : undefined;
      },
      within(15_000),
    );
    const stats = (await adminGet(c.admin, '/stats')).body;
    expect(stats.workers[slot].restarts).toBe(1);
    expect(stats.workers[1 - slot].restarts).toBe(0);
    // What the dead worker had counted stays in the sums: they never go down.
    expect(stats.requests.total).toBe(requests);
    expect(stats.requests.byIdentity[CLIENT_DNS]['200']).toBe(requests);
    const metrics = (await adminGet(c.admin, '/metrics')).text;
    expect(sample(metrics, `mtls_server_requests_total{identity="${CLIENT_DNS}",status="200"}`)).toBe(requests);
    expect(c.logs.some((l) => l.msg === 'worker exited; forking it again' && l['signal'] === 'SIGKILL')).toBe(true);

    c.child.kill('SIGTERM');
    expect(await c.exited()).toBe(0);
    for (const w of back.workers as Array<{ pid: number }>) expect(() => process.kill(w.pid, 0)).toThrow(/ESRCH/);
    expect(
      c.logs
        .filter((l) => l.msg === 'worker stopping')
        .map((l) => l['worker'])
        .sort(),
    ).toEqual([0, 1]);
  });

  it('refuses an allow-list entry that is not an identity in the primary, before forking anything', async () => {
    const c = await startCluster({ ALLOWED_IDENTITIES: 'not an identity' });
    expect(await c.exited()).toBe(2);
    expect(c.logs).toHaveLength(1);
    expect(c.logs[0]).toMatchObject({ msg: 'invalid configuration' });
    expect(c.logs[0]!['worker']).toBeUndefined();
  });

  it('refuses a worker count out of range before forking anything', async () => {
    for (const workers of ['0', '65', 'two']) {
      const c = await startCluster({ WORKERS: workers });
      expect(await c.exited()).toBe(2);
      expect(c.logs[0]).toMatchObject({
        msg: 'invalid configuration',
        error: { message: expect.stringContaining('WORKERS must be an integer between 1 and 64') },
      });
    }
  });
});

/** A worker the primary can fork without a process: the test says when it listens and when it dies. */
class FakeWorker extends EventEmitter {
  private dead = false;
  readonly process = { pid: 0, kill: () => this.die(null, 'SIGKILL') };
  isDead = (): boolean => this.dead;
  isConnected = (): boolean => false;
  send = (): boolean => false;
  die(code: number | null, signal: string | null): void {
    this.dead = true;
    this.emit('exit', code, signal);
  }
}

describe('restart backoff of a dead worker (fake timers, fake workers)', () => {
  afterEach(() => void vi.useRealTimers());

  /** A one-worker cluster whose forks the test drives; the delays the primary chose, in order. */
  async function crashLoop(): Promise<{ workers: FakeWorker[]; delays: () => number[]; stop: () => Promise<void> }> {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const { logger, lines } = captureLogs();
    const workers: FakeWorker[] = [];
    const primary = new ServerCluster({
      workers: 1,
      adminPort: 0,
      shutdownGraceMs: 100,
      logger,
      forkWorker: () => {
        const worker = new FakeWorker();
        workers.push(worker);
        return worker as unknown as Worker;
      },
    });
    await primary.start();
    const delays = () => lines.filter((l) => l.msg === 'worker exited; forking it again').map((l) => l['inMs'] as number);
    return { workers, delays, stop: () => primary.stop() };
  }

  it('a worker that listens and dies after 5 s, again and again, backs off to the 30 s cap', async () => {
    const { workers, delays, stop } = await crashLoop();
    for (let crash = 1; crash <= 10; crash++) {
      const worker = workers.at(-1)!;
      worker.emit('listening');
      await vi.advanceTimersByTimeAsync(5_000);
      worker.die(1, null);
      // The next fork comes after the delay just logged, not before.
      await vi.advanceTimersByTimeAsync(delays().at(-1)! - 1);
      expect(workers).toHaveLength(crash);
      await vi.advanceTimersByTimeAsync(1);
      expect(workers).toHaveLength(crash + 1);
    }
    // Equal jitter: the delay after the n-th exit in a row is between half
    // and all of min(500 ms · 2^(n-1), 30 s). The first workers' 60 s are up
    // long before the tenth exit, and must not have reset the count.
    const verdicts = delays().map((delay, i) => {
      const ceiling = Math.min(500 * 2 ** i, 30_000);
      return delay >= ceiling / 2 && delay <= ceiling ? 'backed off' : `exit ${i + 1}: ${delay} ms, not in ${ceiling / 2}..${ceiling}`;
    });
    expect(verdicts).toEqual(Array(10).fill('backed off'));
    await stop();
  });

  it('a worker that served WORKER_SETTLED_MS and then dies starts the backoff over', async () => {
    const { workers, delays, stop } = await crashLoop();
    for (let crash = 1; crash <= 4; crash++) {
      workers.at(-1)!.emit('listening');
      workers.at(-1)!.die(1, null);
      await vi.advanceTimersByTimeAsync(delays().at(-1)!);
    }
    expect(delays().at(-1)).toBeGreaterThanOrEqual(2_000);
    workers.at(-1)!.emit('listening');
    await vi.advanceTimersByTimeAsync(WORKER_SETTLED_MS);
    workers.at(-1)!.die(1, null);
    expect(delays().at(-1)).toBeLessThanOrEqual(500);
    await stop();
  });
});
