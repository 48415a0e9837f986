/**
 * A container plan (stack/workload-plan.ts) as a hardened Kubernetes
 * container, and the pod around it: the same hardening as Docker's
 * (hardening.ts), in the pod security fields that say it.
 */
import { parseDuration } from '../duration.js';
import { UNPRIVILEGED_USER } from '../hardening.js';
import { HEALTH_CHECK } from '../technology.js';
import type { ContainerPlan, PlanVolume } from '../workload-plan.js';
import type { Container, ImagePullPolicy, PodSpec, Probe, SecurityContext, Volume } from './objects.js';

const [UID, GID] = UNPRIVILEGED_USER.split(':').map(Number) as [number, number];

export const CONTAINER_SECURITY: SecurityContext = {
  runAsNonRoot: true,
  runAsUser: UID,
  runAsGroup: GID,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** A tmpfs's `size=` as a quantity (`16m` -> `16Mi`): every in-memory volume is bounded, as every tmpfs is on Docker. */
export function tmpfsSize(options: string): string {
  const m = /(?:^|,)size=(\d+)([kmg]?)(?:,|$)/.exec(options);
  if (!m) throw new Error(`tmpfs options ${JSON.stringify(options)} have no size=: every in-memory volume must be bounded`);
  return m[2] ? `${m[1]}${m[2].toUpperCase()}i` : m[1]!;
}

/** How often the startup probe runs until its first success (then the readiness probe takes over). */
export const STARTUP_PROBE_PERIOD_SECONDS = 1;

/**
 * Docker's health check as an exec readiness probe, on Docker's schedule
 * (HEALTH_CHECK). Each probe is a process the runtime starts in the
 * container (runc exec through containerd), as each of Docker's health execs is.
 */
export function execProbe(health: readonly string[] | undefined): Probe | undefined {
  if (!health) return undefined;
  const [kind, ...rest] = health;
  let command: readonly string[];
  if (kind === 'CMD') command = rest;
  else if (kind === 'CMD-SHELL') command = ['/bin/sh', '-c', rest.join(' ')];
  else if (kind === 'NONE') return undefined;
  else throw new Error(`a health check must start with CMD, CMD-SHELL or NONE (Docker's form), got ${JSON.stringify(health)}`);
  return {
    exec: { command },
    periodSeconds: parseDuration(HEALTH_CHECK.interval),
    timeoutSeconds: parseDuration(HEALTH_CHECK.timeout),
    failureThreshold: HEALTH_CHECK.retries,
  };
}

/**
 * The same check as a startup probe, every second for up to Docker's start
 * period. The kubelet runs a readiness probe at once when a container starts
 * or its status changes, then on its period: alone, a readiness probe that
 * fails once at start would leave the pod un-Ready for up to the 60 s period
 * (the CA measured 7-51 s to Ready). Once the startup probe succeeds, the
 * status change runs the readiness probe at once; one exec a second, only
 * while the container starts. Only for a container that is healthy on its
 * own (the CA): a startup probe that keeps failing restarts the container,
 * and apps and renewers are unhealthy until enrollment, however long that takes.
 */
export function startupProbe(readiness: Probe): Probe {
  return {
    ...readiness,
    periodSeconds: STARTUP_PROBE_PERIOD_SECONDS,
    failureThreshold: Math.ceil(parseDuration(HEALTH_CHECK.startPeriod) / STARTUP_PROBE_PERIOD_SECONDS),
  };
}

export interface ContainerOptions {
  readonly name: string;
  readonly image: string;
  readonly pullPolicy: ImagePullPolicy;
  /** The pod volume behind each of the plan's volumes. */
  readonly volumes: Partial<Record<PlanVolume, string>>;
  readonly ports?: Container['ports'];
  readonly sidecar?: boolean;
  /** Healthy without any step of an operator's (the CA): it gets a startup probe. */
  readonly healthyOnItsOwn?: boolean;
}

/** The container, and the in-memory volumes its tmpfs paths become (named after it, so two containers never share one). */
export function containerOf(plan: ContainerPlan, o: ContainerOptions): { container: Container; memoryVolumes: Volume[] } {
  const memory = Object.entries(plan.tmpfs).map(([path, options]) => ({
    path,
    volume: {
      name: `${o.name}-${path.replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}`.slice(0, 63),
      emptyDir: { medium: 'Memory', sizeLimit: tmpfsSize(options) },
    } as const,
  }));
  const probe = execProbe(plan.health);
  const container: Container = {
    name: o.name,
    image: o.image,
    imagePullPolicy: o.pullPolicy,
    ...(plan.entrypoint ? { command: plan.entrypoint } : {}),
    ...(plan.args ? { args: plan.args } : {}),
    env: Object.entries(plan.env).map(([name, value]) => ({ name, value })),
    volumeMounts: [
      ...plan.mounts.map((m) => {
        const name = o.volumes[m.volume];
        if (!name) throw new Error(`container ${o.name} mounts the ${m.volume} volume, which its pod does not have`);
        return { name, mountPath: m.path, ...(m.readOnly ? { readOnly: true } : {}) };
      }),
      ...memory.map((m) => ({ name: m.volume.name, mountPath: m.path })),
    ],
    resources: { requests: { memory: `${plan.memoryMb}Mi` }, limits: { memory: `${plan.memoryMb}Mi` } },
    securityContext: CONTAINER_SECURITY,
    ...(probe && o.healthyOnItsOwn ? { startupProbe: startupProbe(probe) } : {}),
    ...(probe ? { readinessProbe: probe } : {}),
    ...(o.ports ? { ports: o.ports } : {}),
    ...(o.sidecar ? { restartPolicy: 'Always' as const } : {}),
  };
  return { container, memoryVolumes: memory.map((m) => m.volume) };
}

/**
 * A pod: non-root, no service-account token, no service links, RuntimeDefault
 * seccomp; volumes must have unique names. No fsGroup: the kubelet would make
 * every file of a claim group-writable (the CA's keys are 0600, PostgreSQL
 * refuses a group-writable data directory); a claim's directory is uid
 * 1000's, as Docker's volumes take their owner from the image.
 */
export function podSpec(p: Omit<PodSpec, 'automountServiceAccountToken' | 'enableServiceLinks' | 'securityContext'>): PodSpec {
  const names = p.volumes.map((v) => v.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new Error(`two volumes of one pod are named ${twice}`);
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: UID,
      runAsGroup: GID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...p,
  };
}
