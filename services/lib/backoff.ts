// Exponential backoff with a cap and "equal jitter" (half fixed, half random),
// so a fleet of clients that failed together does not retry in lock-step.

export interface BackoffOptions {
  /** Delay after the first failure. @default 250 */
  readonly initialMs?: number;
  /** Upper bound. @default 5_000 */
  readonly maxMs?: number;
  /** Source of randomness in [0, 1). @default Math.random */
  readonly random?: () => number;
}

/** Delay before the next attempt after `failures` consecutive failures (≥ 1). */
export function backoffDelay(failures: number, options: BackoffOptions = {}): number {
  const { initialMs = 250, maxMs = 5_000, random = Math.random } = options;
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
