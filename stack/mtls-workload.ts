import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { Construct } from 'constructs';

import { CERT_DIR, ROOT_PIN_FILE, TRUST_DIR } from '../common/facts.js';
import { hardenedContainer } from './hardening.js';
import { baseLabels, LABEL, labelBlocks, stackLabels } from './labels.js';
import type { Mesh } from './networks.js';
import { validatePort } from './step-ca.js';
import { HEALTH_CHECK, type WorkloadRole } from './technologies.js';

export interface WorkloadIdentity {
  /** DNS SAN, also the workload's name in the mesh, e.g. `client.mesh.internal`. */
  readonly dnsName: string;
  /** Optional URI SAN, e.g. `spiffe://mesh.internal/client`. */
  readonly uri?: string;
}

/** How the app container runs: from the workload's technology, or the user's own image. */
export interface AppRuntime {
  /** @default the image's own */
  readonly command?: readonly string[];
  /** Docker health check command. @default the image's own */
  readonly health?: readonly string[];
  /** Writable paths besides /tmp. @default none */
  readonly tmpfs?: Readonly<Record<string, string>>;
  /** A named volume for the app's data, mounted here. @default none */
  readonly dataPath?: string;
  /** @default APP_MEMORY_MB */
  readonly memoryMb?: number;
}

export interface MtlsWorkloadProps {
  readonly namePrefix: string;
  /** Short name, unique in the stack: `server`, `nginx`. */
  readonly name: string;
  readonly role: WorkloadRole;
  /** The technology's name, for labels and status (`nginx`, `node-server`, `image`). */
  readonly technology: string;
  readonly identity: WorkloadIdentity;
  readonly mesh: Mesh;
  /** The app's image (one of the project's, or the user's). */
  readonly appImage: string;
  readonly runtime?: AppRuntime;
  /** The step image that runs the renewer sidecar (images/step-ca/Dockerfile). */
  readonly renewerImage: string;
  /** CA URL in the mesh, used by the renewer. */
  readonly caUrl: string;
  /** Environment of the app process (its own configuration). */
  readonly appEnv?: Record<string, string>;
  /** Publish this container port on 127.0.0.1:hostPort. @default no port published */
  readonly publish?: { readonly containerPort: number; readonly hostPort: number };
}

export { CERT_DIR, ROOT_PIN_FILE, TRUST_DIR };
/** Memory limit of each app container (the soak benchmark judges RSS against it). */
export const APP_MEMORY_MB = 192;

/**
 * An mTLS workload: the app container and a renewer sidecar sharing a certs
 * volume. The renewer owns the volume (read-write) and keeps the certificate
 * fresh; the app mounts it read-only and reloads when the files change. The
 * private key is created in this volume by enrollment and never leaves it.
 */
export class MtlsWorkload extends Construct {
  public readonly containerName: string;
  public readonly renewerContainerName: string;
  public readonly volumeName: string;
  /** Holds the root pin; only bootstrap-trust writes it, the renewer never sees it. */
  public readonly trustVolumeName: string;
  public readonly identity: WorkloadIdentity;
  public readonly name: string;
  public readonly role: WorkloadRole;
  public readonly technology: string;
  /** The app's data volume, when its runtime has one. */
  public readonly dataVolumeName: string | undefined;

  constructor(scope: Construct, id: string, props: MtlsWorkloadProps) {
    super(scope, id);
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(props.name)) throw new Error(`workload name must be lower-case letters, digits and dashes, got "${props.name}"`);
    if (!props.identity.dnsName.endsWith(`.${props.mesh.domain}`)) {
      throw new Error(`identity.dnsName must be under the mesh domain ${props.mesh.domain}, got "${props.identity.dnsName}"`);
    }
    if (props.identity.uri !== undefined && !/^[a-z][a-z0-9+.-]*:\/\/\S+$/.test(props.identity.uri)) {
      throw new Error(`identity.uri must be an absolute URI such as spiffe://mesh.internal/${props.name}, got "${props.identity.uri}"`);
    }
    if (props.publish) validatePort('publish.hostPort', props.publish.hostPort);
    this.identity = props.identity;
    this.name = props.name;
    this.role = props.role;
    this.technology = props.technology;
    const runtime = props.runtime ?? {};

    const identityLabels = {
      [LABEL.workload]: props.name,
      [LABEL.technology]: props.technology,
      [LABEL.dnsName]: props.identity.dnsName,
      ...(props.identity.uri ? { [LABEL.uri]: props.identity.uri } : {}),
    };

    const volume = new Volume(this, 'certs', {
      name: `${props.namePrefix}-${props.name}-certs`,
      labels: labelBlocks({ ...stackLabels(props.namePrefix), [LABEL.workload]: props.name }),
    });
    this.volumeName = volume.name;
    // The renewer can write the certs volume, root.crt included; the pin must
    // live where it cannot, or a compromised renewer could swap the root.
    const trust = new Volume(this, 'trust', {
      name: `${props.namePrefix}-${props.name}-trust`,
      labels: labelBlocks({ ...stackLabels(props.namePrefix), [LABEL.workload]: props.name }),
    });
    this.trustVolumeName = trust.name;
    const data = runtime.dataPath
      ? new Volume(this, 'data', {
          name: `${props.namePrefix}-${props.name}-data`,
          labels: labelBlocks({ ...stackLabels(props.namePrefix), [LABEL.workload]: props.name }),
        })
      : undefined;
    this.dataVolumeName = data?.name;

    const networks = [
      { name: props.mesh.meshNetworkName, aliases: [props.identity.dnsName] },
      ...(props.publish ? [{ name: props.mesh.edgeNetworkName }] : []),
    ];

    const hardening = hardenedContainer({ memoryMb: runtime.memoryMb ?? APP_MEMORY_MB });
    const app = new Container(this, 'app', {
      name: `${props.namePrefix}-${props.name}`,
      image: props.appImage,
      hostname: props.identity.dnsName,
      ...(runtime.command ? { command: [...runtime.command] } : {}),
      ...hardening,
      tmpfs: { ...hardening.tmpfs, ...runtime.tmpfs },
      env: Object.entries({ CERT_DIR, ROOT_PIN_FILE, ...props.appEnv }).map(([k, v]) => `${k}=${v}`),
      volumes: [
        { volumeName: volume.name, containerPath: CERT_DIR, readOnly: true },
        { volumeName: trust.name, containerPath: TRUST_DIR, readOnly: true },
        ...(data && runtime.dataPath ? [{ volumeName: data.name, containerPath: runtime.dataPath }] : []),
      ],
      networksAdvanced: networks,
      ports: props.publish ? [{ internal: props.publish.containerPort, external: props.publish.hostPort, ip: '127.0.0.1', protocol: 'tcp' }] : [],
      // Health is answered from inside the container (the Node services ask
      // their loopback-only admin port, recipes read their own state): the
      // mTLS port never has to accept a caller without a certificate.
      // Docker's schedule: every 30 s, ~3 % of one core for the default mesh (see HEALTH_CHECK).
      ...(runtime.health ? { healthcheck: { test: [...runtime.health], ...HEALTH_CHECK } } : {}),
      stopTimeout: 15,
      // Started, not waited on: deploy probes every container itself (scripts/lib/workloads/readiness.ts).
      wait: false,
      labels: labelBlocks(baseLabels(props.namePrefix, props.role, identityLabels)),
    });
    this.containerName = app.name;

    const renewer = new Container(this, 'renewer', {
      name: `${props.namePrefix}-${props.name}-renewer`,
      image: props.renewerImage,
      entrypoint: ['/usr/local/bin/mtls-renewer'],
      ...hardenedContainer({ memoryMb: 96 }),
      // The step image declares VOLUME /home/step; a tmpfs there keeps Docker
      // from creating an anonymous volume that would outlive the stack.
      tmpfs: { '/tmp': 'rw,noexec,nosuid,nodev,size=16m', '/home/step': 'rw,noexec,nosuid,nodev,size=1m,uid=1000,gid=1000' },
      env: [`CA_URL=${props.caUrl}`, `CERT_DIR=${CERT_DIR}`],
      volumes: [{ volumeName: volume.name, containerPath: CERT_DIR }],
      networksAdvanced: [{ name: props.mesh.meshNetworkName }],
      // Reads the loop's state file, runs nothing else; Docker's schedule as the app's (HEALTH_CHECK).
      healthcheck: { test: ['CMD', '/usr/local/bin/mtls-renewer', 'health'], ...HEALTH_CHECK },
      wait: false,
      labels: labelBlocks(baseLabels(props.namePrefix, 'renewer', identityLabels)),
    });
    this.renewerContainerName = renewer.name;
  }
}
