import { lookup } from 'node:dns/promises';

import { readSetting } from '../../../settings.js';

export type Mode = 'connected' | 'offline';
/** Where Terraform gets the docker provider: the public registry, or the project's mirror. */
export type ProviderSource = 'registry' | 'mirror';

export interface ModeDecision {
  readonly mode: Mode;
  readonly why: string;
  readonly providers: ProviderSource;
}

const REGISTRY_HOSTS = ['registry-1.docker.io', 'registry.terraform.io'];
const PROXY_VARS = ['HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy', 'HTTP_PROXY', 'http_proxy'];

/**
 * Decides whether the public registries (Docker Hub, the Terraform registry)
 * are used. MTLS_OFFLINE=1 / MTLS_OFFLINE=0 decide explicitly. Otherwise the
 * resolver is asked (no packet goes to the registries themselves); when the
 * names do not resolve but a proxy is configured, the registries are taken
 * to be reachable through it (Terraform and a Docker engine set up for that
 * proxy use it), and the reason says so.
 *
 * MTLS_PROVIDER_MIRROR=1 keeps the docker provider on the project's mirror
 * in connected mode: for hosts that reach a container registry (or a mirror
 * of one) but not registry.terraform.io, such as the local registry mirror
 * the connected-path test runs against.
 */
export async function detectMode(env: NodeJS.ProcessEnv = process.env): Promise<ModeDecision> {
  const providers: ProviderSource = readSetting('providerMirror', env) ? 'mirror' : 'registry';
  const offline = readSetting('offline', env);
  if (offline === true) return { mode: 'offline', why: 'MTLS_OFFLINE=1', providers: 'mirror' };
  const mirrorNote = providers === 'mirror' ? '; provider from the mirror (MTLS_PROVIDER_MIRROR=1)' : '';
  if (offline === false) return { mode: 'connected', why: `MTLS_OFFLINE=0${mirrorNote}`, providers };
  for (const host of REGISTRY_HOSTS) {
    try {
      await withTimeout(lookup(host), 3000);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      const proxy = PROXY_VARS.find((v) => env[v]);
      if (proxy) {
        return {
          mode: 'connected',
          why: `${host} does not resolve here (${code}) but ${proxy} is set: using the registries through the proxy (set MTLS_OFFLINE=1 to build everything locally instead)${mirrorNote}`,
          providers,
        };
      }
      return {
        mode: 'offline',
        why: `${host} does not resolve (${code}) and no proxy is set (set MTLS_OFFLINE=0 if the registries are reachable anyway)`,
        providers: 'mirror',
      };
    }
  }
  return { mode: 'connected', why: `${REGISTRY_HOSTS.join(' and ')} resolve${mirrorNote}`, providers };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(Object.assign(new Error(`timed out after ${ms} ms`), { code: 'ETIMEOUT' })), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}
