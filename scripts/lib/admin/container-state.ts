/**
 * A container's state as the readiness waits read it, on either target:
 * what `docker inspect` says (docker/commands.ts), or what a pod's status
 * says (admin/kubernetes.ts) put in the same words. Types only.
 */
export interface ContainerState {
  /** created, running, restarting, exited, dead, …; on Kubernetes also `waiting (<reason>)`. */
  readonly status: string;
  readonly exitCode: number;
  readonly restartCount: number;
  /** starting, healthy, unhealthy; undefined without a health check. */
  readonly health?: string;
  /** The health check's test (`["CMD", …]`, `["CMD-SHELL", "…"]`); the image's own when the container sets none. */
  readonly healthTest?: readonly string[];
  readonly healthTimeoutMs: number;
}
