// The status table's rows from already-gathered facts (no Docker involved).
import { describe, expect, it } from 'vitest';
import { statusRows, type WorkloadStatus } from '../../../scripts/lib/status.js';
import { table } from '../../../scripts/lib/ui.js';

const now = new Date('2030-01-01T12:00:00.000Z');
const at = (offsetSeconds: number) => new Date(now.getTime() + offsetSeconds * 1000).toISOString();

const server: WorkloadStatus = {
  workload: 'server',
  identities: ['server.mesh.internal', 'spiffe://mesh.internal/server'],
  health: 'healthy',
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
  identities: ['client.mesh.internal'],
  health: 'starting',
  renewerHealth: 'healthy',
  serial: '1234',
  notAfter: at(59),
  secondsLeft: 59,
  nextRenewal: at(45),
  reloads: 2,
  failedReloads: 0,
  requests: { successes: 10, failures: 2 },
};

const unknown: WorkloadStatus = {
  workload: 'fresh',
  identities: [],
  health: 'missing',
  renewerHealth: 'missing',
  requests: {},
};

describe('statusRows', () => {
  it('formats a server: abbreviated serial, time left, next renewal, reload failures, requests served', () => {
    expect(statusRows([server], now)).toEqual([
      {
        workload: 'server',
        identity: 'server.mesh.internal spiffe://mesh.internal/server',
        health: 'healthy',
        serial: '4F1A2B3C4D5E…',
        notAfter: '2030-01-01T13:30:00.000Z',
        left: '1h30m',
        'next renewal': 'in 20m0s',
        reloads: '3 (1 failed)',
        requests: '42 served',
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
      requests: '10 ok / 2 failed',
    });
  });

  it('fills in for a workload nothing is known about yet', () => {
    expect(statusRows([unknown], now)).toEqual([
      {
        workload: 'fresh',
        identity: '',
        health: 'missing',
        serial: '(none)',
        notAfter: '',
        left: '',
        'next renewal': '',
        reloads: '0',
        requests: '0 ok / 0 failed',
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
    expect(lines[0]).toMatch(/^workload\s+identity\s+health\s+serial\s+notAfter\s+left\s+next renewal\s+reloads\s+requests$/);
    expect(lines[2]).toContain('42 served');
    expect(lines[4]).toMatch(/^fresh\s+missing\s+\(none\)\s+0\s+0 ok \/ 0 failed$/);
  });
});
