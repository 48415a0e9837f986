/**
 * Where the host calls the CA's API. On Docker the CA is published on a
 * fixed loopback port (`ca_host_url`); on Kubernetes it has no address the
 * host can reach, so a loopback port is forwarded to its Service for the
 * call and closed after it.
 */
import { currentCluster } from '../admin/channel.js';
import { withPortForward } from '../admin/kubernetes.js';
import { UserError } from '../cli/ui.js';
import type { StackOutputs } from '../deploy/stack-outputs.js';

export async function withCaHostUrl<T>(outputs: StackOutputs, fn: (url: string) => Promise<T>): Promise<T> {
  if (outputs.ca_host_url) return fn(outputs.ca_host_url);
  const service = outputs.ca_service;
  const cluster = currentCluster();
  if (!service || !cluster) throw new UserError(`stack "${outputs.prefix}" has neither a host URL for its CA nor a CA Service on a cluster: redeploy it`);
  return withPortForward(cluster, service, (port) => fn(`https://127.0.0.1:${port}`));
}
