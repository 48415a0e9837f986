import { lookup } from 'node:dns/promises';

export type Mode = 'connected' | 'offline';

/**
 * Decides whether the public registries (Docker Hub, the Terraform registry)
 * can be used. MTLS_OFFLINE=1 / MTLS_OFFLINE=0 decide explicitly. Otherwise we
 * only ask the resolver: on an air-gapped host the names do not resolve, and
 * no packet is ever sent to the registries themselves.
 */
export async function detectMode(env: NodeJS.ProcessEnv = process.env): Promise<{ mode: Mode; why: string }> {
  if (env.MTLS_OFFLINE === '1' || env.MTLS_OFFLINE === 'true') return { mode: 'offline', why: 'MTLS_OFFLINE=1' };
  if (env.MTLS_OFFLINE === '0' || env.MTLS_OFFLINE === 'false') return { mode: 'connected', why: 'MTLS_OFFLINE=0' };
  const hosts = ['registry-1.docker.io', 'registry.terraform.io'];
  for (const host of hosts) {
    try {
      await withTimeout(lookup(host), 3000);
    } catch {
      return { mode: 'offline', why: `${host} does not resolve` };
    }
  }
  return { mode: 'connected', why: `${hosts.join(' and ')} resolve` };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}
