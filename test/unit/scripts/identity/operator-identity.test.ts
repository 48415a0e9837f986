// The operator's identity and the commands issue-cert prints (no CA involved).
import { execFileSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { GRPC_WHOAMI } from '../../../../common/facts.js';
import type { StackOutputs, WorkloadOutput } from '../../../../scripts/lib/deploy/stack-instance.js';
import { callLine, forwardLine, hostReachable, opensslLine, operatorIdentity } from '../../../../scripts/lib/identity/operator-identity.js';
import { grpcFrame } from '../../../helpers/grpc-call.js';

const nginx = {
  name: 'nginx',
  dns_name: 'nginx.mesh.internal',
  uri: 'spiffe://mesh.internal/nginx',
  port: 8443,
  host_port: 18444,
  protocol: 'https',
  allow: ['curl', 'operator'],
} as unknown as WorkloadOutput;
const postgres = {
  name: 'postgres',
  dns_name: 'postgres.mesh.internal',
  uri: 'spiffe://mesh.internal/postgres',
  port: 5432,
  host_port: 15432,
  protocol: 'postgres',
  allow: ['psql'],
} as unknown as WorkloadOutput;
const outputs = {
  prefix: 'p',
  operators: [{ name: 'operator', dns_name: 'operator.mesh.internal', uri: 'spiffe://mesh.internal/operator' }],
  workloads: [nginx, postgres],
} as unknown as StackOutputs;

describe('operatorIdentity', () => {
  it('takes the mesh operator as declared, and derives any other name the same way', () => {
    expect(operatorIdentity(outputs, 'operator')).toEqual({ name: 'operator', dns_name: 'operator.mesh.internal', uri: 'spiffe://mesh.internal/operator' });
    expect(operatorIdentity(outputs, 'alice')).toEqual({ name: 'alice', dns_name: 'alice.mesh.internal', uri: 'spiffe://mesh.internal/alice' });
  });

  it.each(['../x', 'Alice', '', 'a b', '-x'])('refuses the name %j (it names a directory and an identity)', (bad) => {
    expect(() => operatorIdentity(outputs, bad)).toThrow(
      `NAME must be 1-31 lower-case letters, digits and dashes starting with a letter, got ${JSON.stringify(bad)}`,
    );
  });
});

describe('the printed calls', () => {
  it('curl keeps the server name in the URL, so curl checks it, and reaches 127.0.0.1', () => {
    const c = callLine(nginx, '/tmp/id', 'operator');
    expect(c).toEqual({
      workload: 'nginx',
      allowed: true,
      command:
        'curl --cacert /tmp/id/root.crt --cert /tmp/id/site.crt --key /tmp/id/site.key --connect-to nginx.mesh.internal:8443:127.0.0.1:18444 https://nginx.mesh.internal:8443/',
    });
  });

  it('psql connects to 127.0.0.1 and verifies the server name (verify-full), as the role of the operator', () => {
    const c = callLine(postgres, '/tmp/id', 'operator');
    expect(c.allowed).toBe(false);
    expect(c.command).toContain(
      "'host=postgres.mesh.internal hostaddr=127.0.0.1 port=15432 dbname=mesh user=operator sslmode=verify-full sslrootcert=/tmp/id/root.crt",
    );
  });

  it('quotes paths with spaces', () => {
    expect(callLine(nginx, '/tmp/my id', 'operator').command).toContain("--cacert '/tmp/my id/root.crt'");
    expect(opensslLine(postgres, '/tmp/id')).toBe(
      'openssl s_client -connect 127.0.0.1:15432 -servername postgres.mesh.internal -verify_hostname postgres.mesh.internal -CAfile /tmp/id/root.crt -cert /tmp/id/site.crt -key /tmp/id/site.key -starttls postgres </dev/null',
    );
  });
});

describe('the printed gRPC call', () => {
  const grpc = { ...nginx, name: 'grpc-server', dns_name: 'grpc-server.mesh.internal', protocol: 'grpc' } as unknown as WorkloadOutput;

  it('sends one framed message over HTTP/2 to the method, checking the server name', () => {
    const { command } = callLine(grpc, '/tmp/id', 'operator');
    expect(command).toMatch(/\| curl .* --connect-to grpc-server\.mesh\.internal:8443:127\.0\.0\.1:18444 --http2 /);
    expect(command).toContain(`https://grpc-server.mesh.internal:8443${GRPC_WHOAMI}`);
    // The bytes the printed printf writes are the frame the e2e caller sends.
    const printf = command.slice(0, command.indexOf(' | '));
    expect(execFileSync('sh', ['-c', printf])).toEqual(grpcFrame(Buffer.from('{}')));
  });

  it('reads the served certificate without STARTTLS, as for HTTPS', () => {
    expect(opensslLine(grpc, '/tmp/id')).not.toContain('-starttls');
  });
});

describe('the servers an operator reaches from this host', () => {
  const client = { name: 'curl', port: 0, host_port: 0, protocol: 'https', allow: [] } as unknown as WorkloadOutput;
  const unpublished = { ...nginx, name: 'internal', host_port: 0 } as WorkloadOutput;

  it('on Docker: the published servers at their published ports, and no forward', () => {
    const docker = { ...outputs, workloads: [nginx, postgres, client, unpublished] } as StackOutputs;
    expect(hostReachable(docker).map((w) => [w.name, w.host_port])).toEqual([
      ['nginx', 18444],
      ['postgres', 15432],
    ]);
    expect(forwardLine(docker, nginx)).toBeUndefined();
  });

  it("on Kubernetes: every server, at the mesh's host port or else its own, forwarded to its Service on loopback with the stack's kubeconfig and context", () => {
    const k8s = {
      ...outputs,
      prefix: 'mtls',
      cluster: { kubectl: '/opt/k8s/kubectl', kubeconfig: '/opt/k8s/admin.kubeconfig', context: 'local' },
      workloads: [nginx, postgres, client, unpublished],
    } as StackOutputs;
    const reachable = hostReachable(k8s);
    expect(reachable.map((w) => [w.name, w.host_port])).toEqual([
      ['nginx', 18444],
      ['postgres', 15432],
      ['internal', 8443],
    ]);
    expect(forwardLine(k8s, reachable[2]!)).toBe(
      '/opt/k8s/kubectl --kubeconfig /opt/k8s/admin.kubeconfig --context local port-forward --namespace mtls --address 127.0.0.1 service/internal 8443:8443 &',
    );
    const noContext = { ...k8s, cluster: { kubectl: 'kubectl', kubeconfig: '', context: '' } } as StackOutputs;
    expect(forwardLine(noContext, nginx)).toBe('kubectl port-forward --namespace mtls --address 127.0.0.1 service/nginx 18444:8443 &');
  });
});
