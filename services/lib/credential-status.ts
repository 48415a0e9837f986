// What server and client report about their own credentials: the same metric
// names, the same /stats section and the same health rule for both roles.
import type { CredentialWatcher } from './credential-watcher.js';
import { describeCredentials } from './credentials.js';
import type { Registry } from './metrics.js';

export function registerCredentialMetrics(registry: Registry, watcher: CredentialWatcher): void {
  const loaded = registry.gauge('mtls_credentials_loaded', '1 once a valid certificate is in use, 0 while waiting for enrollment');
  const info = registry.gauge('mtls_certificate_info', 'Certificate in use; the value is always 1, the serial is the label', ['serial']);
  const notBefore = registry.gauge('mtls_certificate_not_before_seconds', 'notBefore of the certificate in use (unix seconds)');
  const notAfter = registry.gauge('mtls_certificate_not_after_seconds', 'notAfter of the certificate in use (unix seconds)');
  const reloads = registry.counter('mtls_credential_reloads_total', 'Rotations picked up from disk (the first load is not counted)');
  const failures = registry.counter('mtls_credential_reload_failures_total', 'Credential loads refused; the previous credentials stayed in use');
  loaded.set({}, 0);
  notBefore.set({}, 0);
  notAfter.set({}, 0);

  watcher.on('reload', (current, previous) => {
    loaded.set({}, 1);
    info.reset();
    info.set({ serial: current.serial }, 1);
    notBefore.set({}, Math.floor(current.notBefore.getTime() / 1000));
    notAfter.set({}, Math.floor(current.notAfter.getTime() / 1000));
    if (previous) reloads.inc();
  });
  watcher.on('rejected', () => failures.inc());
}

export interface CredentialStats {
  /** `expired`: loaded, but past notAfter (the renewer has stopped keeping it fresh). */
  readonly state: 'waiting' | 'loaded' | 'expired';
  readonly serial: string | null;
  readonly notBefore: string | null;
  readonly notAfter: string | null;
  readonly identities: readonly string[];
  readonly reloads: number;
  readonly failedReloads: number;
  readonly lastReloadAt: string | null;
  readonly lastFailure: { readonly at: string; readonly problem: string; readonly message: string } | null;
}

export function credentialStats(watcher: CredentialWatcher): CredentialStats {
  const current = watcher.current ? describeCredentials(watcher.current) : undefined;
  const failure = watcher.lastFailure;
  const expired = watcher.current !== undefined && new Date() > watcher.current.notAfter;
  return {
    state: expired ? 'expired' : watcher.state,
    serial: current?.serial ?? null,
    notBefore: current?.notBefore ?? null,
    notAfter: current?.notAfter ?? null,
    identities: current?.identities ?? [],
    reloads: watcher.reloads,
    failedReloads: watcher.failedReloads,
    lastReloadAt: watcher.lastReloadAt?.toISOString() ?? null,
    lastFailure: failure ? { at: failure.at.toISOString(), problem: failure.problem, message: failure.message } : null,
  };
}

/**
 * The health vocabulary of every check in the stack (Node services, recipes,
 * renewers, the CA): the first word of the check's one line, which deployment
 * reads. `ready` serves (or calls) with valid credentials; `waiting` is up but
 * waits for an operator step (the root pin, the first certificate: enrollment
 * comes after deploy); `starting` is still coming up by itself; `unhealthy`
 * is broken, and the rest of the line says why.
 */
export type Readiness = 'ready' | 'waiting' | 'starting' | 'unhealthy';

export interface Health {
  readonly status: Readiness;
  /** The rest of the line: what is served, what it waits for, or what is wrong. */
  readonly detail: string;
}

/** The one line a health check prints: `ready: serving mTLS on …`. */
export function healthLine(health: Health): string {
  return `${health.status}: ${health.detail}`;
}

/**
 * Whether the credentials are fit to use: `ready` once a valid certificate is
 * loaded; `waiting` before anything has loaded (no pin or no certificate
 * yet); `unhealthy` when the files on disk are refused and nothing has loaded, or
 * the certificate in use has expired (the renewer has stopped keeping it fresh).
 */
export function credentialReadiness(watcher: CredentialWatcher, now: Date = new Date()): Health {
  const current = watcher.current;
  const failure = watcher.lastFailure;
  if (!current) {
    if (failure && watcher.refusing) return { status: 'unhealthy', detail: `credentials refused (${failure.problem}): ${failure.message}` };
    return { status: 'waiting', detail: 'no credentials yet: the root pin and the first certificate come after deploy (bootstrap-trust, then enroll)' };
  }
  const serial = current.serial;
  if (now > current.notAfter) return { status: 'unhealthy', detail: `certificate ${serial} expired at ${current.notAfter.toISOString()}` };
  const refused = failure && watcher.refusing ? `; the files on disk were refused (${failure.problem}): ${failure.message}` : '';
  return { status: 'ready', detail: `certificate ${serial} valid until ${current.notAfter.toISOString()}${refused}` };
}

export type HealthStatus = 'waiting' | 'ok' | 'expired' | 'refused';

/**
 * The same verdict in the words of the client's /healthz (`ok`, `waiting`,
 * `expired`, `refused`): healthy only when ready, so a client that waits for
 * enrollment is up but not ready.
 */
export function credentialHealth(watcher: CredentialWatcher, now: Date = new Date()): { healthy: boolean; status: HealthStatus } {
  const { status } = credentialReadiness(watcher, now);
  if (status === 'ready') return { healthy: true, status: 'ok' };
  if (status === 'waiting') return { healthy: false, status: 'waiting' };
  return { healthy: false, status: watcher.current ? 'expired' : 'refused' };
}
