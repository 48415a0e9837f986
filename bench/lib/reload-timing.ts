import * as docker from '../../scripts/lib/docker/commands.js';
import { FILES } from '../../scripts/lib/workloads/handles.js';
import { streamExec } from './docker-run.js';
import { endsWithin } from './host-process.js';

/**
 * When each new site.crt was written (its mtime, seen from inside the
 * renewer) and when the app logged "credentials reloaded": the difference is
 * the reload latency (file written → new serial served to new connections).
 */
export interface FileWrite {
  readonly at: number;
}

/**
 * Streams site.crt's mtime changes (one exec). The loop ends by itself after
 * `seconds`, or at stop(), which drops a stop file: killing the docker exec
 * client would leave the loop running inside the container.
 */
export function watchCertWrites(renewer: string, seconds: number): { writes: FileWrite[]; stop: () => Promise<void> } {
  const writes: FileWrite[] = [];
  const stopFile = `/tmp/bench-watch-stop-${process.pid}-${Date.now()}`;
  const script =
    'f="$1"; end=$(( $(date +%s) + $2 )); stop="$3"; last=""; ' +
    'while [ "$(date +%s)" -lt "$end" ] && [ ! -e "$stop" ]; do m=$(stat -c %.Y "$f" 2>/dev/null || true); ' +
    'if [ -n "$m" ] && [ "$m" != "$last" ]; then echo "$m"; last="$m"; fi; sleep 0.05; done; rm -f "$stop"';
  const s = streamExec(renewer, ['bash', '-c', script, 'watch-cert', FILES.cert, String(Math.ceil(seconds)), stopFile], (line) => {
    const at = Number(line.trim()) * 1000;
    if (Number.isFinite(at)) writes.push({ at });
  });
  return {
    writes,
    stop: async () => {
      await docker.exec(renewer, ['touch', stopFile]);
      await endsWithin(s.child, 3000);
      s.stop();
    },
  };
}

export interface Reload {
  readonly at: number;
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

/** "credentials reloaded" lines of an app's JSON log since `sinceIso`. */
export async function reloadsFromLog(container: string, sinceIso: string): Promise<Reload[]> {
  const text = await docker.logs(container, { since: sinceIso });
  const out: Reload[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"credentials reloaded"')) continue;
    try {
      const j = JSON.parse(line) as { ts: string; serial: string; notBefore: string; notAfter: string };
      out.push({ at: Date.parse(j.ts), serial: j.serial, notBefore: Date.parse(j.notBefore), notAfter: Date.parse(j.notAfter) });
    } catch {
      // not one of ours
    }
  }
  return out;
}

/**
 * Pairs every write with the first reload at or after it (and before the
 * next write): milliseconds from file written to new certificate in use.
 * The file's mtime is the end of the renewer's write.
 */
export function reloadLatencies(
  writes: readonly FileWrite[],
  reloads: readonly Reload[],
): Array<{ writtenAt: number; reloadedAt: number; serial: string; ms: number }> {
  const out: Array<{ writtenAt: number; reloadedAt: number; serial: string; ms: number }> = [];
  writes.forEach((w, i) => {
    const nextWrite = writes[i + 1]?.at ?? Infinity;
    const r = reloads.find((x) => x.at >= w.at - 5 && x.at < nextWrite + 5_000);
    if (r) out.push({ writtenAt: w.at, reloadedAt: r.at, serial: r.serial, ms: Math.max(0, r.at - w.at) });
  });
  return out;
}
