// What a deployed stack reports about itself (its Terraform outputs, written
// by stack/mtls-stack.ts) and the workload handle the scripts build from them.
// Types only: the modules that read outputs, probe readiness and read app
// reports all depend on these, and on nothing else of each other.
import type { Protocol } from '../../../stack/technologies.js';

export interface WorkloadOutput {
  readonly name: string;
  /** The technology's name in stack/technologies.ts, or `image`. */
  readonly technology: string;
  /** For people: `nginx`, `Go`, … */
  readonly label: string;
  readonly role: 'server' | 'client' | 'both';
  readonly protocol: Protocol;
  /** The certificate field its allow-list is checked against. */
  readonly identity_form: 'uri' | 'dns';
  /** How it reports itself: the Node admin port, the recipes' stats file, or not at all. */
  readonly stats: 'node-admin' | 'stats-file' | 'none';
  readonly container: string;
  readonly renewer: string;
  readonly volume: string;
  /** Holds the app's root pin (read-only in the app, not mounted in the renewer). */
  readonly trust_volume: string;
  readonly dns_name: string;
  readonly uri: string;
  /** The mTLS port in the mesh (0: not a server). */
  readonly port: number;
  /** Published on 127.0.0.1 (0: not published). */
  readonly host_port: number;
  /** Names of the workloads and operators it accepts. */
  readonly allow: string[];
  /** The workload it calls ('' when none). */
  readonly calls: string;
}

export interface OperatorOutput {
  readonly name: string;
  readonly dns_name: string;
  readonly uri: string;
}

/** How the scripts reach a Kubernetes stack's cluster: paths and a context name (empty: the kubeconfig's current one). */
export interface ClusterOutput {
  readonly kubectl: string;
  readonly kubeconfig: string;
  readonly context: string;
}

/** The CA's Service on Kubernetes: what a script forwards a loopback port to for a call to the CA's API. */
export interface CaServiceOutput {
  readonly namespace: string;
  readonly name: string;
  readonly port: number;
}

export interface StackOutputs {
  readonly prefix: string;
  readonly ca_url: string;
  /** Where the host calls the CA's API; empty on Kubernetes (see ca_service). */
  readonly ca_host_url: string;
  /** Kubernetes only. */
  readonly cluster?: ClusterOutput;
  /** Kubernetes only. */
  readonly ca_service?: CaServiceOutput;
  readonly ca_container: string;
  readonly provisioner: string;
  readonly cert_lifetimes: { readonly min: string; readonly default: string; readonly max: string };
  /** The mesh's DNS domain and SPIFFE trust domain (absent in stacks deployed before it was an output). */
  readonly domain?: string;
  readonly operators: OperatorOutput[];
  readonly workloads: WorkloadOutput[];
}

export interface Workload extends WorkloadOutput {
  /** SANs requested at enrollment: the DNS name, and the URI when there is one. */
  readonly sans: string[];
}
