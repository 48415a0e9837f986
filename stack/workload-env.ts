/**
 * A resolved workload's app configuration: the environment of the contract
 * in recipes/README.md (the Node services take their own names), and how its
 * container runs. Everything here comes from the mesh file and the
 * technology; nothing names a particular workload.
 */
import { STATS_FILE } from '../common/facts.js';
import { identityIn, type ResolvedWorkload } from './mesh-spec.js';
import { APP_MEMORY_MB, type AppRuntime } from './mtls-workload.js';

/**
 * The clients' default pace: one call every 2 s (a Node client, whose rate is
 * per second, one a second). Enough to show every rotation under live
 * traffic; a faster pace is for load (the benchmarks), and at rest the
 * recipes' shell clients cost ~20 ms of CPU a call (bench B10).
 */
const DEFAULT_INTERVAL_MS = 2000;
const DEFAULT_NODE_RATE = 1;

/** The DNS names of the workloads that obtain the certificate they serve by ACME (Technology.servedCertificate): what the CA's ACME provisioner may sign. */
export function acmeDnsNames(workloads: readonly ResolvedWorkload[]): string[] {
  return workloads.filter((w) => w.technology?.servedCertificate === 'acme').map((w) => w.identity.dnsName);
}

/** opts.caUrl: the CA's in-mesh URL, given to the workloads that obtain their served certificate by ACME (CA_URL). */
export function appEnvironment(w: ResolvedWorkload, opts: { clientRate?: number; caUrl?: string } = {}): Record<string, string> {
  const form = w.identityForm;
  const allowed = w.allowed.map((id) => identityIn(form, id)).join(',');
  if (w.technologyName === 'node-server') {
    return { LISTEN_PORT: String(w.port), ALLOWED_IDENTITIES: allowed, ...(w.processes > 1 ? { WORKERS: String(w.processes) } : {}) };
  }
  if (w.technologyName === 'node-client') {
    const t = w.target!;
    const rate = opts.clientRate ?? (w.requestIntervalMs ? Math.max(1, Math.round(1000 / w.requestIntervalMs)) : DEFAULT_NODE_RATE);
    return {
      TARGET_URL: `https://${t.identity.dnsName}:${t.port}/`,
      EXPECTED_SERVER_IDENTITY: identityIn(form, t.identity),
      REQUEST_RATE: String(rate),
    };
  }
  const env: Record<string, string> = {
    STATS_FILE,
    WORKLOAD_NAME: w.name,
    WORKLOAD_IDENTITY: w.identity.uri,
  };
  if (w.technology?.servedCertificate === 'acme') {
    // Only these: the CA (its ACME directory) and the one name the app may ask it for.
    env.WORKLOAD_DNS_NAME = w.identity.dnsName;
    if (opts.caUrl) env.CA_URL = opts.caUrl;
  }
  if (w.port !== undefined) {
    env.LISTEN_PORT = String(w.port);
    env.ALLOWED_IDENTITIES = allowed;
  }
  if (w.target) {
    const target = { host: w.target.identity.dnsName, port: String(w.target.port), identity: identityIn(form, w.target.identity) };
    if (w.role === 'both') {
      // A proxy: it calls its target for each request it accepts.
      Object.assign(env, { UPSTREAM_HOST: target.host, UPSTREAM_PORT: target.port, UPSTREAM_IDENTITY: target.identity });
    } else {
      Object.assign(env, { TARGET_HOST: target.host, TARGET_PORT: target.port, EXPECTED_SERVER_IDENTITY: target.identity });
      env.REQUEST_INTERVAL_MS = String(w.requestIntervalMs ?? DEFAULT_INTERVAL_MS);
    }
  }
  return env;
}

export function appRuntime(w: ResolvedWorkload): AppRuntime {
  if (w.technology) {
    const t = w.technology;
    // Each server process is a whole Node process with its own working set.
    const memoryMb = w.processes > 1 ? (t.memoryMb ?? APP_MEMORY_MB) * w.processes : t.memoryMb;
    return { command: t.command?.(w.role), health: t.health, tmpfs: t.tmpfs, dataPath: t.dataPath, memoryMb };
  }
  const c = w.custom!;
  return { command: c.command, health: c.health, memoryMb: c.memoryMb };
}
