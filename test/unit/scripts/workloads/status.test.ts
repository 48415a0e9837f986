// The status table's rows from already-gathered facts (no Docker involved).
import { describe, expect, it } from 'vitest';

import { table } from '../../../../scripts/lib/cli/ui.js';
import { appHealthNotes, enrollCommand, renewerNotes, renewerState, statusRows, type WorkloadStatus } from '../../../../scripts/lib/workloads/status.js';

const now = new Date('2030-01-01T12:00:00.000Z');
const at = (offsetSeconds: number) => new Date(now.getTime() + offsetSeconds * 1000).toISOString();

const server: WorkloadStatus = {
  workload: 'server',
  technology: 'Node.js',
  role: 'server',
  identities: ['server.mesh.internal', 'spiffe://mesh.internal/server'],
  health: 'healthy',
  healthDetail: 'ok: serving 4F1A2B3C4D5E6F708192A3B4C5D6E7F8',
  renewerHealth: 'healthy',
  serial: '4F1A2B3C4D5E6F708192A3B4C5D6E7F8',
  notBefore: at(-600),
  notAfter: at(5400),
  secondsLeft: 5400,
  nextRenewal: at(1200),
  lastReload: at(-590),
  reloads: 3,
  failedReloads: 1,
  requests: { served: 42 },
};

const client: WorkloadStatus = {
  workload: 'client',
  technology: 'curl',
  role: 'client',
  identities: ['client.mesh.internal'],
  health: 'starting',
  healthDetail: 'starting: no call has answered yet',
  renewerHealth: 'healthy',
  serial: '1234',
  notAfter: at(59),
  secondsLeft: 59,
  nextRenewal: at(45),
  reloads: 2,
  failedReloads: 0,
  requests: { ok: 10, failed: 2 },
};

const unknown: WorkloadStatus = {
  workload: 'fresh',
  technology: 'Go',
  role: 'server',
  identities: [],
  health: 'missing',
  healthDetail: 'does not exist',
  renewerHealth: 'missing',
  requests: {},
};

describe('statusRows', () => {
  it('formats a server: technology and role, its URI, abbreviated serial, time left, next renewal, reload failures, requests served', () => {
    expect(statusRows([server], now)).toEqual([
      {
        workload: 'server',
        technology: 'Node.js server',
        identity: 'spiffe://mesh.internal/server',
        health: 'healthy',
        renewer: 'healthy',
        serial: '4F1A2B3C4D5E…',
        left: '1h30m',
        'next renewal': 'in 20m0s',
        reloads: '3 (1 failed)',
        traffic: '42 served',
      },
    ]);
  });

  it('formats a client: successes and failures, no failed-reload note when none failed', () => {
    const [row] = statusRows([client], now);
    expect(row).toMatchObject({
      serial: '1234…',
      left: '59s',
      'next renewal': 'in 45s',
      reloads: '2',
      traffic: '10 ok / 2 failed',
    });
  });

  it('fills in for a workload nothing is known about yet', () => {
    expect(statusRows([unknown], now)).toEqual([
      {
        workload: 'fresh',
        technology: 'Go server',
        identity: '',
        health: 'missing',
        renewer: 'missing',
        serial: '(none)',
        left: '',
        'next renewal': '',
        reloads: '-',
        traffic: '-',
      },
    ]);
  });

  it('measures the next renewal from the given now', () => {
    const later = new Date(now.getTime() + 600_000);
    expect(statusRows([server], later)[0]!['next renewal']).toBe('in 10m0s');
  });

  it('renders as one table row per workload', () => {
    const lines = table(statusRows([server, client, unknown], now)).split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatch(/^workload\s+technology\s+identity\s+health\s+renewer\s+serial\s+left\s+next renewal\s+reloads\s+traffic$/);
    expect(lines[2]).toContain('42 served');
    expect(lines[4]).toMatch(/^fresh\s+Go server\s+missing\s+missing\s+\(none\)\s+-\s+-$/);
  });
});

describe('renewer state (from its health check)', () => {
  const recovery = enrollCommand('e2eabc', 'server');

  it('names the exact re-enrollment command for this stack', () => {
    expect(recovery).toBe('npm run enroll -- server --force --prefix e2eabc');
  });

  it('an unusable pair needs an operator, with the command that recovers it', () => {
    const state = renewerState(1, 'unhealthy: unusable: site.crt is unusable: /var/run/step/site.crt contains an invalid PEM block\n', recovery);
    expect(state).toEqual({
      verdict: 'unusable',
      detail: 'unhealthy: unusable: site.crt is unusable: /var/run/step/site.crt contains an invalid PEM block',
      action: recovery,
    });
    const row: WorkloadStatus = { ...server, renewer: state };
    expect(statusRows([row], now)[0]!.renewer).toBe('UNUSABLE');
    expect(renewerNotes([row])).toEqual([`server: ${state.detail}\n  recover with: ${recovery}`]);
  });

  it('failing renewals with a usable pair are reported without an operator command', () => {
    const state = renewerState(
      0,
      'ready: certificate 1A valid until 2030-01-01T12:05:00Z; renewal failing since 2030-01-01T12:00:00Z: renewal failed: connection refused',
      recovery,
    );
    expect(state).toEqual({
      verdict: 'failing',
      detail: 'ready: certificate 1A valid until 2030-01-01T12:05:00Z; renewal failing since 2030-01-01T12:00:00Z: renewal failed: connection refused',
    });
    expect(renewerNotes([{ ...server, renewer: state }])).toEqual([`server: ${state.detail}`]);
  });

  it('ok, waiting and a check that could not run', () => {
    expect(renewerState(0, 'ready: certificate 1A valid until 2030-01-01T12:05:00Z; renews at about 2030-01-01T12:03:20Z', recovery).verdict).toBe('ok');
    expect(renewerState(1, 'unhealthy: certificate 1A expired at 2030-01-01T12:05:00Z', recovery).verdict).toBe('unusable');
    expect(renewerState(1, 'waiting: for enrollment', recovery).verdict).toBe('waiting');
    expect(renewerState(1, 'unhealthy: unusable: site.key does not match site.crt', recovery).verdict).toBe('unusable');
    expect(renewerState(1, 'unhealthy: the renewal loop is stuck', recovery).verdict).toBe('unknown');
    expect(renewerState(1, 'Error response from daemon: container is not running', recovery)).toEqual({
      verdict: 'unknown',
      detail: 'Error response from daemon: container is not running',
    });
    expect(renewerState(126, '', recovery)).toEqual({ verdict: 'unknown', detail: 'health check exited 126' });
    expect(renewerNotes([{ ...server, renewer: renewerState(0, 'ok', recovery) }])).toEqual([]);
  });
});

describe('appHealthNotes', () => {
  it('says why each app that is not healthy is not, from its check, and is silent about healthy ones', () => {
    const timedOut: WorkloadStatus = { ...server, workload: 'slow', health: 'unhealthy', healthDetail: 'unhealthy: the check did not finish within 5000 ms' };
    expect(appHealthNotes([server, client, timedOut, unknown])).toEqual([
      'client: app starting: starting: no call has answered yet',
      'slow: app unhealthy: unhealthy: the check did not finish within 5000 ms',
      'fresh: app missing: does not exist',
    ]);
  });
});
