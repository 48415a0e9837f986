/**
 * Ownership of throw-away stacks (the e2e suite's). Each stack of a run
 * carries the label `io.mtls-reference.owner=<host>/<pid>/<run>`, naming the
 * process that made it; a later run removes a leftover only when that
 * process is gone, so two suites on one engine never remove each other's
 * stacks, and nothing unlabelled (a person's stack) is ever touched.
 */
export interface Owner {
  readonly host: string;
  readonly pid: number;
  readonly run: string;
}

/** Host names are letters, digits, dots and dashes; anything else becomes a dash. */
const safe = (s: string) => s.replace(/[^A-Za-z0-9.-]/g, '-').slice(0, 120) || 'unknown';

export function ownerValue(o: Owner): string {
  return `${safe(o.host)}/${o.pid}/${safe(o.run)}`;
}

export function parseOwner(value: string): Owner | undefined {
  const m = /^([A-Za-z0-9.-]+)\/([1-9][0-9]{0,9})\/([A-Za-z0-9.-]+)$/.exec(value);
  return m ? { host: m[1]!, pid: Number(m[2]), run: m[3]! } : undefined;
}

/** Whether a local process exists (EPERM: it exists but belongs to someone else). */
export function processRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One Docker object of the project, with the labels that decide its fate. */
export interface LabelledObject {
  readonly kind: 'container' | 'network' | 'volume' | 'image';
  readonly name: string;
  readonly prefix: string;
  readonly owner?: string;
}

export interface LeftoverDecision {
  readonly prefix: string;
  readonly remove: boolean;
  readonly why: string;
}

/**
 * Decides, per stack prefix starting with `stem`, whether it is a leftover of
 * a finished run (remove) or may still be in use (keep). Conservative: a
 * stack is removed only when every owner label on it names a process on this
 * host that no longer runs.
 */
export function selectLeftovers(
  objects: readonly LabelledObject[],
  opts: { stem: string; host: string; isRunning: (pid: number) => boolean },
): LeftoverDecision[] {
  const byPrefix = new Map<string, Set<string>>();
  for (const o of objects) {
    if (!o.prefix.startsWith(opts.stem)) continue;
    const owners = byPrefix.get(o.prefix) ?? new Set<string>();
    if (o.owner) owners.add(o.owner);
    byPrefix.set(o.prefix, owners);
  }
  const host = safe(opts.host);
  return [...byPrefix]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([prefix, owners]): LeftoverDecision => {
      if (owners.size === 0) return { prefix, remove: false, why: 'no owner label: not made by a test run' };
      for (const value of owners) {
        const owner = parseOwner(value);
        if (!owner) return { prefix, remove: false, why: `unreadable owner label ${JSON.stringify(value)}` };
        if (owner.host !== host) return { prefix, remove: false, why: `owned by a run on host ${owner.host}` };
        if (opts.isRunning(owner.pid)) return { prefix, remove: false, why: `owner process ${owner.pid} is still running` };
      }
      return { prefix, remove: true, why: `owner ${[...owners].join(', ')} is gone` };
    });
}
