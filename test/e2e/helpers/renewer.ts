import { $ } from 'zx';

import { waitFor } from '../../../common/wait.js';
import * as docker from '../../../scripts/lib/docker/commands.js';
import { appStats, type Stack, type Workload } from '../../../scripts/lib/workloads/handles.js';
import { health } from '../../../scripts/lib/workloads/readiness.js';

const sh = $({ quiet: true, nothrow: true, timeout: '30s' });

/** What the app is serving now (from its own admin port). */
export async function servingCert(w: Workload): Promise<{ serial: string; notAfter: number }> {
  const c = (await appStats(w))?.credentials;
  if (!c?.serial || !c.notAfter) throw new Error(`${w.name} reports no credentials`);
  return { serial: c.serial, notAfter: Date.parse(c.notAfter) };
}

/** Waits until the app serves a certificate other than `serial` that expires later. */
export async function waitForNewerCert(w: Workload, old: { serial: string; notAfter: number }, timeoutMs: number) {
  return waitFor(
    `${w.name} to serve a newer certificate than ${old.serial}`,
    async () => {
      const now = await servingCert(w);
      return now.serial !== old.serial && now.notAfter > old.notAfter && now.notAfter > Date.now() ? now : undefined;
    },
    { timeoutMs, intervalMs: 500 },
  );
}

/** Waits for a renewal logged after `since` (RFC 3339), and returns when it was seen. */
export async function waitForRenewalLog(w: Workload, since: string, timeoutMs: number): Promise<void> {
  await waitFor(`${w.name}'s renewer to rekey`, async () => ((await docker.logs(w.renewer, { since })).includes('certificate rekeyed') ? true : undefined), {
    timeoutMs,
    intervalMs: 250,
  });
}

/** The client's failed requests so far. */
export async function clientFailures(client: Workload): Promise<number> {
  return (await appStats(client))?.requests?.failures ?? 0;
}

export async function restartCount(container: string): Promise<number> {
  return Number((await sh`docker inspect -f ${'{{.RestartCount}}'} ${container}`).stdout.trim());
}

/** The processes in a container: pid, parent pid, and arguments joined by spaces. */
export async function processes(container: string): Promise<Array<{ pid: string; ppid: string; cmdline: string }>> {
  // stat's 4th field is the parent pid (the 2nd, the name in parentheses, has no spaces here).
  const script =
    'for d in /proc/[0-9]*; do mapfile -d "" -t a <"$d/cmdline" 2>/dev/null || continue; read -r _ _ _ ppid _ <"$d/stat" 2>/dev/null || continue; printf "%s %s %s\\n" "${d#/proc/}" "$ppid" "${a[*]}"; done';
  const out = await docker.exec(container, ['bash', '-c', script]);
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [pid = '', ppid = '', ...rest] = l.split(' ');
      return { pid, ppid, cmdline: rest.join(' ') };
    });
}

/** The stack's long-running containers: the CA, and each workload's app and renewer. */
export function stackContainers(stack: Stack): string[] {
  return [stack.ca.container, ...stack.workloads.flatMap((w) => [w.container, w.renewer])];
}

/** Every container of the stack healthy again (the state the next test file expects). */
export async function waitAllHealthy(containers: readonly string[], timeoutMs: number): Promise<void> {
  for (const c of containers) {
    await waitFor(`${c} healthy`, async () => ((await health(c)) === 'healthy' ? true : undefined), { timeoutMs, intervalMs: 1000 });
  }
}
