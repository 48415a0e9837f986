import { describe, expect, inject, it } from 'vitest';

import { waitFor } from '../../common/wait.js';
import { LOOPBACK_PORTS, NETWORK } from '../../scripts/lib/kubernetes/layout.js';
import { apply, exec, podReady, runOk } from './helpers/cluster.js';
import { clusterIpService, hardenedPod, PERL_SERVER, SERVER_PORT, SERVICE_PORT, tcpRead } from './helpers/manifests.js';

const ctx = inject('k8s');

describe('a Service between two pods, and nothing beyond them', { timeout: 180_000 }, () => {
  it('reaches the server pod through its ClusterIP (kube-proxy, iptables mode)', async () => {
    const labels = { 'app.kubernetes.io/component': 'pong' };
    await apply(
      hardenedPod({ name: 'pong', namespace: ctx.namespace, image: ctx.image, command: PERL_SERVER, labels, port: SERVER_PORT }),
      clusterIpService('pong', ctx.namespace, labels),
      hardenedPod({ name: 'caller', namespace: ctx.namespace, image: ctx.image, command: ['sleep', 'infinity'] }),
    );
    await podReady('pong');
    await podReady('caller');
    const clusterIp = await runOk(['get', 'service', 'pong', '-n', ctx.namespace, '-o', 'jsonpath={.spec.clusterIP}']);
    expect(clusterIp).toMatch(/^10\.96\.0\.\d+$/);
    // The endpoint is published by the controller-manager and programmed by kube-proxy a moment after the pod is Ready.
    const answer = await waitFor('the Service to answer', async () => (await exec('caller', tcpRead(clusterIp, SERVICE_PORT))).stdout.trim() || false, {
      timeoutMs: 30_000,
      intervalMs: 500,
    });
    expect(answer).toBe('pong from pong');
  });

  it('refuses a pod any address that is not a pod: the node, the host, the outside world', async () => {
    for (const [host, port] of [
      [NETWORK.nodeIp, LOOPBACK_PORTS.kubelet],
      [NETWORK.podGateway, 22],
      ['198.51.100.1', 80], // TEST-NET-2: never routed anywhere; the fence answers before any packet leaves
    ] as const) {
      const out = await exec('caller', tcpRead(host, port));
      expect(out.exitCode, `${host}:${port}`).not.toBe(0);
      expect(out.stderr, `${host}:${port}`).toMatch(/Connection refused/);
    }
  });
});
