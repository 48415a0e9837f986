/**
 * The operator's commands that reach the tiny mesh stack of 035 from the host
 * (issue-cert's printed lines, refusals through a forwarded port) and that
 * act on a replaced or revoked workload (revoke, enroll --watch): registered
 * by 035 where its stack is in the state they need.
 */
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';

import { expect, it } from 'vitest';
import { $ } from 'zx';

import { LABEL } from '../../../common/facts.js';
import { waitFor } from '../../../common/wait.js';
import { currentCluster } from '../../../scripts/lib/admin/channel.js';
import { withPortForward } from '../../../scripts/lib/admin/kubernetes.js';
import { projectDir } from '../../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../../scripts/lib/docker/commands.js';
import { enrollAll } from '../../../scripts/lib/identity/enrollment.js';
import { pinnedRoot } from '../../../scripts/lib/identity/operator-identity.js';
import { appReport } from '../../../scripts/lib/workloads/app-report.js';
import { appStats, type Stack } from '../../../scripts/lib/workloads/handles.js';
import { waitForWorkloads } from '../../../scripts/lib/workloads/readiness.js';
import { callServer } from '../../e2e/helpers/callers.js';
import { expectRefusal, NODE_SERVER_REFUSALS } from '../../e2e/helpers/refusals.js';
import { selfSignedLeaf } from '../../helpers/pki.js';
import { runOk } from './cluster.js';

/** The operator's scripts, run as a user runs them. */
const script = $({ cwd: projectDir, quiet: true, nothrow: true, timeout: '2m', env: { ...process.env, FORCE_COLOR: '0' } });

/** issue-cert and the server's refusals, from the host, once the workloads are enrolled and calling. */
export function hostCallTests(PREFIX: string, stackOf: () => Stack): void {
  const named = (name: string) => stackOf().workloads.find((w) => w.name === name)!;

  it("issue-cert on the cluster: the CA's API over a forwarded port; its printed lines (a port forward to the server's Service, then curl) serve the operator and give an unlisted identity its 403", async () => {
    const issue = async (name: string) => {
      const out = await script`npx tsx scripts/issue-cert.ts ${name} --prefix ${PREFIX} --json`;
      expect(out.exitCode, out.stderr).toBe(0);
      return JSON.parse(out.stdout) as { dir: string; calls: Array<{ workload: string; allowed: boolean; command: string; forward?: string }> };
    };
    // The printed lines, as a user pastes them: the forward in the background, then the call once its port listens.
    const paste = async (call: { command: string; forward?: string }, port: number) =>
      script`bash -c ${`set -e; ${call.forward!} pid=$!; trap 'kill $pid' EXIT; until (exec 3<>/dev/tcp/127.0.0.1/${port}) 2>/dev/null; do kill -0 $pid; sleep 0.2; done; ${call.command}`}`;
    for (const [name, allowed, body] of [
      ['ops', true, /"identity":"spiffe:\/\/mesh\.internal\/ops"/],
      ['intruder', false, NODE_SERVER_REFUSALS.unlisted.body],
    ] as const) {
      const issued = await issue(name);
      expect((await stat(path.join(issued.dir, 'site.key'))).mode & 0o777, name).toBe(0o600);
      const [call] = issued.calls;
      expect({ workload: call?.workload, allowed: call?.allowed }).toEqual({ workload: 'server', allowed });
      expect(call?.forward).toMatch(new RegExp(`port-forward --namespace ${PREFIX} --address 127\\.0\\.0\\.1 service/server 8443:8443 &$`));
      const out = await paste(call!, 8443);
      expect(out.exitCode, `${name}: ${out.stderr}`).toBe(0);
      // kubectl's own lines (Forwarding from …, Handling connection …) come first, as in a terminal.
      expect(out.stdout.trim().split('\n').at(-1), name).toMatch(body);
    }
  });

  it('through a port forwarded to its Service, the server refuses a self-signed client and one without a certificate, each as on Docker, and counts each for its reason', async () => {
    const server = named('server');
    const { rootPem } = await pinnedRoot(PREFIX);
    const leaf = await selfSignedLeaf({ commonName: 'ops.mesh.internal', dns: ['ops.mesh.internal'], uris: ['spiffe://mesh.internal/ops'] });
    const failures = async () => (await appStats(server))?.handshakeFailures ?? {};
    const before = await failures();
    await withPortForward(currentCluster()!, { namespace: PREFIX, name: 'server', port: server.port }, async (port) => {
      const at = { ...server, host_port: port };
      expectRefusal(await callServer(at, rootPem, 'ops', { certPem: leaf.certPem, keyPem: leaf.keyPem }), NODE_SERVER_REFUSALS.selfSigned, 'self-signed');
      expectRefusal(await callServer(at, rootPem, 'ops'), NODE_SERVER_REFUSALS.noCertificate, 'no certificate');
    });
    const after = await waitFor(
      'the server to count both refusals',
      async () => {
        const now = await failures();
        return (now.unknown_ca ?? 0) > (before.unknown_ca ?? 0) && (now.no_certificate ?? 0) > (before.no_certificate ?? 0) && now;
      },
      { timeoutMs: 10_000, intervalMs: 300 },
    );
    expect({ unknown_ca: after.unknown_ca! - (before.unknown_ca ?? 0), no_certificate: after.no_certificate! - (before.no_certificate ?? 0) }).toEqual({
      unknown_ca: 1,
      no_certificate: 1,
    });
  });
}

/** revoke and enroll --watch, once the CA's pod was replaced (its log starts with the new pod). */
export function replacementTests(PREFIX: string, LIFETIME: string, stackOf: () => Stack, log: (s: string) => void): void {
  it("revoke on the cluster: the client's certificates found (the CA's log, its pod's in-memory volume) and revoked, their renewal refused; enroll --force brings it a new one before the old expires", async () => {
    const client = stackOf().workloads.find((w) => w.name === 'client')!;
    const since = new Date().toISOString();
    const out = await script`npx tsx scripts/revoke.ts client --prefix ${PREFIX} --json`;
    expect(out.exitCode, out.stderr).toBe(0);
    const result = JSON.parse(out.stdout) as {
      serial: string;
      revoked: Array<{ serial: string; outcome: string }>;
      renewalRefused: boolean;
      logComplete: boolean;
    };
    // The CA's pod was replaced above: its log starts with the new pod, and revoke says it cannot vouch for what came before.
    expect(result.logComplete).toBe(false);
    expect(result.revoked.map((r) => r.serial)).toContain(result.serial);
    expect(result.revoked.every((r) => r.outcome === 'revoked')).toBe(true);
    expect(result.renewalRefused).toBe(true);
    // The same evidence as the Docker suite's (e2e 07): the CA logged the revocation.
    expect(await docker.logs(stackOf().ca.container, { since })).toMatch(/revoked/i);

    const [enrolled] = await enrollAll(stackOf(), [client], { force: true, lifetime: LIFETIME });
    expect({ action: enrolled?.action, keyMode: enrolled?.keyMode }).toEqual({ action: 'issued', keyMode: '600' });
    await waitFor(
      'the client to call with its new certificate',
      async () => {
        const r = await appReport(client);
        return r?.serial !== undefined && !result.revoked.some((x) => x.serial === r.serial) && (r.requests.failed ?? 0) === 0 && r;
      },
      { timeoutMs: 60_000, intervalMs: 1000 },
    );
  });

  it("enroll --watch: the server's pod deleted, its replacement is enrolled with no operator's step (the pinned root, a key made in it, a new certificate), and the client gets through again", async () => {
    const server = stackOf().workloads.find((w) => w.name === 'server')!;
    const client = stackOf().workloads.find((w) => w.name === 'client')!;
    const before = await appReport(server);
    // The operator's command as a user starts it (tsx passes SIGTERM on to the script).
    const watcher = spawn(
      path.join(projectDir, 'node_modules/.bin/tsx'),
      ['scripts/enroll.ts', '--watch', '--lifetime', LIFETIME, '--prefix', PREFIX, '--json'],
      {
        cwd: projectDir,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    watcher.stdout.on('data', (b: Buffer) => void (stdout += b.toString()));
    watcher.stderr.on('data', (b: Buffer) => void (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => watcher.on('close', resolve));
    try {
      await waitFor('the watcher to start', () => stderr.includes('watching 2 workload(s)'), { timeoutMs: 30_000, intervalMs: 200 });
      const old = await runOk(['get', 'pods', '--namespace', PREFIX, '--selector', `${LABEL.workload}=server`, '-o', 'jsonpath={.items[*].metadata.name}']);
      const deleted = Date.now();
      await runOk(['delete', 'pod', '--namespace', PREFIX, '--wait=true', ...old.split(' ').filter(Boolean)]);
      const enrolled = await waitFor(
        'the watcher to enroll the new server pod',
        () =>
          stdout
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as { workload: string; action: string; keyMode?: string; serial?: string })
            .find((l) => l.workload === 'server'),
        { timeoutMs: 120_000, intervalMs: 500 },
      );
      expect({ action: enrolled.action, keyMode: enrolled.keyMode }, stderr).toEqual({ action: 'issued', keyMode: '600' });
      await waitForWorkloads([server]);
      log(`server pod deleted until enrolled again and ready: ${((Date.now() - deleted) / 1000).toFixed(1)} s`);
      const after = await appReport(server);
      expect(after?.serial).toBe(enrolled.serial);
      expect(after?.serial).not.toBe(before?.serial);
      const ok = (await appReport(client))?.requests.ok ?? 0;
      await waitFor('the client to get through to the new pod', async () => ((await appReport(client))?.requests.ok ?? 0) > ok, {
        timeoutMs: 30_000,
        intervalMs: 1000,
      });
      // Only the replaced pod needed anything: the client was left alone.
      expect(
        stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => (JSON.parse(l) as { workload: string }).workload),
      ).toEqual(['server']);
    } finally {
      watcher.kill('SIGTERM');
    }
    expect(await exited, stderr).toBe(0);
  });
}
