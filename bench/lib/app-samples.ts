// What B7 and B9 read from each Node app while they run: its /stats (RSS,
// heap, pid, served serial, reloads, client failures) at a fixed interval,
// optionally right after a full garbage collection (full-gc.ts).
import { sleep } from '../../common/wait.js';
import { type AppStats, appStats, type Workload } from '../../scripts/lib/workloads/handles.js';
import { collectGarbage } from './full-gc.js';

/** Peak RSS must stay below this share of the container's memory limit, whatever the length of the run. */
export const PEAK_RSS_SHARE = 0.75;

export interface Sample {
  readonly at: number;
  readonly workload: string;
  readonly pid: number;
  readonly rssMb: number;
  readonly heapUsedMb: number;
  readonly serial: string;
  readonly reloads: number;
  readonly failures: number;
  readonly retries: number;
  /** Read right after a full garbage collection of that process. */
  readonly afterFullGc?: boolean;
}

export function sampleOf(w: Workload, s: AppStats | undefined, at: number): Sample | undefined {
  const proc = s?.['process'] as { pid?: number; rssBytes?: number; heapUsedBytes?: number } | undefined;
  if (!proc?.rssBytes || !s?.credentials?.serial) return undefined;
  const requests = s.requests;
  return {
    at,
    workload: w.name,
    pid: proc.pid ?? 0,
    rssMb: proc.rssBytes / 2 ** 20,
    heapUsedMb: (proc.heapUsedBytes ?? 0) / 2 ** 20,
    serial: s.credentials.serial,
    reloads: s.credentials.reloads ?? 0,
    failures: requests?.failures ?? 0,
    retries: requests?.retries ?? 0,
  };
}

export interface SampleOptions {
  readonly from: number;
  readonly everyMs: number;
  /** Whether to take the sample due at `next` (ms since the epoch). */
  readonly more: (next: number) => boolean;
  /** Whether the sample due at `next` follows a full GC of each process. */
  readonly fullGcAt?: (next: number) => boolean;
}

/**
 * Samples every workload each `everyMs` from `from` for as long as
 * `more(next)` says so (`next` is the time of the sample about to be taken).
 * Where `fullGcAt(next)`, each process is read, collected, and read again:
 * two samples, the second marked `afterFullGc`.
 * `missed` names each sample that could not be taken (`server@120s`);
 * `gcFailures` each full GC that failed, with the reason.
 */
export async function sampleApps(workloads: readonly Workload[], opts: SampleOptions): Promise<{ samples: Sample[]; missed: string[]; gcFailures: string[] }> {
  const samples: Sample[] = [];
  const missed: string[] = [];
  const gcFailures: string[] = [];
  for (let next = opts.from; opts.more(next); next += opts.everyMs) {
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
    const at = Date.now();
    const fullGc = opts.fullGcAt?.(next) ?? false;
    const when = `${Math.round((at - opts.from) / 1000)}s`;
    const got = await Promise.all(
      workloads.map(async (w): Promise<{ w: Workload; s: Sample[] }> => {
        const before = sampleOf(w, await appStats(w), at);
        if (!fullGc || !before) return { w, s: before ? [before] : [] };
        try {
          await collectGarbage(w.container, before.pid);
        } catch (error) {
          gcFailures.push(`${w.name}@${when}: ${(error as Error).message}`);
          return { w, s: [before] };
        }
        const after = sampleOf(w, await appStats(w), Date.now());
        // A restart between the two reads is not a post-GC reading of the same process.
        if (!after || after.pid !== before.pid) return { w, s: after ? [before, after] : [before] };
        return { w, s: [before, { ...after, afterFullGc: true }] };
      }),
    );
    for (const { w, s } of got) {
      if (s.length) samples.push(...s);
      else missed.push(`${w.name}@${when}`);
    }
  }
  return { samples, missed, gcFailures };
}
