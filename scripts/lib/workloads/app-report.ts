/**
 * What a workload's app process says about itself, whatever its technology:
 * the Node services answer on their loopback admin port (their own stats
 * types), the recipes write a stats file (common/facts.ts). Both become one
 * report, so status, check-rotation and the tests read every workload alike.
 */
import { type RecipeStats, STATS_FILE } from '../../../common/facts.js';
import type { ClientStats } from '../../../services/client/app.js';
import type { ServerStats } from '../../../services/server/app.js';
import type { Workload } from '../deploy/stack-outputs.js';
import * as docker from '../docker/commands.js';
import { normaliseSerial } from '../identity/pki.js';

export type NodeStats = ServerStats | ClientStats;

/**
 * Either role's stats as one type that callers read without narrowing on
 * `role` (a field one role lacks is simply absent); every field comes from
 * the services' own types.
 */
type Shared<T> = Partial<Omit<T, 'role' | 'state' | 'requests'>>;
export type AppStats = Shared<ServerStats> &
  Shared<ClientStats> & {
    readonly role?: NodeStats['role'];
    readonly state?: NodeStats['state'];
    readonly requests?: Partial<ServerStats['requests']> & Partial<ClientStats['requests']>;
  };

export interface AppReport {
  readonly state?: string;
  /** The certificate the process uses now (upper-case hex). */
  readonly serial?: string;
  readonly notBefore?: string;
  readonly notAfter?: string;
  readonly reloads?: number;
  readonly failedReloads?: number;
  readonly lastReloadAt?: string | null;
  /**
   * A client's calls (ok, failed after retries, retries, and start-up
   * retries: calls retried before its server had ever answered); a server's
   * answered requests (served) and refusals.
   */
  readonly requests: {
    readonly ok?: number;
    readonly failed?: number;
    readonly retries?: number;
    readonly startupRetries?: number;
    readonly served?: number;
    readonly refused?: number;
    readonly failuresByReason?: Readonly<Record<string, number>>;
  };
  /** Serials of the server certificates a Node client has seen (most recent last). */
  readonly serverSerials?: readonly string[];
  readonly lastError?: string | null;
}

export function fromNodeStats(s: NodeStats): AppReport {
  const c = s.credentials;
  const base = {
    state: s.state,
    serial: c.serial ? normaliseSerial(c.serial) : undefined,
    notBefore: c.notBefore ?? undefined,
    notAfter: c.notAfter ?? undefined,
    reloads: c.reloads,
    failedReloads: c.failedReloads,
    lastReloadAt: c.lastReloadAt,
  };
  // The last refused credential files (the recipes' lastError says the same).
  const credentialError = c.lastFailure ? `${c.lastFailure.problem}: ${c.lastFailure.message}` : null;
  if (s.role === 'server') return { ...base, requests: { served: s.requests.total }, lastError: credentialError };
  return {
    ...base,
    requests: {
      ok: s.requests.successes,
      failed: s.requests.failures,
      retries: s.requests.retries,
      startupRetries: s.requests.startupRetries,
      failuresByReason: s.requests.failuresByReason,
    },
    serverSerials: s.serverSerials,
    lastError: s.lastError ? `${s.lastError.reason}: ${s.lastError.message}` : credentialError,
  };
}

export function fromRecipeStats(s: RecipeStats, role: Workload['role']): AppReport {
  const r = s.requests ?? {};
  const client = role === 'client';
  return {
    state: s.state,
    serial: s.serial ? normaliseSerial(s.serial) : undefined,
    notAfter: s.notAfter,
    reloads: s.reloads,
    failedReloads: s.failedReloads,
    lastReloadAt: s.lastReloadAt,
    // A proxy (both) is reported as the server it is to its callers.
    requests: client ? { ok: r.ok, failed: r.failed, retries: r.retries, startupRetries: r.startupRetries } : { served: r.ok, refused: r.refused },
    lastError: s.lastError,
  };
}

/** The Node services' own stats (admin /stats through the probe). */
export async function nodeStats(w: Workload): Promise<AppStats | undefined> {
  const out = await docker.exec(w.container, ['node', '/app/probe.mjs', 'get', '/stats'], { timeout: '15s' });
  if (out.exitCode !== 0) return undefined;
  try {
    return JSON.parse(out.stdout) as AppStats;
  } catch {
    return undefined;
  }
}

export async function recipeStats(w: Workload): Promise<RecipeStats | undefined> {
  const text = await docker.readFile(w.container, STATS_FILE);
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === 'object' ? parsed : undefined;
  } catch {
    return undefined; // mid-rewrite cannot happen (rename), but a broken recipe must not break status
  }
}

/** The report of one workload's app; undefined when it cannot say (not running, no stats). */
export async function appReport(w: Workload): Promise<AppReport | undefined> {
  if (w.stats === 'node-admin') {
    const s = await nodeStats(w);
    return s ? fromNodeStats(s as NodeStats) : undefined;
  }
  if (w.stats === 'stats-file') {
    const s = await recipeStats(w);
    return s ? fromRecipeStats(s, w.role) : undefined;
  }
  return undefined;
}
