/**
 * At most N async tasks at once. The scripts' probes are `docker exec`s (or
 * `kubectl exec`s): dozens started together on a 2-core machine make each one
 * slow enough to miss its own health-check timeout, so every fan-out over the
 * stack's containers goes through one of these.
 */
export class Semaphore {
  private free: number;
  private readonly queue: Array<() => void> = [];

  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`a semaphore needs at least one slot, got ${n}`);
    this.free = n;
  }

  async with<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free -= 1;
    else await new Promise<void>((r) => this.queue.push(r));
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.free += 1;
    }
  }
}

/** Maps `items` through `fn` with at most `limit` calls in flight; results in the items' order. */
export function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const slots = new Semaphore(limit);
  return Promise.all(items.map((item) => slots.with(() => fn(item))));
}
