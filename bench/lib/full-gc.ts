// B7 tells a leak from the GC's sawtooth by reading RSS right after a full
// garbage collection. V8 collects the old generation only when it decides to
// (every half hour or so in these apps, under B7's load), and native memory
// held by garbage objects (an old TLS context is ~50 kB of OpenSSL memory
// behind a small JS wrapper) waits for that collection. So RSS between two
// collections climbs even when nothing leaks; after one it is what the
// process really keeps.
//
// A full collection is asked for the way DevTools' "Collect garbage" button
// does it: SIGUSR1 opens the Node inspector on 127.0.0.1:9229 inside the
// app's container (Node's documented behaviour), and a short script run there
// by `docker exec` sends HeapProfiler.collectGarbage. Nothing in the apps
// changes and nothing leaves the container; the inspector stays open on the
// container's loopback for the rest of the soak, which is why only the
// benchmark's own stack does this.
import { exec } from '../../scripts/lib/docker/commands.js';

/** Node's default inspector port, which SIGUSR1 opens. */
export const INSPECTOR_PORT = 9229;

/**
 * Runs inside the container as `node --input-type=module -e SCRIPT <pid>`:
 * opens the inspector of `pid`, waits for it to list its target, asks for a
 * full collection and waits for the answer. Exits non-zero with the reason.
 */
export const COLLECT_GARBAGE_SCRIPT = `
process.on('uncaughtException', (error) => { console.error('full-gc: ' + error.message); process.exit(1); });
process.on('unhandledRejection', (error) => { console.error('full-gc: ' + error.message); process.exit(1); });
const pid = Number(process.argv[1]);
if (!Number.isInteger(pid) || pid < 1) throw new Error('usage: <pid>');
process.kill(pid, 'SIGUSR1');
const deadline = Date.now() + 10_000;
let url;
while (!url) {
  try {
    const targets = await (await fetch('http://127.0.0.1:${INSPECTOR_PORT}/json/list')).json();
    url = targets[0]?.webSocketDebuggerUrl;
  } catch {}
  if (url) break;
  if (Date.now() > deadline) throw new Error('the inspector of pid ' + pid + ' did not open on port ${INSPECTOR_PORT}');
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const ws = new WebSocket(url);
await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('cannot connect to ' + url)); });
await new Promise((resolve, reject) => {
  ws.onmessage = (m) => {
    const r = JSON.parse(String(m.data));
    if (r.id !== 1) return;
    if (r.error) reject(new Error('HeapProfiler.collectGarbage: ' + r.error.message));
    else resolve();
  };
  ws.onclose = () => reject(new Error('the inspector closed before answering'));
  ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
});
ws.onclose = null;
ws.close();
`;

/** Asks the Node process `pid` in `container` for a full collection; resolves when it is done. */
export async function collectGarbage(container: string, pid: number): Promise<void> {
  const out = await exec(container, ['node', '--input-type=module', '-e', COLLECT_GARBAGE_SCRIPT, String(pid)], { timeout: '30s' });
  if (out.exitCode !== 0) {
    const why =
      (out.stderr || out.stdout)
        .split('\n')
        .find((l) => l.startsWith('full-gc: '))
        ?.slice('full-gc: '.length) ?? `exit ${out.exitCode}: ${(out.stderr || out.stdout).trim().slice(-200)}`;
    throw new Error(`full GC of pid ${pid} in ${container} failed: ${why}`);
  }
}
