import { servedIntermediate, summarise, type IntermediateSummary } from './ca-rotation.js';
import * as docker from './docker.js';
import { formatDuration } from './pki.js';
import { rootPem } from './step.js';
import { appStats, certOnDisk, type Stack } from './workloads.js';

/** What the renewer says about the pair on disk (its health check, run fresh). */
export interface RenewerState {
  /** ok; waiting for enrollment; failing (renewals fail, the pair is still usable); unusable (needs an operator); unknown (the check could not run). */
  readonly verdict: 'ok' | 'waiting' | 'failing' | 'unusable' | 'unknown';
  readonly detail: string;
  /** The command that recovers it, when an operator must act. */
  readonly action?: string;
}

export interface WorkloadStatus {
  readonly workload: string;
  readonly identities: string[];
  readonly health: string;
  readonly renewerHealth: string;
  readonly renewer?: RenewerState;
  readonly serial?: string;
  readonly notBefore?: string;
  readonly notAfter?: string;
  readonly secondsLeft?: number;
  /** The renewer rekeys at about 2/3 of the lifetime. */
  readonly nextRenewal?: string;
  readonly lastReload?: string | null;
  readonly reloads?: number;
  readonly failedReloads?: number;
  readonly requests: { readonly successes?: number; readonly failures?: number; readonly served?: number };
}

export async function stackStatus(stack: Stack, now = new Date()): Promise<WorkloadStatus[]> {
  return Promise.all(
    stack.workloads.map(async (w) => {
      const [stats, onDisk, health, renewerHealth, check] = await Promise.all([
        appStats(w),
        certOnDisk(w),
        docker.health(w.container),
        docker.health(w.renewer),
        docker.exec(w.renewer, [...RENEWER_HEALTH_COMMAND], { timeout: '15s' }),
      ]);
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
        renewer: renewerState(check.exitCode, check.stdout + check.stderr, enrollCommand(stack.prefix, w.name)),
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

/** The renewer's own health check (see services/step-ca/renewer.sh and stack/mtls-workload.ts). */
export const RENEWER_HEALTH_COMMAND = ['/usr/local/bin/mtls-renewer', 'health'] as const;

/** The exact command that re-enrolls one workload of this stack. */
export function enrollCommand(prefix: string, workload: string): string {
  return `npm run enroll -- ${workload} --force --prefix ${prefix}`;
}

/** Reads the renewer health check's exit code and output. */
export function renewerState(exitCode: number | null, output: string, recovery: string): RenewerState {
  const detail = output.trim().split('\n').at(-1) ?? '';
  if (exitCode === 0) {
    if (detail.startsWith('waiting')) return { verdict: 'waiting', detail };
    if (/\bfailing since\b/.test(detail)) return { verdict: 'failing', detail };
    return { verdict: 'ok', detail };
  }
  if (exitCode === 1 && detail.startsWith('unusable:')) return { verdict: 'unusable', detail, action: recovery };
  return { verdict: 'unknown', detail: detail || `health check exited ${exitCode ?? 'without a code'}` };
}

export function statusRows(rows: readonly WorkloadStatus[], now = new Date()) {
  return rows.map((r) => ({
    workload: r.workload,
    identity: r.identities.join(' '),
    health: r.health,
    renewer: r.renewer ? (r.renewer.verdict === 'unusable' ? 'UNUSABLE' : r.renewer.verdict) : r.renewerHealth,
    serial: r.serial ? `${r.serial.slice(0, 12)}…` : '(none)',
    notAfter: r.notAfter ?? '',
    left: r.secondsLeft !== undefined ? formatDuration(r.secondsLeft * 1000) : '',
    'next renewal': r.nextRenewal ? `in ${formatDuration(Date.parse(r.nextRenewal) - now.getTime())}` : '',
    reloads: `${r.reloads ?? 0}${r.failedReloads ? ` (${r.failedReloads} failed)` : ''}`,
    requests: r.requests.served !== undefined ? `${r.requests.served} served` : `${r.requests.successes ?? 0} ok / ${r.requests.failures ?? 0} failed`,
  }));
}

/** One line per workload whose renewer needs attention: what is wrong and, when an operator must act, the command. */
export function renewerNotes(rows: readonly WorkloadStatus[]): string[] {
  return rows
    .filter((r) => r.renewer && (r.renewer.verdict === 'unusable' || r.renewer.verdict === 'failing' || r.renewer.verdict === 'unknown'))
    .map((r) => `${r.workload}: ${r.renewer!.detail}${r.renewer!.action ? `\n  recover with: ${r.renewer!.action}` : ''}`);
}

/** The intermediate the CA presents now (it issues from it), or why it could not be read. */
export async function caIntermediate(stack: Stack): Promise<IntermediateSummary | { error: string }> {
  try {
    return summarise(await servedIntermediate(stack.outputs.ca_host_url, await rootPem(stack.ca)));
  } catch (err) {
    return { error: (err as Error).message };
  }
}
