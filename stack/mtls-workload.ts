import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { Construct } from 'constructs';

import { CERT_DIR, ROOT_PIN_FILE, TRUST_DIR } from '../common/facts.js';
import { dockerFiles, hardenedContainer } from './hardening.js';
import { baseLabels, LABEL, labelBlocks, stackLabels } from './labels.js';
import type { Mesh } from './networks.js';
import { validatePort } from './step-ca.js';
import { HEALTH_CHECK, type WorkloadRole } from './technologies.js';
import { APP_MEMORY_MB, appPlan, type AppRuntime, type PlanVolume, renewerPlan } from './workload-plan.js';

export interface WorkloadIdentity {
  /** DNS SAN, also the workload's name in the mesh, e.g. `client.mesh.internal`. */
  readonly dnsName: string;
  /** Optional URI SAN, e.g. `spiffe://mesh.internal/client`. */
  readonly uri?: string;
}

export type { AppRuntime };

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

export { APP_MEMORY_MB, CERT_DIR, ROOT_PIN_FILE, TRUST_DIR };

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
    const appContainer = appPlan(runtime, props.appEnv);
    const renewerContainer = renewerPlan(props.caUrl);

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

    const volumeNames: Partial<Record<PlanVolume, string>> = { certs: volume.name, trust: trust.name, data: data?.name };
    const app = new Container(this, 'app', {
      name: `${props.namePrefix}-${props.name}`,
      image: props.appImage,
      hostname: props.identity.dnsName,
      ...(appContainer.args ? { command: [...appContainer.args] } : {}),
      ...hardenedContainer({ memoryMb: appContainer.memoryMb }),
      ...dockerFiles(appContainer, volumeNames),
      networksAdvanced: networks,
      ports: props.publish ? [{ internal: props.publish.containerPort, external: props.publish.hostPort, ip: '127.0.0.1', protocol: 'tcp' }] : [],
      // Health is answered from inside the container (the Node services ask
      // their loopback-only admin port, recipes read their own state): the
      // mTLS port never has to accept a caller without a certificate.
      // Docker's schedule: every 30 s, ~3 % of one core for the default mesh (see HEALTH_CHECK).
      ...(appContainer.health ? { healthcheck: { test: [...appContainer.health], ...HEALTH_CHECK } } : {}),
      stopTimeout: 15,
      // Started, not waited on: deploy probes every container itself (scripts/lib/workloads/readiness.ts).
      wait: false,
      labels: labelBlocks(baseLabels(props.namePrefix, props.role, identityLabels)),
    });
    this.containerName = app.name;

    const renewer = new Container(this, 'renewer', {
      name: `${props.namePrefix}-${props.name}-renewer`,
      image: props.renewerImage,
      entrypoint: [...renewerContainer.entrypoint!],
      ...hardenedContainer({ memoryMb: renewerContainer.memoryMb }),
      ...dockerFiles(renewerContainer, volumeNames),
      networksAdvanced: [{ name: props.mesh.meshNetworkName }],
      // Docker's schedule as the app's (HEALTH_CHECK).
      healthcheck: { test: [...renewerContainer.health!], ...HEALTH_CHECK },
      wait: false,
      labels: labelBlocks(baseLabels(props.namePrefix, 'renewer', identityLabels)),
    });
    this.renewerContainerName = renewer.name;
  }
}
