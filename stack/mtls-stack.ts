import { DockerProvider } from '@cdktf/provider-docker/lib/provider/index.js';
import { Aspects, LocalBackend, TerraformOutput, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';

import { stackLabels } from './labels.js';
import { type MeshSpec, type ResolvedMesh, resolveMesh } from './mesh-spec.js';
import { MtlsWorkload } from './mtls-workload.js';
import { IAC_ENGINE_OUTPUT, IAC_ENGINES, type IacEngine, stateFileOf, validatePrefix } from './names.js';
import { Mesh } from './networks.js';
import { operatorOutputs, workloadOutputs } from './outputs.js';
import { OwnerLabel } from './owner.js';
import { StackImages } from './stack-images.js';
import { StepCa, validatePort } from './step-ca.js';
import { STEP_CA_IMAGE } from './technology.js';
import { type BaseImages, DOCKER_PROVIDER } from './versions.js';
import { acmeDnsNames, appEnvironment, appRuntime } from './workload-env.js';

export interface MtlsStackProps {
  /** Prefix of every resource name; lets two stacks run side by side. */
  readonly namePrefix: string;
  /** The workloads and who may call whom (the top-level mesh.ts holds the default). */
  readonly mesh: MeshSpec;
  /** The base image of every Dockerfile the stack builds (official or locally built). */
  readonly baseImages: BaseImages;
  /** Repository root; build contexts are resolved under it. */
  readonly projectDir: string;
  /** Where Terraform keeps this stack's state. @default `.state/<prefix>/terraform.tfstate` */
  readonly statePath?: string;
  /** @default '1m' */
  readonly minCertLifetime?: string;
  /** @default '5m' */
  readonly certLifetime?: string;
  /** @default '24h' */
  readonly maxCertLifetime?: string;
  /** @default 9000 */
  readonly caPort?: number;
  /** Host ports by workload name, over the mesh's own (test stacks use free ports). @default the mesh's */
  readonly hostPorts?: Readonly<Record<string, number>>;
  /** Requests per second each Node reference client sends. @default the mesh's pace (one a second) */
  readonly clientRate?: number;
  /**
   * The engine that applies this stack; recorded in the state as the output
   * `iac_engine`, so a later run with the other engine can be refused.
   * @default none recorded
   */
  readonly iac?: IacEngine;
  /** Owner label on every container, network and volume (throw-away stacks of a test run). @default none */
  readonly owner?: string;
}

/** The whole environment: a CA and the mesh's mTLS workloads, each with its renewer. */
export class MtlsStack extends TerraformStack {
  public readonly ca: StepCa;
  public readonly mesh: ResolvedMesh;
  /** The workloads by name, in the mesh's order. */
  public readonly workloads: ReadonlyMap<string, MtlsWorkload>;

  constructor(scope: Construct, id: string, props: MtlsStackProps) {
    super(scope, id);
    const prefix = validatePrefix(props.namePrefix);
    if (props.iac !== undefined && !IAC_ENGINES.includes(props.iac)) {
      throw new Error(`iac must be ${IAC_ENGINES.join(' or ')}, got ${JSON.stringify(props.iac)}`);
    }
    if (props.clientRate !== undefined && (!Number.isInteger(props.clientRate) || props.clientRate < 1 || props.clientRate > 1000)) {
      throw new Error(`clientRate must be an integer between 1 and 1000, got ${props.clientRate}`);
    }
    if (props.owner !== undefined) Aspects.of(this).add(new OwnerLabel(props.owner));
    new LocalBackend(this, { path: props.statePath ?? stateFileOf(props.projectDir, prefix) });
    new DockerProvider(this, 'docker', {});
    // The prebuilt bindings target an older provider release; ask for the 4.x
    // line, which the published releases and the offline build both satisfy.
    this.addOverride('terraform.required_providers.docker', { source: DOCKER_PROVIDER.source, version: DOCKER_PROVIDER.constraint });

    const caPort = props.caPort ?? 9000;
    validatePort('caPort', caPort);
    this.mesh = resolveMesh(props.mesh, { hostPorts: props.hostPorts, reservedHostPorts: { 'the CA (caPort)': caPort } });

    const labels = stackLabels(prefix);
    const images = new StackImages(this, { namePrefix: prefix, projectDir: props.projectDir, baseImages: props.baseImages, labels });
    const caImage = images.project(STEP_CA_IMAGE);

    const mesh = new Mesh(this, 'mesh', { namePrefix: prefix, domain: this.mesh.domain });
    this.ca = new StepCa(this, 'ca', {
      namePrefix: prefix,
      mesh,
      image: caImage,
      minCertLifetime: props.minCertLifetime,
      certLifetime: props.certLifetime,
      maxCertLifetime: props.maxCertLifetime,
      hostPort: caPort,
      acmeDnsNames: acmeDnsNames(this.mesh.workloads),
    });

    const workloads = new Map<string, MtlsWorkload>();
    for (const w of this.mesh.workloads) {
      const runtime = appRuntime(w);
      workloads.set(
        w.name,
        new MtlsWorkload(this, w.name, {
          namePrefix: prefix,
          name: w.name,
          role: w.role,
          technology: w.technologyName,
          identity: w.identity,
          mesh,
          appImage: w.technology ? images.project(w.technology.image) : images.external(w.custom!.image),
          runtime,
          renewerImage: caImage,
          caUrl: this.ca.caUrl,
          publish: w.port !== undefined && w.hostPort !== undefined ? { containerPort: w.port, hostPort: w.hostPort } : undefined,
          appEnv: appEnvironment(w, { clientRate: props.clientRate, caUrl: this.ca.caUrl }),
        }),
      );
    }
    this.workloads = workloads;

    new TerraformOutput(this, 'prefix', { value: prefix });
    if (props.iac) new TerraformOutput(this, IAC_ENGINE_OUTPUT, { value: props.iac });
    new TerraformOutput(this, 'ca_url', { value: this.ca.caUrl });
    new TerraformOutput(this, 'ca_host_url', { value: this.ca.hostCaUrl });
    new TerraformOutput(this, 'ca_container', { value: this.ca.containerName });
    new TerraformOutput(this, 'provisioner', { value: this.ca.provisionerName });
    new TerraformOutput(this, 'cert_lifetimes', { value: this.ca.lifetimes });
    new TerraformOutput(this, 'domain', { value: this.mesh.domain });
    new TerraformOutput(this, 'operators', { value: operatorOutputs(this.mesh) });
    new TerraformOutput(this, 'workloads', {
      value: workloadOutputs(this.mesh, (w) => {
        const c = workloads.get(w.name)!;
        return { container: c.containerName, renewer: c.renewerContainerName, volume: c.volumeName, trustVolume: c.trustVolumeName };
      }),
    });
  }

  /** The workload named `name`; an error names the ones there are. */
  workload(name: string): MtlsWorkload {
    const w = this.workloads.get(name);
    if (!w) throw new Error(`no workload "${name}" in the stack; it has ${[...this.workloads.keys()].join(', ')}`);
    return w;
  }
}
