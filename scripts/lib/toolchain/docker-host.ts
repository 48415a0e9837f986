import path from 'node:path';

import { $ } from 'zx';

/**
 * The Terraform docker provider reads DOCKER_HOST (else the default socket
 * /var/run/docker.sock), not the docker CLI's current context. Docker
 * Desktop without the default socket and rootless Docker only have a
 * context, so the toolchain hands the provider that context's endpoint.
 */
export interface DockerEndpoint {
  /** What the provider gets as DOCKER_HOST; undefined: leave the environment alone. */
  readonly host?: string;
  /** DOCKER_CERT_PATH for a context with TLS material (ca.pem, cert.pem, key.pem). */
  readonly certPath?: string;
  readonly why: string;
}

interface ContextInspect {
  readonly Name?: string;
  readonly Endpoints?: { readonly docker?: { readonly Host?: string } };
  readonly TLSMaterial?: Record<string, unknown>;
  readonly Storage?: { readonly TLSPath?: string };
}

/** Decides from the environment and `docker context inspect`'s JSON output. */
export function endpointFromContext(env: NodeJS.ProcessEnv, inspectJson: string | undefined): DockerEndpoint {
  if (env.DOCKER_HOST) return { why: 'DOCKER_HOST is set; the provider reads it' };
  if (inspectJson === undefined) return { why: 'no docker context could be read; the provider uses its default socket' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(inspectJson);
  } catch {
    return { why: 'docker context inspect printed no JSON; the provider uses its default socket' };
  }
  const ctx = (Array.isArray(parsed) ? parsed[0] : undefined) as ContextInspect | undefined;
  const host = ctx?.Endpoints?.docker?.Host;
  if (!host) return { why: 'the current docker context names no endpoint; the provider uses its default socket' };
  const name = ctx?.Name ?? 'current';
  const tls = ctx?.TLSMaterial?.['docker'] !== undefined && ctx?.Storage?.TLSPath;
  return {
    host,
    certPath: tls ? path.join(ctx.Storage.TLSPath, 'docker') : undefined,
    why: `endpoint of docker context "${name}"`,
  };
}

/** Asks the docker CLI for its current context (DOCKER_CONTEXT and config honoured). */
export async function resolveDockerEndpoint(env: NodeJS.ProcessEnv = process.env): Promise<DockerEndpoint> {
  if (env.DOCKER_HOST) return endpointFromContext(env, undefined);
  const out = await $({ quiet: true, nothrow: true, timeout: '20s', env })`docker context inspect`;
  return endpointFromContext(env, out.exitCode === 0 ? out.stdout : undefined);
}

/** The provider's environment for an endpoint (nothing when DOCKER_HOST was set). */
export function providerEnv(endpoint: DockerEndpoint | undefined): Record<string, string> {
  if (!endpoint?.host) return {};
  return { DOCKER_HOST: endpoint.host, ...(endpoint.certPath ? { DOCKER_CERT_PATH: endpoint.certPath } : {}) };
}
