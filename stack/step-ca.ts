import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { Construct } from 'constructs';

import { CA_PORT, ROOT_KEY_DIR } from '../common/facts.js';
import { dockerFiles, hardenedContainer } from './hardening.js';
import { baseLabels, labelBlocks, stackLabels } from './labels.js';
import type { Mesh } from './networks.js';
import { HEALTH_CHECK } from './technologies.js';
import { caPlan, type CaSettings } from './workload-plan.js';

/** The CA's name, host name, provisioner and certificate lifetimes: CaSettings (workload-plan.ts). */
export interface StepCaProps extends CaSettings {
  readonly namePrefix: string;
  readonly mesh: Mesh;
  /** The CA image (images/step-ca/Dockerfile). */
  readonly image: string;
  /** Port the API is published on, on 127.0.0.1 only. @default 9000 */
  readonly hostPort?: number;
  /** The DNS names of the mesh's ACME workloads: caPlan. @default [] */
  readonly acmeDnsNames?: readonly string[];
}

/** Where the init container mounts the root-key volume (made uid 1000's in images/step-ca/Dockerfile). */
export { ROOT_KEY_DIR };

/**
 * smallstep step-ca in a container. A short-lived init container initialises
 * it on first deploy (the official image's env contract), then moves the root
 * key out of the CA volume into a root-key volume that the serving container
 * never mounts. Passwords are generated inside the CA volume by the
 * entrypoint, so they never pass through Terraform.
 */
export class StepCa extends Construct {
  /** CA URL as workloads in the mesh reach it. */
  public readonly caUrl: string;
  /** CA URL as the host reaches it (127.0.0.1 only). */
  public readonly hostCaUrl: string;
  public readonly dnsName: string;
  public readonly containerName: string;
  public readonly volumeName: string;
  /** Holds the root key (0600); mounted only by the init container. */
  public readonly rootKeyVolumeName: string;
  public readonly initContainerName: string;
  public readonly provisionerName: string;
  public readonly hostPort: number;
  public readonly lifetimes: { readonly min: string; readonly default: string; readonly max: string };

  constructor(scope: Construct, id: string, props: StepCaProps) {
    super(scope, id);
    const plan = caPlan(props.mesh.domain, props, props.acmeDnsNames);
    this.provisionerName = plan.provisionerName;
    this.hostPort = props.hostPort ?? 9000;
    this.lifetimes = plan.lifetimes;
    validatePort('hostPort', this.hostPort);
    this.dnsName = plan.dnsName;
    this.caUrl = plan.caUrl;
    this.hostCaUrl = `https://127.0.0.1:${this.hostPort}`;

    // The CA's state: keys, config, database. Its construct id is pinned by a
    // unit test: renaming it would make Terraform replace the volume, i.e.
    // destroy the CA and every trust relationship built on it.
    const volume = new Volume(this, 'steppath', {
      name: `${props.namePrefix}-ca`,
      labels: labelBlocks(stackLabels(props.namePrefix)),
    });
    this.volumeName = volume.name;

    // The root key, out of the serving CA. Stateful like the CA volume (its
    // construct id is pinned by a unit test too): losing it means the next
    // intermediate rotation needs a new root.
    this.rootKeyVolumeName = `${props.namePrefix}-ca-root-key`;
    const rootKeyVolume = new Volume(this, 'root-key', {
      name: this.rootKeyVolumeName,
      labels: labelBlocks(stackLabels(props.namePrefix)),
    });

    this.initContainerName = `${props.namePrefix}-ca-init`;
    // Runs once per deploy that (re)creates it, before the CA: `step ca init`
    // when the CA volume is empty, then the root key moves to its own volume.
    // It has no network, and it exits; Terraform waits for that (attach).
    const volumeNames = { ca: volume.name, 'root-key': rootKeyVolume.name };
    const init = new Container(this, 'init', {
      name: this.initContainerName,
      image: props.image,
      command: [...plan.init.args!],
      ...hardenedContainer({ memoryMb: plan.init.memoryMb, init: true }),
      ...dockerFiles(plan.init, volumeNames),
      restart: 'on-failure',
      maxRetryCount: 3,
      mustRun: false,
      attach: true,
      networkMode: 'none',
      labels: labelBlocks(baseLabels(props.namePrefix, 'ca-init')),
    });

    const container = new Container(this, 'container', {
      name: `${props.namePrefix}-ca`,
      image: props.image,
      hostname: this.dnsName,
      dependsOn: [init],
      ...hardenedContainer({ memoryMb: plan.serve.memoryMb, init: true }),
      ...dockerFiles(plan.serve, volumeNames),
      networksAdvanced: [{ name: props.mesh.meshNetworkName, aliases: [this.dnsName] }, { name: props.mesh.edgeNetworkName }],
      ports: [{ internal: CA_PORT, external: this.hostPort, ip: '127.0.0.1', protocol: 'tcp' }],
      // Docker's schedule as every check's (HEALTH_CHECK).
      healthcheck: { test: [...plan.serve.health!], ...HEALTH_CHECK },
      // Deploy waits for the health check itself, probing at once and then every
      // second (scripts/lib/workloads/readiness.ts); the provider would wait for Docker's
      // first probe, a full interval after the start.
      wait: false,
      labels: labelBlocks(baseLabels(props.namePrefix, 'ca')),
    });
    this.containerName = container.name;
  }
}

export function validatePort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${name} must be a TCP port (1-65535), got ${port}`);
}
