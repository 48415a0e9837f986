/**
 * What each container of the stack is, whatever runs it: its command, its
 * environment, which of its volumes it mounts where and how, its writable
 * in-memory paths, its memory limit and its health check. The Docker
 * constructs (mtls-workload.ts, step-ca.ts) and the Kubernetes renderer
 * (stack/kubernetes/) each turn these plans into their own objects, so no
 * fact about a container is written twice.
 */
import { CA_PORT, CERT_DIR, ROOT_KEY_DIR, ROOT_PIN_FILE, STEPPATH, TRUST_DIR } from '../common/facts.js';
import { parseDuration } from './duration.js';

/** The scratch space every container gets. */
export const SCRATCH_TMPFS: Readonly<Record<string, string>> = { '/tmp': 'rw,noexec,nosuid,nodev,size=16m' };

/** Memory limit of each app container (the soak benchmark judges RSS against it). */
export const APP_MEMORY_MB = 192;

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

/** The volumes a plan mounts, by role: a workload's certs, trust and data; the CA's state and root key. */
export type PlanVolume = 'certs' | 'trust' | 'data' | 'ca' | 'root-key';

export interface PlanMount {
  readonly volume: PlanVolume;
  readonly path: string;
  readonly readOnly: boolean;
}

export interface ContainerPlan {
  /** Replaces the image's ENTRYPOINT (Docker's `entrypoint`, Kubernetes' `command`). @default the image's */
  readonly entrypoint?: readonly string[];
  /** Replaces the image's CMD (Docker's `command`, Kubernetes' `args`). @default the image's */
  readonly args?: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly mounts: readonly PlanMount[];
  /** Every writable in-memory path: path -> tmpfs options (`size=` bounds it). */
  readonly tmpfs: Readonly<Record<string, string>>;
  readonly memoryMb: number;
  /** The health check in Docker's form (`['CMD', …]`). @default the image's own */
  readonly health?: readonly string[];
}

/**
 * The app: the certs volume read-only (the renewer owns it), its own trust
 * volume read-only (the root pin; only the operator's commands write it),
 * and its data volume if the technology keeps data.
 */
export function appPlan(runtime: AppRuntime, appEnv?: Readonly<Record<string, string>>): ContainerPlan {
  return {
    ...(runtime.command ? { args: runtime.command } : {}),
    env: { CERT_DIR, ROOT_PIN_FILE, ...appEnv },
    mounts: [
      { volume: 'certs', path: CERT_DIR, readOnly: true },
      { volume: 'trust', path: TRUST_DIR, readOnly: true },
      ...(runtime.dataPath ? [{ volume: 'data' as const, path: runtime.dataPath, readOnly: false }] : []),
    ],
    tmpfs: { ...SCRATCH_TMPFS, ...runtime.tmpfs },
    memoryMb: runtime.memoryMb ?? APP_MEMORY_MB,
    ...(runtime.health ? { health: runtime.health } : {}),
  };
}

/** The renewer sidecar: the certs volume read-write, never the trust volume. */
export function renewerPlan(caUrl: string): ContainerPlan {
  return {
    entrypoint: ['/usr/local/bin/mtls-renewer'],
    env: { CA_URL: caUrl, CERT_DIR },
    mounts: [{ volume: 'certs', path: CERT_DIR, readOnly: false }],
    // The step image declares VOLUME /home/step; a tmpfs there keeps Docker
    // from creating an anonymous volume that would outlive the stack.
    tmpfs: { ...SCRATCH_TMPFS, [STEPPATH]: 'rw,noexec,nosuid,nodev,size=1m,uid=1000,gid=1000' },
    memoryMb: 96,
    // Reads the loop's state file, runs nothing else.
    health: ['CMD', '/usr/local/bin/mtls-renewer', 'health'],
  };
}

export interface CaSettings {
  /** @default 'mTLS Reference CA' */
  readonly caName?: string;
  /** Host name of the CA inside the mesh, under the mesh's domain. @default 'ca' */
  readonly hostname?: string;
  /** @default 'admin' */
  readonly provisionerName?: string;
  /** Shortest certificate the provisioner signs. @default '1m' */
  readonly minCertLifetime?: string;
  /** Lifetime when enrollment asks for none. @default '5m' */
  readonly certLifetime?: string;
  /** Longest certificate the provisioner signs. @default '24h' */
  readonly maxCertLifetime?: string;
}

export interface CaPlan {
  readonly dnsName: string;
  /** CA URL as workloads in the mesh reach it. */
  readonly caUrl: string;
  readonly provisionerName: string;
  readonly lifetimes: { readonly min: string; readonly default: string; readonly max: string };
  /** One-shot: `step ca init` on an empty CA volume, then the root key moves to its own volume. */
  readonly init: ContainerPlan;
  /** The serving CA: never the root-key volume. */
  readonly serve: ContainerPlan;
}

const CA_MEMORY_MB = 256;

/** The CA's two containers, from the stack's settings; the lifetimes are checked here. */
/**
 * `acmeDnsNames`: the DNS names of the mesh's ACME workloads (workload-env.ts
 * acmeDnsNames). Non-empty: the CA has an ACME provisioner `acme` that signs
 * exactly these names, with the stack's lifetimes; empty: it has none (removed
 * if it had one). Applied by images/step-ca/entrypoint.sh on every start.
 */
export function caPlan(domain: string, s: CaSettings, acmeDnsNames: readonly string[] = []): CaPlan {
  const provisionerName = s.provisionerName ?? 'admin';
  const lifetimes = { min: s.minCertLifetime ?? '1m', default: s.certLifetime ?? '5m', max: s.maxCertLifetime ?? '24h' };
  validateLifetimes(lifetimes);
  const dnsName = `${s.hostname ?? 'ca'}.${domain}`;
  const state = { volume: 'ca', path: STEPPATH, readOnly: false } as const;
  return {
    dnsName,
    caUrl: `https://${dnsName}:${CA_PORT}`,
    provisionerName,
    lifetimes,
    init: {
      args: ['init'],
      env: {
        DOCKER_STEPCA_INIT_NAME: s.caName ?? 'mTLS Reference CA',
        DOCKER_STEPCA_INIT_DNS_NAMES: [dnsName, 'localhost', '127.0.0.1'].join(','),
        DOCKER_STEPCA_INIT_PROVISIONER_NAME: provisionerName,
        DOCKER_STEPCA_INIT_ADDRESS: `:${CA_PORT}`,
        MTLS_CA_ROOT_KEY_DIR: ROOT_KEY_DIR,
      },
      mounts: [state, { volume: 'root-key', path: ROOT_KEY_DIR, readOnly: false }],
      tmpfs: SCRATCH_TMPFS,
      memoryMb: CA_MEMORY_MB,
    },
    serve: {
      env: {
        MTLS_CA_PROVISIONER_NAME: provisionerName,
        MTLS_CA_MIN_TLS_CERT_DURATION: lifetimes.min,
        MTLS_CA_DEFAULT_TLS_CERT_DURATION: lifetimes.default,
        MTLS_CA_MAX_TLS_CERT_DURATION: lifetimes.max,
        ...(acmeDnsNames.length ? { MTLS_CA_ACME_DNS_NAMES: acmeDnsNames.join(',') } : {}),
      },
      mounts: [state],
      tmpfs: SCRATCH_TMPFS,
      memoryMb: CA_MEMORY_MB,
      // `step ca health` against the CA's own root, bounded to 3 s, as one
      // line (ready / starting / unhealthy).
      health: ['CMD', '/bin/bash', '/entrypoint.sh', 'health', `https://127.0.0.1:${CA_PORT}`],
    },
  };
}

function validateLifetimes(l: { min: string; default: string; max: string }): void {
  const [min, def, max] = [parseDuration(l.min), parseDuration(l.default), parseDuration(l.max)];
  if (!(min <= def && def <= max)) {
    throw new Error(`certificate lifetimes must satisfy min <= default <= max, got min=${l.min} default=${l.default} max=${l.max}`);
  }
}
