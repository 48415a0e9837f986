// What the mTLS server is given (its options, and how an entry point reads
// them from the environment) and what it says about itself (its /stats).
import { type Env, readInteger, readList, readOptionalString, readPort, readString } from '../lib/config.js';
import type { CredentialStats } from '../lib/credential-status.js';
import type { ListenerLimits } from '../lib/http-limits.js';
import type { Logger } from '../lib/logger.js';
import type { ProcessStats } from '../lib/process-stats.js';

export interface MtlsServerOptions {
  /** Directory with root.crt, site.crt, site.key; the files may appear later. */
  readonly certDir: string;
  /**
   * SHA-256 fingerprints of the roots to trust, one per line, on a volume the
   * renewer cannot write; root.crt may hold pinned roots only. @default no pinning
   */
  readonly rootPinFile?: string;
  /** DNS names and/or URIs of the clients that may call us. */
  readonly allowedIdentities: readonly string[];
  /** @default '0.0.0.0' */
  readonly listenHost?: string;
  /** 0 picks a free port. @default 8443 */
  readonly listenPort?: number;
  /**
   * Loopback admin port (health, metrics, stats); 0 picks a free port;
   * `null`: no admin listener (a cluster worker: its primary has one). @default 9100
   */
  readonly adminPort?: number | null;
  /** @default 250 */
  readonly reloadDebounceMs?: number;
  /** Fallback poll of the certificate directory. @default 10_000 */
  readonly reloadPollIntervalMs?: number;
  /** Re-checks after a rejected reload. @default [500, 1000, 2000, 4000, 8000] */
  readonly reloadRetryDelaysMs?: readonly number[];
  /** How long in-flight requests may take to finish on shutdown. @default 10_000 */
  readonly shutdownGraceMs?: number;
  /**
   * Keep-alive connections older than this are closed after their next
   * response, so clients re-handshake and pick up a rotated certificate (a busy
   * connection would otherwise keep the old one forever). @default 60_000
   */
  readonly maxConnectionAgeMs?: number;
  /** Timeouts, connection cap and header size of the mTLS port. @default MTLS_LISTENER_LIMITS */
  readonly limits?: ListenerLimits;
  /** Limits of the admin listener. @default ADMIN_LISTENER_LIMITS */
  readonly adminLimits?: ListenerLimits;
  /**
   * Peer-caused events (refused handshakes, malformed or refused requests) are
   * logged once per kind per interval, then counted. @default 60_000
   */
  readonly problemLogIntervalMs?: number;
  /** @default silent */
  readonly logger?: Logger;
}

export type ServerState = 'waiting' | 'serving' | 'failed' | 'stopping';

export interface ServerStats {
  readonly role: 'server';
  readonly state: ServerState;
  readonly startedAt: string;
  readonly listen: { readonly host: string; readonly port: number } | null;
  readonly allowedIdentities: readonly string[];
  readonly credentials: CredentialStats;
  readonly requests: { readonly total: number; readonly byIdentity: Record<string, Record<string, number>> };
  readonly handshakeFailures: Record<string, number>;
  readonly process: ProcessStats;
}

/** How long in-flight requests may take to finish when the process is told to stop. */
export const SHUTDOWN_GRACE_MS = 10_000;

/**
 * The options every server entry point reads from the environment: the
 * recipes' contract for a server (recipes/README.md) plus the reference
 * server's knobs. The admin port and the process model are the entry point's.
 */
export function serverOptionsFromEnv(env: Env, logger: Logger) {
  return {
    certDir: readString(env, 'CERT_DIR', '/var/run/step'),
    rootPinFile: readOptionalString(env, 'ROOT_PIN_FILE'),
    listenHost: readString(env, 'LISTEN_HOST', '0.0.0.0'),
    listenPort: readPort(env, 'LISTEN_PORT', 8443),
    allowedIdentities: readList(env, 'ALLOWED_IDENTITIES'),
    reloadDebounceMs: readInteger(env, 'RELOAD_DEBOUNCE_MS', 250, { min: 0, max: 60_000 }),
    maxConnectionAgeMs: readInteger(env, 'MAX_CONNECTION_AGE_MS', 60_000, { min: 1_000 }),
    shutdownGraceMs: SHUTDOWN_GRACE_MS,
    logger,
  } satisfies MtlsServerOptions;
}
