import { mapLimited } from '../../../common/semaphore.js';
import { withCaHostUrl } from '../ca/host-url.js';
import { rootPem } from '../ca/step.js';
import { type IntermediateSummary, servedIntermediate, summarise } from '../ca-rotation/intermediate.js';
import * as docker from '../docker/commands.js';
import { formatDuration } from '../identity/pki.js';
import { type AppReport, appReport } from './app-report.js';
import { certOnDisk, type Stack, type Workload } from './handles.js';
import { healthWithDetail, MAX_PROBES_IN_FLIGHT } from './readiness.js';

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
  /** For people: `nginx`, `Go`, … and the role. */
  readonly technology: string;
  readonly role: string;
  readonly identities: string[];
  readonly health: string;
  /** The app's health check's last line (or why it could not run): what `health` rests on. */
  readonly healthDetail: string;
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
  /** What the process says it saw: a client's calls, a server's answered and refused requests. */
  readonly requests: AppReport['requests'];
}

/**
 * Workloads read at once. Each is about five `exec`s, among them the app's own
 * health check, which has its timeout: a whole catalog mesh probed at once on
 * a 2-core machine made checks miss it, and status call a healthy app
 * unhealthy.
 */
const WORKLOADS_IN_FLIGHT = Math.max(1, Math.floor(MAX_PROBES_IN_FLIGHT / 2));

export async function stackStatus(stack: Stack, now = new Date()): Promise<WorkloadStatus[]> {
  return mapLimited(stack.workloads, WORKLOADS_IN_FLIGHT, async (w) => {
    const [report, onDisk, live, renewerHealth, check] = await Promise.all([
      appReport(w),
      certOnDisk(w),
      healthWithDetail(w.container),
      docker.health(w.renewer),
      renewerHealthCheck(w),
    ]);
    // The process's own account first; the file on disk where it gives none.
    const inUse = report?.serial ? report : undefined;
    const notBefore = inUse?.notBefore ?? onDisk?.notBefore.toISOString();
    const notAfter = inUse?.notAfter ?? onDisk?.notAfter.toISOString();
    const nb = notBefore ? Date.parse(notBefore) : undefined;
    const na = notAfter ? Date.parse(notAfter) : undefined;
    return {
      workload: w.name,
      technology: w.label,
      role: w.role,
      identities: w.sans,
      health: live.health,
      healthDetail: live.detail,
      renewerHealth,
      renewer: renewerState(check.exitCode, check.stdout + check.stderr, enrollCommand(stack.prefix, w.name)),
      serial: inUse?.serial ?? onDisk?.serial,
      notBefore,
      notAfter,
      secondsLeft: na !== undefined ? Math.round((na - now.getTime()) / 1000) : undefined,
      nextRenewal: nb !== undefined && na !== undefined ? new Date(nb + ((na - nb) * 2) / 3).toISOString() : undefined,
      lastReload: report?.lastReloadAt ?? null,
      reloads: report?.reloads,
      failedReloads: report?.failedReloads,
      requests: report?.requests ?? {},
    };
  });
}

/** The renewer's own health check (see images/step-ca/renewer.sh and stack/mtls-workload.ts). */
export const RENEWER_HEALTH_COMMAND = ['/usr/local/bin/mtls-renewer', 'health'] as const;
/** The renewer's own health check, run in it: it reads the state its loop keeps (ready/unhealthy and why). */
export function renewerHealthCheck(w: Workload) {
  return docker.exec(w.renewer, [...RENEWER_HEALTH_COMMAND], { timeout: '15s' });
}

/** The exact command that re-enrolls one workload of this stack. */
export function enrollCommand(prefix: string, workload: string): string {
  return `npm run enroll -- ${workload} --force --prefix ${prefix}`;
}

/** Reads the renewer health check's exit code and output. */
export function renewerState(exitCode: number | null, output: string, recovery: string): RenewerState {
  const detail = output.trim().split('\n').at(-1) ?? '';
  if (exitCode === 0) {
    if (/\bfailing since\b/.test(detail)) return { verdict: 'failing', detail };
    return { verdict: 'ok', detail };
  }
  if (exitCode === 1 && detail.startsWith('waiting')) return { verdict: 'waiting', detail };
  if (exitCode === 1 && /^unhealthy: (unusable:|certificate \S+ expired at )/.test(detail)) return { verdict: 'unusable', detail, action: recovery };
  return { verdict: 'unknown', detail: detail || `health check exited ${exitCode ?? 'without a code'}` };
}

export function statusRows(rows: readonly WorkloadStatus[], now = new Date()) {
  return rows.map((r) => ({
    workload: r.workload,
    technology: `${r.technology} ${r.role}`,
    identity: r.identities.at(-1) ?? '',
    health: r.health,
    renewer: r.renewer ? (r.renewer.verdict === 'unusable' ? 'UNUSABLE' : r.renewer.verdict) : r.renewerHealth,
    serial: r.serial ? `${r.serial.slice(0, 12)}…` : '(none)',
    left: r.secondsLeft !== undefined ? formatDuration(r.secondsLeft * 1000) : '',
    'next renewal': r.nextRenewal ? `in ${formatDuration(Date.parse(r.nextRenewal) - now.getTime())}` : '',
    reloads: r.reloads === undefined ? '-' : `${r.reloads}${r.failedReloads ? ` (${r.failedReloads} failed)` : ''}`,
    traffic: trafficText(r.requests),
  }));
}

/** A client's calls, or a server's answered and refused requests; `-` where the process tells nothing. */
export function trafficText(r: WorkloadStatus['requests']): string {
  const parts: string[] = [];
  if (r.ok !== undefined || r.failed !== undefined) parts.push(`${r.ok ?? 0} ok / ${r.failed ?? 0} failed`);
  if (r.served !== undefined) parts.push(`${r.served} served`);
  if (r.refused) parts.push(`${r.refused} refused`);
  return parts.join(', ') || '-';
}

/** One line per workload whose renewer needs attention: what is wrong and, when an operator must act, the command. */
/** Why each app that is not healthy is not: its check's last line (a starting app's says what it waits for). */
export function appHealthNotes(rows: readonly WorkloadStatus[]): string[] {
  return rows.filter((r) => r.health !== 'healthy').map((r) => `${r.workload}: app ${r.health}: ${r.healthDetail}`);
}

export function renewerNotes(rows: readonly WorkloadStatus[]): string[] {
  return rows
    .filter((r) => r.renewer && (r.renewer.verdict === 'unusable' || r.renewer.verdict === 'failing' || r.renewer.verdict === 'unknown'))
    .map((r) => `${r.workload}: ${r.renewer!.detail}${r.renewer!.action ? `\n  recover with: ${r.renewer!.action}` : ''}`);
}

/** The intermediate the CA presents now (it issues from it), or why it could not be read. */
export async function caIntermediate(stack: Stack): Promise<IntermediateSummary | { error: string }> {
  try {
    const root = await rootPem(stack.ca);
    return summarise(await withCaHostUrl(stack.outputs, (url) => servedIntermediate(url, root)));
  } catch (err) {
    return { error: (err as Error).message };
  }
}
