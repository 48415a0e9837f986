// What the process itself costs, for /stats: the soak benchmark (B7) samples
// it over an hour to tell a leak from warm-up.
export interface ProcessStats {
  readonly pid: number;
  readonly uptimeSeconds: number;
  /** Resident set size: what counts against the container's memory limit. */
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly externalBytes: number;
}

export function processStats(): ProcessStats {
  const memory = process.memoryUsage();
  return {
    pid: process.pid,
    uptimeSeconds: Math.round(process.uptime()),
    rssBytes: memory.rss,
    heapUsedBytes: memory.heapUsed,
    externalBytes: memory.external,
  };
}
