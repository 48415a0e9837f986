import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';

import { $, fs } from 'zx';

import { UserError } from '../../scripts/lib/cli/ui.js';
import { LABEL, stackLabels } from '../../stack/labels.js';
import { removeContainer, runContainer } from './docker-run.js';
import { waitForPort } from './host-process.js';

/** One frame of a V8 CPU profile (node --cpu-prof), by self time. */
export interface TopFrame {
  readonly frame: string;
  /** Share of all samples spent in this frame itself, percent. */
  readonly selfPercent: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}

/**
 * The frames with the most self time in a .cpuprofile, merged by function
 * and place (the same function reached by different paths counts once).
 * `(idle)` is left out: it is time the process waited, not work.
 */
export function topFrames(profile: { nodes: readonly ProfileNode[] }, n = 12): { frames: TopFrame[]; busySamples: number } {
  const byFrame = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (!hits || functionName === '(idle)') continue;
    busy += hits;
    const where = url
      ? ` ${url
          .replace(/^file:\/\//, '')
          .replace(/^node:/, 'node:')
          .split('/')
          .slice(-2)
          .join('/')}:${lineNumber + 1}`
      : '';
    const key = `${functionName || '(anonymous)'}${where}`;
    byFrame.set(key, (byFrame.get(key) ?? 0) + hits);
  }
  const frames = [...byFrame.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([frame, hits]) => ({ frame, selfPercent: busy ? Math.round((hits / busy) * 1000) / 10 : 0 }));
  return { frames, busySamples: busy };
}

interface Inspected {
  Config: { Image: string; Env: string[]; User: string; Cmd: string[] | null; Entrypoint: string[] | null; ExposedPorts?: Record<string, unknown> };
  HostConfig: {
    ReadonlyRootfs: boolean;
    CapDrop: string[] | null;
    SecurityOpt: string[] | null;
    Tmpfs: Record<string, string> | null;
    Memory: number;
    Init: boolean | null;
  };
  Mounts: Array<{ Type: string; Name?: string; Source: string; Destination: string; RW: boolean }>;
}

/**
 * Runs a copy of `container` (same image, environment, user, volumes and
 * hardening) with `node --cpu-prof` writing into `dir`, published on
 * 127.0.0.1:`hostPort`. `stop()` ends it with SIGTERM, as Docker stops the
 * real one, and returns the profile the process wrote on its way out.
 */
export async function profiledCopy(opts: {
  container: string;
  name: string;
  prefix: string;
  network: string;
  port: number;
  hostPort: number;
  dir: string;
}): Promise<{ stop: () => Promise<{ nodes: ProfileNode[] }> }> {
  const out = await $({ quiet: true, nothrow: true })`docker inspect ${opts.container}`;
  if (out.exitCode !== 0) throw new UserError(`docker inspect ${opts.container} failed: ${out.stderr.trim()}`);
  const [c] = JSON.parse(out.stdout) as Inspected[];
  if (!c) throw new UserError(`docker inspect ${opts.container} returned nothing`);
  await fs.remove(opts.dir);
  await fs.mkdirp(opts.dir);
  // The copy runs as the app's user: it must be able to write its profile here.
  await fs.chmod(opts.dir, 0o777);
  const env = c.Config.Env.filter((e) => !e.startsWith('NODE_OPTIONS='));
  const flags = [
    ...(c.Config.User ? ['--user', c.Config.User] : []),
    ...(c.HostConfig.ReadonlyRootfs ? ['--read-only'] : []),
    ...(c.HostConfig.CapDrop ?? []).flatMap((cap) => ['--cap-drop', cap]),
    ...(c.HostConfig.SecurityOpt ?? []).flatMap((o) => ['--security-opt', o]),
    ...Object.entries(c.HostConfig.Tmpfs ?? {}).flatMap(([p, o]) => ['--tmpfs', o ? `${p}:${o}` : p]),
    ...(c.HostConfig.Memory ? ['--memory', String(c.HostConfig.Memory), '--memory-swap', String(c.HostConfig.Memory)] : []),
    ...(c.HostConfig.Init ? ['--init'] : []),
    ...c.Mounts.flatMap((m) =>
      (m.Type === 'volume' && m.Name ? [m.Name] : m.Type === 'bind' ? [m.Source] : []).flatMap((from) => [
        '--volume',
        `${from}:${m.Destination}${m.RW ? '' : ':ro'}`,
      ]),
    ),
    '--volume',
    `${opts.dir}:/profile`,
    ...env.flatMap((e) => ['--env', e]),
    '--env',
    'NODE_OPTIONS=--cpu-prof --cpu-prof-dir=/profile',
    '--publish',
    `127.0.0.1:${opts.hostPort}:${opts.port}/tcp`,
    ...Object.entries({ ...stackLabels(opts.prefix), [LABEL.role]: 'bench' }).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ...(c.Config.Entrypoint ? ['--entrypoint', c.Config.Entrypoint[0]!] : []),
  ];
  await removeContainer(opts.name);
  await runContainer({
    name: opts.name,
    image: c.Config.Image,
    networks: [{ name: opts.network }],
    flags,
    args: [...(c.Config.Entrypoint?.slice(1) ?? []), ...(c.Config.Cmd ?? [])],
  });
  await waitForPort(opts.hostPort, 20_000);
  return {
    stop: async () => {
      await $({ quiet: true, nothrow: true })`docker stop --time 10 ${opts.name}`;
      const logs = await $({ quiet: true, nothrow: true })`docker logs --tail 5 ${opts.name}`;
      await removeContainer(opts.name);
      const files = (await readdir(opts.dir)).filter((f) => f.endsWith('.cpuprofile'));
      if (!files.length)
        throw new UserError(
          `${opts.name} wrote no CPU profile (did it exit cleanly on SIGTERM?): ${(logs.stdout + logs.stderr).trim().split('\n').slice(-3).join(' ')}`,
        );
      // The app's own process is the largest profile (an --init shim writes none; a probe may write a small one).
      const sized = await Promise.all(files.map(async (f) => ({ f, size: (await stat(path.join(opts.dir, f))).size })));
      const biggest = sized.sort((a, b) => b.size - a.size)[0]!.f;
      return (await fs.readJson(path.join(opts.dir, biggest))) as { nodes: ProfileNode[] };
    },
  };
}
