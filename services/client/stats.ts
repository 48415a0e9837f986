// What the mTLS client reports on /stats (and what the stack's tools read).
import type { CredentialStats } from '../lib/credential-status.js';
import type { ProcessStats } from '../lib/process-stats.js';
import type { LastError, LastResponse } from './tracker.js';

export interface ClientStats {
  readonly role: 'client';
  readonly state: 'waiting' | 'running' | 'stopping';
  readonly startedAt: string;
  readonly target: string;
  readonly expectedServerIdentity: string;
  readonly credentials: CredentialStats;
  readonly agentGeneration: number;
  readonly requests: {
    readonly successes: number;
    readonly failures: number;
    /** Extra attempts after connection errors or timeouts, once a request has succeeded; not failures. */
    readonly retries: number;
    /** Extra attempts while the server could not be reached before the first success; not failures. */
    readonly startupRetries: number;
    /** Successes that needed at least one retry. */
    readonly retriedSuccesses: number;
    readonly consecutiveFailures: number;
    readonly failuresByReason: Record<string, number>;
  };
  readonly lastSuccessAt: string | null;
  readonly lastError: LastError | null;
  readonly lastResponse: LastResponse | null;
  readonly serverSerial: string | null;
  readonly serverSerials: readonly string[];
  readonly process: ProcessStats;
}
