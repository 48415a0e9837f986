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

export type HealthStatus = 'waiting' | 'ok' | 'expired';

/**
 * Waiting for enrollment is HEALTHY on purpose: certificates are issued after
 * the containers start, so a health check that failed until then would make
 * an orchestrator that waits for health (or restarts unhealthy containers)
 * deadlock with the enrollment step. The state is visible instead (`waiting`
 * in /healthz and /stats, `mtls_credentials_loaded 0`). An EXPIRED
 * certificate is unhealthy: the renewer has stopped working and every peer
 * will refuse us, which is exactly what a health check should surface.
 */
export function credentialHealth(watcher: CredentialWatcher, now: Date = new Date()): { healthy: boolean; status: HealthStatus } {
  const current = watcher.current;
  if (!current) return { healthy: true, status: 'waiting' };
  if (now > current.notAfter) return { healthy: false, status: 'expired' };
  return { healthy: true, status: 'ok' };
}
