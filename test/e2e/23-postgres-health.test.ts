// PostgreSQL's health says ready only once it accepts TLS on its TCP port:
// initdb and role reconciliation run first (`starting:`), waiting for the pin
// or the first certificate is `waiting:`, and meanwhile nothing listens on
// 5432. Throwaway containers of the stack's own postgres image, no network,
// a tmpfs data directory; one mounts the stack postgres's certs and trust
// volumes read-only (its identity, its pin), the other nothing.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { $ } from 'zx';

import { CERT_DIR, LABEL, TRUST_DIR } from '../../common/facts.js';
import { waitFor } from '../../common/wait.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { healthNow } from '../../scripts/lib/workloads/readiness.js';
import { PROJECT } from '../../stack/versions.js';
import { useSharedStack, workload } from './helpers/fixtures.js';

const ctx = inject('e2e');
const sh = $({ quiet: true, nothrow: true, timeout: '60s' });

describe('PostgreSQL is healthy only when it accepts TLS on its port', { timeout: 240_000 }, () => {
  const shared = useSharedStack();
  const names: string[] = [];
  afterAll(async () => {
    for (const n of names) await sh`docker rm -f ${n}`;
  });

  /** Starts a copy of the stack's postgres container; `volumes` maps a volume to its mount point (read-only). */
  const start = async (suffix: string, volumes: Record<string, string>) => {
    const pg = workload(shared.stack, 'postgres');
    const name = `${ctx.prefix}-pghealth-${suffix}`;
    names.push(name);
    const env = Object.entries(await docker.envOf(pg.container)).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
    const mounts = Object.entries(volumes).flatMap(([v, at]) => ['--volume', `${v}:${at}:ro`]);
    const flags = [
      '-d',
      '--name',
      name,
      '--network',
      'none',
      '--user',
      '1000:1000',
      '--read-only',
      '--cap-drop',
      'ALL',
      '--security-opt',
      'no-new-privileges',
      '--init',
      '--label',
      `${LABEL.project}=${PROJECT}`,
      '--label',
      `${LABEL.prefix}=${ctx.prefix}`,
      // The stack sets the check on the container (stack/technologies.ts), not the image.
      '--health-cmd',
      '/usr/local/bin/mtls-health',
      '--health-interval',
      '60s',
      '--health-timeout',
      '5s',
      '--tmpfs',
      '/tmp:rw,size=16m',
      '--tmpfs',
      '/var/run/postgresql:rw,size=1m,uid=1000,gid=1000',
      '--tmpfs',
      '/var/lib/postgresql/data:rw,size=256m,uid=1000,gid=1000',
      ...env,
      ...mounts,
    ];
    const out = await sh`docker run ${flags} ${await docker.imageOf(pg.container)}`;
    expect(out.exitCode, out.stderr).toBe(0);
    return name;
  };
  /** Whether anything accepts a TCP connection on 5432 inside the container. */
  const listening = async (name: string) => (await docker.exec(name, ['bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/5432'], { timeout: '10s' })).exitCode === 0;

  /** Health and the port, observed together until `until` holds or the time is up. */
  const observe = async (name: string, until: (phase: string) => boolean, timeoutMs: number) => {
    const seen: Array<{ phase: string; line: string; listening: boolean }> = [];
    await waitFor(
      `${name}'s health to reach the phase awaited`,
      async () => {
        // The port first: the phases only move forward, so a health line read after
        // the port was seen open and still naming initdb or the roles is a real fault.
        const l = await listening(name);
        const h = await healthNow(name);
        seen.push({ phase: h.phase, line: h.line, listening: l });
        // Not there yet: the last observation goes into the timeout's message.
        if (!until(h.phase)) throw new Error(`seen ${JSON.stringify(seen.slice(-3))}`);
        return true;
      },
      { timeoutMs, intervalMs: 200 },
    );
    return seen;
  };

  it('with its certificate: starting (nothing on 5432) through initdb, then ready with TLS on 5432', async () => {
    const pg = workload(shared.stack, 'postgres');
    const certs = await docker.volumeAt(pg.container, CERT_DIR);
    const trust = await docker.volumeAt(pg.container, TRUST_DIR);
    expect(certs && trust).toBeTruthy();
    const name = await start('enrolled', { [certs!]: CERT_DIR, [trust!]: TRUST_DIR });
    const seen = await observe(name, (p) => p === 'ready', 180_000);
    // It was not ready before it listened, and said why: initdb or the listener still to come.
    const before = seen.slice(0, -1);
    expect(before.length, JSON.stringify(seen)).toBeGreaterThan(0);
    expect(before.filter((s) => s.phase === 'ready')).toEqual([]);
    expect(
      before.some((s) => /^starting: initialising the cluster/.test(s.line)),
      JSON.stringify(before.map((s) => s.line)),
    ).toBe(true);
    expect(before.filter((s) => s.listening && /initialising|reconciling/.test(s.line))).toEqual([]);
    // Ready means TLS on the TCP port: the server answers PostgreSQL's SSLRequest with S.
    const ssl = await docker.exec(
      name,
      ['bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/5432; printf "\\x00\\x00\\x00\\x08\\x04\\xd2\\x16\\x2f" >&3; head -c1 <&3'],
      { timeout: '10s' },
    );
    expect(ssl.stdout).toBe('S');
    expect(seen.at(-1)!.line).toMatch(/^ready: serving TLS on port 5432/);
  });

  it('without a pin or a certificate: waiting, nothing on 5432', async () => {
    const name = await start('waiting', {});
    const seen = await observe(name, (p) => p === 'waiting', 120_000);
    expect(seen.at(-1)!.line).toMatch(/^waiting: for the root pin/);
    expect(seen.filter((s) => s.phase === 'ready')).toEqual([]);
    expect(await listening(name)).toBe(false);
    expect((await healthNow(name)).phase).toBe('waiting');
  });
});
