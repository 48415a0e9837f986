// What the mTLS client is told: where its files are, whom it calls and how
// often, and how patient it is with failures. Read from the environment by
// the entry points (clientOptionsFromEnv).
import { type Env, readInteger, readOptionalString, readPort, readString } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';

export interface MtlsClientOptions {
  /** Directory with root.crt, site.crt, site.key; the files may appear later. */
  readonly certDir: string;
  /**
   * SHA-256 fingerprints of the roots to trust, one per line, on a volume the
   * renewer cannot write; root.crt may hold pinned roots only. @default no pinning
   */
  readonly rootPinFile?: string;
  /** An https URL, e.g. `https://server.mesh.internal:8443/`. */
  readonly targetUrl: string | URL;
  /** DNS name or URI SAN the server must present. */
  readonly expectedServerIdentity: string;
  /** Requests per second while healthy. @default 5 */
  readonly requestRate?: number;
  /** Deadline for one request, handshake included. @default 5_000 */
  readonly requestTimeoutMs?: number;
  /** Loopback admin port; 0 picks a free port. @default 9100 */
  readonly adminPort?: number;
  /** @default 250 */
  readonly reloadDebounceMs?: number;
  /** @default 10_000 */
  readonly reloadPollIntervalMs?: number;
  /** @default [500, 1000, 2000, 4000, 8000] */
  readonly reloadRetryDelaysMs?: readonly number[];
  /**
   * Until the first successful request, how long one request may keep
   * retrying while the server cannot be reached (name not resolvable yet,
   * connection refused or reset, no connection before the deadline) before
   * it counts as failed: the server is most likely still starting. These
   * retries are counted as `startupRetries`, not failures. @default 30_000
   */
  readonly startupRetryBudgetMs?: number;
  /**
   * After the first success, how long one request may keep retrying after
   * connection errors and timeouts (requests are GETs: idempotent) before it
   * counts as failed. 0: a refused connection is a failure at once; only a
   * stale keep-alive connection reset on reuse is retried, at once, on a
   * fresh one. A caller that must ride out a peer's restart (the engine
   * restarting every container) asks for more. @default 0
   */
  readonly retryBudgetMs?: number;
  /** First delay between retries of one request (start-up or not); doubles up to retryMaxDelayMs. @default 200 */
  readonly retryInitialDelayMs?: number;
  /** @default 2_000 */
  readonly retryMaxDelayMs?: number;
  /** First delay after a failure; doubles per consecutive failure. @default 250 */
  readonly backoffInitialMs?: number;
  /** @default 5_000 */
  readonly backoffMaxMs?: number;
  /** @default silent */
  readonly logger?: Logger;
}

/**
 * The options every client entry point reads from the environment: the
 * recipes' contract for a client (recipes/README.md) plus the reference
 * client's knobs. The target and the pace are the entry point's.
 */
export function clientOptionsFromEnv(env: Env, logger: Logger) {
  return {
    certDir: readString(env, 'CERT_DIR', '/var/run/step'),
    rootPinFile: readOptionalString(env, 'ROOT_PIN_FILE'),
    expectedServerIdentity: readString(env, 'EXPECTED_SERVER_IDENTITY'),
    requestTimeoutMs: readInteger(env, 'REQUEST_TIMEOUT_MS', 5_000, { min: 100, max: 600_000 }),
    adminPort: readPort(env, 'ADMIN_PORT', 9100),
    reloadDebounceMs: readInteger(env, 'RELOAD_DEBOUNCE_MS', 250, { min: 0, max: 60_000 }),
    startupRetryBudgetMs: readInteger(env, 'STARTUP_RETRY_BUDGET_MS', 30_000, { min: 0, max: 86_400_000 }),
    logger,
  } satisfies Omit<MtlsClientOptions, 'targetUrl'>;
}
