import path from 'node:path';
import { DockerProvider } from '@cdktf/provider-docker/lib/provider/index.js';
import { Aspects, LocalBackend, TerraformOutput, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';
import { stackLabels } from './labels.js';
import { Mesh } from './mesh.js';
import { MtlsWorkload } from './mtls-workload.js';
import { IAC_ENGINE_OUTPUT, IAC_ENGINES, validatePrefix, type IacEngine } from './names.js';
import { OwnerLabel } from './owner.js';
import { ServiceImage } from './service-image.js';
import { StepCa, validatePort } from './step-ca.js';
import { DOCKER_PROVIDER } from './versions.js';

export interface MtlsStackProps {
  /** Prefix of every resource name; lets two stacks run side by side. */
  readonly namePrefix: string;
  /** Base image of the CA and renewer images (official or locally built). */
  readonly stepCaBaseImage: string;
  /** Base image of the Node workload image (official or locally built). */
  readonly nodeBaseImage: string;
  /** Repository root; build contexts are resolved under services/. */
  readonly projectDir: string;
  /** Where Terraform keeps this stack's state. @default `.state/<prefix>/terraform.tfstate` */
  readonly statePath?: string;
  /** @default '1m' */
  readonly minCertLifetime?: string;
  /** @default '5m' */
  readonly defaultCertLifetime?: string;
  /** @default '24h' */
  readonly maxCertLifetime?: string;
  /** @default 9000 */
  readonly caHostPort?: number;
  /** @default 8443 */
  readonly serviceHostPort?: number;
  /** Requests per second the client sends. @default 5 */
  readonly clientRequestRate?: number;
  /** Identities (DNS or URI SANs) the server accepts, besides the client's. @default [] */
  readonly extraAllowedIdentities?: readonly string[];
  /**
   * The engine that applies this stack; recorded in the state as the output
   * `iac_engine`, so a later run with the other engine can be refused.
   * @default none recorded
   */
  readonly iacEngine?: IacEngine;
  /** Owner label on every container, network and volume (throw-away stacks of a test run). @default none */
  readonly owner?: string;
}

const SERVICE_PORT = 8443;

/** The whole environment: a CA, an mTLS server and an mTLS client. */
export class MtlsStack extends TerraformStack {
  public readonly ca: StepCa;
  public readonly server: MtlsWorkload;
  public readonly client: MtlsWorkload;

  constructor(scope: Construct, id: string, props: MtlsStackProps) {
    super(scope, id);
    const prefix = validatePrefix(props.namePrefix);
    if (props.iacEngine !== undefined && !IAC_ENGINES.includes(props.iacEngine)) {
      throw new Error(`iacEngine must be ${IAC_ENGINES.join(' or ')}, got ${JSON.stringify(props.iacEngine)}`);
    }
    if (props.owner !== undefined) Aspects.of(this).add(new OwnerLabel(props.owner));
    new LocalBackend(this, { path: props.statePath ?? path.join(props.projectDir, '.state', prefix, 'terraform.tfstate') });
    new DockerProvider(this, 'docker', {});
    // The prebuilt bindings target an older provider release; ask for the 4.x
    // line, which the published releases and the offline build both satisfy.
    this.addOverride('terraform.required_providers.docker', { source: DOCKER_PROVIDER.source, version: DOCKER_PROVIDER.constraint });

    const labels = stackLabels(prefix);
    const services = path.join(props.projectDir, 'services');
    const caImage = new ServiceImage(this, 'ca-image', {
      name: `${prefix}-step-ca:local`,
      contextDir: path.join(services, 'step-ca'),
      buildArgs: { STEP_CA_IMAGE: props.stepCaBaseImage },
      labels,
    });
    const workloadImage = new ServiceImage(this, 'workload-image', {
      name: `${prefix}-workload:local`,
      contextDir: path.join(services, 'workload'),
      buildArgs: { NODE_IMAGE: props.nodeBaseImage },
      labels,
    });

    validatePort('caHostPort', props.caHostPort ?? 9000);
    const mesh = new Mesh(this, 'mesh', { namePrefix: prefix });
    this.ca = new StepCa(this, 'ca', {
      namePrefix: prefix,
      mesh,
      image: caImage.imageId,
      minCertLifetime: props.minCertLifetime,
      defaultCertLifetime: props.defaultCertLifetime,
      maxCertLifetime: props.maxCertLifetime,
      hostPort: props.caHostPort,
    });

    const clientIdentity = { dnsName: `client.${mesh.domain}`, uri: `spiffe://${mesh.domain}/client` };
    const serverIdentity = { dnsName: `server.${mesh.domain}`, uri: `spiffe://${mesh.domain}/server` };
    const serviceHostPort = props.serviceHostPort ?? 8443;
    validatePort('serviceHostPort', serviceHostPort);
    if (serviceHostPort === this.ca.hostPort) {
      throw new Error(`serviceHostPort must differ from caHostPort, got ${serviceHostPort} for both`);
    }
    for (const id of props.extraAllowedIdentities ?? []) {
      if (!id || /[\s,]/.test(id)) throw new Error(`extraAllowedIdentities entries must be non-empty with no commas or spaces, got "${id}"`);
    }

    this.server = new MtlsWorkload(this, 'server', {
      namePrefix: prefix,
      name: 'server',
      role: 'server',
      identity: serverIdentity,
      mesh,
      appImage: workloadImage.imageId,
      renewerImage: caImage.imageId,
      caUrl: this.ca.caUrl,
      publish: { containerPort: SERVICE_PORT, hostPort: serviceHostPort },
      appEnv: {
        LISTEN_PORT: String(SERVICE_PORT),
        ALLOWED_IDENTITIES: [clientIdentity.uri, ...(props.extraAllowedIdentities ?? [])].join(','),
      },
    });
    this.client = new MtlsWorkload(this, 'client', {
      namePrefix: prefix,
      name: 'client',
      role: 'client',
      identity: clientIdentity,
      mesh,
      appImage: workloadImage.imageId,
      renewerImage: caImage.imageId,
      caUrl: this.ca.caUrl,
      appEnv: {
        TARGET_URL: `https://${serverIdentity.dnsName}:${SERVICE_PORT}/`,
        EXPECTED_SERVER_IDENTITY: serverIdentity.uri,
        REQUEST_RATE: String(props.clientRequestRate ?? 5),
      },
    });

    new TerraformOutput(this, 'prefix', { value: prefix });
    if (props.iacEngine) new TerraformOutput(this, IAC_ENGINE_OUTPUT, { value: props.iacEngine });
    new TerraformOutput(this, 'ca_url', { value: this.ca.caUrl });
    new TerraformOutput(this, 'ca_host_url', { value: this.ca.hostCaUrl });
    new TerraformOutput(this, 'ca_container', { value: this.ca.containerName });
    new TerraformOutput(this, 'provisioner', { value: this.ca.provisionerName });
    new TerraformOutput(this, 'cert_lifetimes', { value: this.ca.lifetimes });
    new TerraformOutput(this, 'service_host_url', { value: `https://127.0.0.1:${serviceHostPort}/` });
    new TerraformOutput(this, 'workloads', {
      value: [this.server, this.client].map((w) => ({
        name: w.name,
        container: w.containerName,
        renewer: w.renewerContainerName,
        volume: w.volumeName,
        trust_volume: w.trustVolumeName,
        dns_name: w.identity.dnsName,
        uri: w.identity.uri ?? '',
      })),
    });
  }
}
