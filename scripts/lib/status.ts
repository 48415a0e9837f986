import * as docker from './docker.js';
import { formatDuration } from './pki.js';
import { appStats, certOnDisk, type Stack } from './workloads.js';

export interface WorkloadStatus {
  readonly workload: string;
  readonly identities: string[];
  readonly health: string;
  readonly renewerHealth: string;
  readonly serial?: string;
  readonly notBefore?: string;
  readonly notAfter?: string;
  readonly secondsLeft?: number;
  /** `step ca renew --daemon` renews at about 2/3 of the lifetime. */
  readonly nextRenewal?: string;
  readonly lastReload?: string | null;
  readonly reloads?: number;
  readonly failedReloads?: number;
  readonly requests: { readonly successes?: number; readonly failures?: number; readonly served?: number };
}

export async function stackStatus(stack: Stack, now = new Date()): Promise<WorkloadStatus[]> {
  return Promise.all(
    stack.workloads.map(async (w) => {
      const [stats, onDisk, health, renewerHealth] = await Promise.all([appStats(w), certOnDisk(w), docker.health(w.container), docker.health(w.renewer)]);
      const c = stats?.credentials;
      const notBefore = c?.notBefore ?? onDisk?.notBefore.toISOString();
      const notAfter = c?.notAfter ?? onDisk?.notAfter.toISOString();
      const nb = notBefore ? Date.parse(notBefore) : undefined;
      const na = notAfter ? Date.parse(notAfter) : undefined;
      return {
        workload: w.name,
        identities: w.sans,
        health,
        renewerHealth,
        serial: c?.serial ?? onDisk?.serial,
        notBefore,
        notAfter,
        secondsLeft: na !== undefined ? Math.round((na - now.getTime()) / 1000) : undefined,
        nextRenewal: nb !== undefined && na !== undefined ? new Date(nb + ((na - nb) * 2) / 3).toISOString() : undefined,
        lastReload: c?.lastReloadAt ?? null,
        reloads: c?.reloads,
        failedReloads: c?.failedReloads,
        requests: {
          successes: stats?.requests?.successes,
          failures: stats?.requests?.failures,
          served: stats?.requests?.total,
        },
      };
    }),
  );
}

export function statusRows(rows: readonly WorkloadStatus[], now = new Date()) {
  return rows.map((r) => ({
    workload: r.workload,
    identity: r.identities.join(' '),
    health: r.health,
    serial: r.serial ? `${r.serial.slice(0, 12)}…` : '(none)',
    notAfter: r.notAfter ?? '',
    left: r.secondsLeft !== undefined ? formatDuration(r.secondsLeft * 1000) : '',
    'next renewal': r.nextRenewal ? `in ${formatDuration(Date.parse(r.nextRenewal) - now.getTime())}` : '',
    reloads: `${r.reloads ?? 0}${r.failedReloads ? ` (${r.failedReloads} failed)` : ''}`,
    requests: r.requests.served !== undefined ? `${r.requests.served} served` : `${r.requests.successes ?? 0} ok / ${r.requests.failures ?? 0} failed`,
  }));
}
