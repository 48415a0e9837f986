/**
 * The mesh on Kubernetes as a CDKTF stack: every object renderMesh makes,
 * one `kubectl_manifest` each (provider.ts), applied one after another in
 * renderMesh's order (each depends on the one before; destroy runs the chain
 * backwards, so the namespace goes last and is waited for). Two steps are
 * local commands (`terraform_data`, Terraform's own): the init Job must
 * complete before the CA starts on its state (the provider waits for
 * Deployments, not Jobs), and the directories of static host-path volumes
 * (volumes.ts) are made before, and removed after, their volumes.
 *
 * No Secret and no credential reaches the configuration or the state: the
 * renderer makes none, the provider reads a kubeconfig by path, and the CA
 * keeps its keys and passwords on its own volumes.
 */
import { DataResource, LocalBackend, TerraformOutput, type TerraformResource, TerraformStack } from 'cdktf';
import type { Construct } from 'constructs';

import { formatKubernetesHandle } from '../../common/admin-handle.js';
import { CA_PORT } from '../../common/facts.js';
import { UNPRIVILEGED_USER } from '../hardening.js';
import type { ResolvedWorkload } from '../mesh-spec.js';
import { IAC_ENGINE_OUTPUT, type IacEngine, validatePrefix } from '../names.js';
import { operatorOutputs, workloadOutputs } from '../outputs.js';
import { acmeDnsNames } from '../workload-env.js';
import { caPlan } from '../workload-plan.js';
import { CA_NAMES } from './ca.js';
import type { KubeObject } from './objects.js';
import { KubectlManifest, KubectlProvider, rawYaml } from './provider.js';
import { type KubernetesRenderProps, renderMesh } from './render.js';
import { HOST_PATH_STORAGE_CLASS, hostPathClaims, hostPathOf, withHostPathVolumes } from './volumes.js';
import { WORKLOAD_NAMES } from './workload.js';

/** How long the init Job may take (step ca init, then the root key moved to its own volume). */
export const INIT_JOB_TIMEOUT = '180s';

export interface KubernetesStackProps extends KubernetesRenderProps {
  /** The kubeconfig the provider and the local commands use (a path: no credential in the configuration). */
  readonly kubeconfig: string;
  /** @default the kubeconfig's current context */
  readonly context?: string;
  /** The kubectl the local commands run (the init Job's gate). @default `kubectl` on PATH */
  readonly kubectl?: string;
  /** Where Terraform keeps this stack's state. */
  readonly statePath: string;
  /** The host directory of the static volumes, when storageClassName is HOST_PATH_STORAGE_CLASS (a cluster on this host). */
  readonly hostPathDir?: string;
  /** Wait for each workload's Deployment to roll out (its pods Ready: only after enrolment). @default false */
  readonly waitForWorkloads?: boolean;
  /** The engine that applies it, recorded as the output `iac_engine` (as the Docker stack does), so the other engine can be refused. */
  readonly iac?: IacEngine;
}

/** Removes a volume's directory, then its namespace's directory once empty. */
const REMOVE_DIR = 'rm -rf -- "$DIR" && { rmdir -- "$(dirname -- "$DIR")" 2>/dev/null || true; }';

/** A resource id from an object: unique, as renderMesh refuses two objects of one kind and name. */
const idOf = (o: KubeObject) => `${o.kind}-${o.metadata.name}`.toLowerCase();

export class KubernetesStack extends TerraformStack {
  /** The objects applied, in order. */
  public readonly objects: readonly KubeObject[];
  public readonly namespace: string;

  constructor(scope: Construct, id: string, props: KubernetesStackProps) {
    super(scope, id);
    this.namespace = validatePrefix(props.namePrefix);
    new LocalBackend(this, { path: props.statePath });
    new KubectlProvider(this, 'kubectl', { configPath: props.kubeconfig, configContext: props.context, loadConfigFile: true });

    const rendered = renderMesh(props);
    const hostPath = props.storageClassName === HOST_PATH_STORAGE_CLASS;
    if (hostPath && !props.hostPathDir) throw new Error(`storageClassName ${HOST_PATH_STORAGE_CLASS} needs hostPathDir: the volumes' directory on the node`);
    this.objects = hostPath ? withHostPathVolumes(rendered, props.hostPathDir!) : rendered;

    let previous: TerraformResource[] = hostPath ? hostPathClaims(rendered).map((c) => this.hostDirectory(hostPathOf(props.hostPathDir!, c), idOf(c))) : [];
    for (const o of this.objects) {
      const manifest = new KubectlManifest(this, idOf(o), {
        yamlBody: rawYaml(JSON.stringify(o)),
        serverSideApply: true,
        // A Job's pod template and most of a volume's spec are immutable: a change replaces them.
        forceNew: o.kind === 'Job' || o.kind === 'PersistentVolume',
        // Deleting the namespace deletes all in it: wait until it has, so destroy ends with nothing left.
        wait: o.kind === 'Namespace',
        // Only Deployments roll out: the CA's must be Ready before the workloads come.
        waitForRollout: o.kind === 'Deployment' && (o.metadata.name === CA_NAMES.deployment || (props.waitForWorkloads ?? false)),
        dependsOn: previous,
      });
      previous = [manifest];
      if (o.kind === 'Job' && o.metadata.name === CA_NAMES.initJob) previous = [this.jobGate(manifest, props)];
    }

    this.outputs(props);
  }

  /**
   * What the scripts read, in the Docker stack's shape (outputs.ts): the
   * containers as admin-channel handles (`kubectl exec`), no certs volume (in
   * memory), the root pin's ConfigMap. The host has no fixed address of the
   * CA (`ca_host_url` empty): a script that calls its API forwards a
   * loopback port to `ca_service` for the call. `cluster` says how to reach
   * the cluster: paths and a context name, no credential.
   */
  private outputs(props: KubernetesStackProps): void {
    const ns = this.namespace;
    const plan = caPlan(props.mesh.domain, props.ca ?? {}, acmeDnsNames(props.mesh.workloads));
    const inWorkload = (w: ResolvedWorkload, container: string) => formatKubernetesHandle(ns, { kind: 'deployment', name: w.name }, container);
    new TerraformOutput(this, 'prefix', { value: ns });
    new TerraformOutput(this, 'namespace', { value: ns });
    new TerraformOutput(this, 'cluster', { value: { kubectl: props.kubectl ?? 'kubectl', kubeconfig: props.kubeconfig, context: props.context ?? '' } });
    new TerraformOutput(this, 'ca_url', { value: plan.caUrl });
    new TerraformOutput(this, 'ca_host_url', { value: '' });
    new TerraformOutput(this, 'ca_service', { value: { namespace: ns, name: CA_NAMES.service, port: CA_PORT } });
    new TerraformOutput(this, 'ca_container', { value: formatKubernetesHandle(ns, { kind: 'deployment', name: CA_NAMES.deployment }, CA_NAMES.container) });
    new TerraformOutput(this, 'provisioner', { value: plan.provisionerName });
    new TerraformOutput(this, 'cert_lifetimes', { value: plan.lifetimes });
    new TerraformOutput(this, 'domain', { value: props.mesh.domain });
    if (props.iac) new TerraformOutput(this, IAC_ENGINE_OUTPUT, { value: props.iac });
    new TerraformOutput(this, 'operators', { value: operatorOutputs(props.mesh) });
    new TerraformOutput(this, 'workloads', {
      value: workloadOutputs(props.mesh, (w) => ({
        container: inWorkload(w, WORKLOAD_NAMES.app),
        renewer: inWorkload(w, WORKLOAD_NAMES.renewer),
        volume: '',
        trustVolume: WORKLOAD_NAMES.trust(w.name),
      })),
    });
  }

  /** Blocks the chain until the init Job has completed; prints its log if it does not. */
  private jobGate(job: KubectlManifest, props: KubernetesStackProps): DataResource {
    return new DataResource(this, 'ca-init-complete', {
      // A new Job (another uid) is waited for again.
      triggersReplace: { job: job.uid },
      dependsOn: [job],
      provisioners: [
        {
          type: 'local-exec',
          command: [
            `k() { "$KUBECTL" ${props.context ? '--context "$CONTEXT" ' : ''}--namespace "$NAMESPACE" "$@"; }`,
            `k wait --for=condition=complete --timeout=${INIT_JOB_TIMEOUT} "job/$JOB" || { k logs "job/$JOB" --all-containers; exit 1; }`,
          ].join('\n'),
          environment: {
            KUBECTL: props.kubectl ?? 'kubectl',
            KUBECONFIG: props.kubeconfig,
            NAMESPACE: this.namespace,
            JOB: CA_NAMES.initJob,
            ...(props.context ? { CONTEXT: props.context } : {}),
          },
        },
      ],
    });
  }

  /** A static volume's directory: the pods' user's, 0700; removed with the stack. */
  private hostDirectory(dir: string, claimId: string): DataResource {
    const [uid, gid] = UNPRIVILEGED_USER.split(':');
    return new DataResource(this, `dir-${claimId}`, {
      input: { dir },
      provisioners: [
        { type: 'local-exec', command: `umask 077 && mkdir -p "$DIR" && chown ${uid}:${gid} "$DIR" && chmod 0700 "$DIR"`, environment: { DIR: dir } },
        // The namespace's directory goes with its last volume (the other volume's removal may race: either may remove it).
        { type: 'local-exec', when: 'destroy', command: REMOVE_DIR, environment: { DIR: '${self.input.dir}' } },
      ],
    });
  }
}
