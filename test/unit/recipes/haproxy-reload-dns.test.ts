// The HAProxy recipe's trust reload (a new master-worker worker) with its
// upstream resolved by name, as in the stack, through a DNS server that
// answers slowly: the new worker must start with the address the old one had
// (the server state handed over, init-addr last), not without one until its
// resolver answers, which answered callers 503 (no server) during the root
// rotations of the e2e suite.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { within } from '../services/helpers/harness.js';
import {
  call,
  type Caller,
  caller,
  type HaproxyWorld,
  refusal,
  requireHostHaproxy,
  startHaproxyWorld,
  trustOtherRootToo,
  withTraffic,
} from './helpers/haproxy-recipe.js';

let world: HaproxyWorld;
let allowed: Caller;

/** waitFor, with the recipe's last output when it times out. */
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> =>
  waitFor(what, probe, within(timeoutMs)).catch((error: Error) => {
    throw new Error(`${error.message}\n${world.recipe.output().slice(-4000)}`);
  });

beforeAll(async () => {
  requireHostHaproxy();
  // Each answer 400 ms late (and HAProxy asks for AAAA before A).
  world = await startHaproxyWorld('haproxy-reload-dns', { upstreamDnsDelayMs: 400 });
  allowed = await caller(world.mesh, 'caller');
  await until(
    'the upstream resolved and answering',
    async () => ((await call(world, allowed).catch(() => undefined))?.status === 200 ? true : undefined),
    20_000,
  );
  // The stats counted up to that answer (the 503s before the first resolution included).
  await until('the answer counted', async () => ((await world.stats()).requests.ok >= 1 ? true : undefined));
}, 30_000);
afterAll(async () => {
  await world?.stop();
});

it('a new trust by a worker reload: the new worker starts with the upstream address, 0 failed calls', { timeout: 60_000 }, async () => {
  const pid = await world.haproxyPid();
  const before = await world.stats();
  const outsider = await caller(world.other, 'caller');
  expect(await refusal(world, outsider)).toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
  const result = await withTraffic(world, allowed, async () => {
    await trustOtherRootToo(world);
    // Refused in the handshake until the new worker takes over; any answer but 200 fails.
    const trusted = await until('the new worker trusting the second root', async () => call(world, outsider).catch(() => undefined));
    expect(trusted.status, trusted.text).toBe(200);
    // Calls answered by the new worker while its resolver's first answer is still due (2 × 400 ms).
    const inForce = (await world.stats()).requests.ok;
    await until('20 more calls answered', async () => ((await world.stats()).requests.ok >= inForce + 20 ? true : undefined));
  });
  expect(result.failures).toEqual([]);
  expect(result.calls).toBeGreaterThan(20);
  const after = await world.stats();
  expect([after.reloads, after.failedReloads, after.requests.failed]).toEqual([before.reloads + 1, before.failedReloads, before.requests.failed]);
  expect(await world.haproxyPid(), 'the same master process').toBe(pid);
  // What the old worker handed over: the upstream server and its resolved address.
  expect(await readFile(join(world.runDir, 'servers.state'), 'utf8')).toMatch(/^\d+ upstream \d+ upstream 127\.0\.0\.1 2 /m);
});
