import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { Construct } from 'constructs';
import { parseDuration } from './duration.js';
import { hardenedContainer } from './hardening.js';
import { baseLabels, labelBlocks, stackLabels } from './labels.js';
import type { Mesh } from './mesh.js';

export interface StepCaProps {
  readonly namePrefix: string;
  readonly mesh: Mesh;
  /** The CA image (services/step-ca/Dockerfile). */
  readonly image: string;
  /** @default 'mTLS Reference CA' */
  readonly caName?: string;
  /** Host name of the CA inside the mesh, under the mesh's domain. @default 'ca' */
  readonly hostname?: string;
  /** @default 'admin' */
  readonly provisionerName?: string;
  /** Shortest certificate the provisioner signs. @default '1m' */
  readonly minCertLifetime?: string;
  /** Lifetime when enrollment asks for none. @default '5m' */
  readonly defaultCertLifetime?: string;
  /** Longest certificate the provisioner signs. @default '24h' */
  readonly maxCertLifetime?: string;
  /** Port the API is published on, on 127.0.0.1 only. @default 9000 */
  readonly hostPort?: number;
}

const CA_PORT = 9000;
const STEPPATH = '/home/step';

/**
 * smallstep step-ca in a container. It initialises itself on first start
 * (the official image's env contract); its passwords are generated inside
 * the CA volume by the entrypoint, so they never pass through Terraform.
 */
export class StepCa extends Construct {
  /** CA URL as workloads in the mesh reach it. */
  public readonly caUrl: string;
  /** CA URL as the host reaches it (127.0.0.1 only). */
  public readonly hostCaUrl: string;
  public readonly dnsName: string;
  public readonly containerName: string;
  public readonly volumeName: string;
  public readonly provisionerName: string;
  public readonly hostPort: number;
  public readonly lifetimes: { readonly min: string; readonly default: string; readonly max: string };

  constructor(scope: Construct, id: string, props: StepCaProps) {
    super(scope, id);
    this.provisionerName = props.provisionerName ?? 'admin';
    this.hostPort = props.hostPort ?? 9000;
    this.lifetimes = {
      min: props.minCertLifetime ?? '1m',
      default: props.defaultCertLifetime ?? '5m',
      max: props.maxCertLifetime ?? '24h',
    };
    validateLifetimes(this.lifetimes);
    validatePort('hostPort', this.hostPort);
    this.dnsName = `${props.hostname ?? 'ca'}.${props.mesh.domain}`;
    this.caUrl = `https://${this.dnsName}:${CA_PORT}`;
    this.hostCaUrl = `https://127.0.0.1:${this.hostPort}`;

    // The CA's state: keys, config, database. Its construct id is pinned by a
    // unit test: renaming it would make Terraform replace the volume, i.e.
    // destroy the CA and every trust relationship built on it.
    const volume = new Volume(this, 'steppath', {
      name: `${props.namePrefix}-ca`,
      labels: labelBlocks(stackLabels(props.namePrefix)),
    });
    this.volumeName = volume.name;

    const container = new Container(this, 'container', {
      name: `${props.namePrefix}-ca`,
      image: props.image,
      hostname: this.dnsName,
      ...hardenedContainer({ memoryMb: 256, init: true }),
      env: [
        `DOCKER_STEPCA_INIT_NAME=${props.caName ?? 'mTLS Reference CA'}`,
        `DOCKER_STEPCA_INIT_DNS_NAMES=${[this.dnsName, 'localhost', '127.0.0.1'].join(',')}`,
        `DOCKER_STEPCA_INIT_PROVISIONER_NAME=${this.provisionerName}`,
        `DOCKER_STEPCA_INIT_ADDRESS=:${CA_PORT}`,
        `MTLS_CA_MIN_TLS_CERT_DURATION=${this.lifetimes.min}`,
        `MTLS_CA_DEFAULT_TLS_CERT_DURATION=${this.lifetimes.default}`,
        `MTLS_CA_MAX_TLS_CERT_DURATION=${this.lifetimes.max}`,
      ],
      volumes: [{ volumeName: volume.name, containerPath: STEPPATH }],
      networksAdvanced: [
        { name: props.mesh.meshNetworkName, aliases: [this.dnsName] },
        { name: props.mesh.edgeNetworkName },
      ],
      ports: [{ internal: CA_PORT, external: this.hostPort, ip: '127.0.0.1', protocol: 'tcp' }],
      healthcheck: {
        test: ['CMD', 'step', 'ca', 'health', `--ca-url=https://127.0.0.1:${CA_PORT}`, `--root=${STEPPATH}/certs/root_ca.crt`],
        interval: '5s',
        timeout: '3s',
        startPeriod: '20s',
        retries: 5,
      },
      wait: true,
      waitTimeout: 120,
      labels: labelBlocks(baseLabels(props.namePrefix, 'ca')),
    });
    this.containerName = container.name;
  }
}

function validateLifetimes(l: { min: string; default: string; max: string }): void {
  const [min, def, max] = [parseDuration(l.min), parseDuration(l.default), parseDuration(l.max)];
  if (!(min <= def && def <= max)) {
    throw new Error(`certificate lifetimes must satisfy min <= default <= max, got min=${l.min} default=${l.default} max=${l.max}`);
  }
}

export function validatePort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name} must be a TCP port (1-65535), got ${port}`);
}
