/**
 * The suite's pods, hardened as the mesh's workloads will be: non-root uid
 * 1000, read-only root filesystem, every capability dropped, no privilege
 * escalation, no service-account token, scratch space only in memory. Built
 * as objects and applied as JSON, so a test asserts on what it sent.
 */
export const SERVER_PORT = 8080;
export const SERVICE_PORT = 80;

interface PodOptions {
  readonly name: string;
  readonly namespace: string;
  readonly image: string;
  readonly command: readonly string[];
  readonly labels?: Readonly<Record<string, string>>;
  readonly port?: number;
}

export function hardenedPod(o: PodOptions) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: o.name, namespace: o.namespace, labels: { 'app.kubernetes.io/name': o.name, ...o.labels } },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'app',
          image: o.image,
          imagePullPolicy: 'Never',
          command: [...o.command],
          ...(o.port ? { ports: [{ containerPort: o.port }] } : {}),
          securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
        },
      ],
      volumes: [{ name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } }],
    },
  };
}

/** A one-line TCP server in Perl (the Debian base image has perl, no netcat): answers every connection with its pod's name. */
export const PERL_SERVER = [
  'perl',
  '-MIO::Socket::INET',
  '-e',
  `$s = IO::Socket::INET->new(LocalPort => ${SERVER_PORT}, Listen => 16, ReuseAddr => 1) or die "listen: $!"; while ($c = $s->accept) { print $c "pong from $ENV{HOSTNAME}\\n"; close $c }`,
];

export function clusterIpService(name: string, namespace: string, selector: Readonly<Record<string, string>>) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { type: 'ClusterIP', selector, ports: [{ port: SERVICE_PORT, targetPort: SERVER_PORT, protocol: 'TCP' }] },
  };
}

/** A shell line that connects with bash's /dev/tcp and prints what the peer says, or bash's error. */
export const tcpRead = (host: string, port: number) => ['timeout', '5', 'bash', '-c', `exec 3<>/dev/tcp/${host}/${port} && cat <&3`];
