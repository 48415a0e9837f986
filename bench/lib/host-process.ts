/**
 * Servers the benchmark runs as processes on the host (nginx, the Node
 * fixture): started, awaited on their loopback port, stopped with a grace
 * period; and the port wait the containers it starts use too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';

import { waitFor } from '../../common/wait.js';
import { UserError } from '../../scripts/lib/cli/ui.js';

/** Whether a child process has ended, by exiting or by a signal. */
export const ended = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

/** Waits up to `ms` for a child process to end; whether it did. */
export const endsWithin = (child: ChildProcess, ms: number): Promise<boolean> =>
  waitFor(`pid ${child.pid} to end`, () => ended(child), { timeoutMs: ms, intervalMs: 50 }).catch(() => false);

/** Whether something accepts a TCP connection on 127.0.0.1:port now. */
const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });

/** Resolves once 127.0.0.1:port accepts a TCP connection; `failed` reports a dead child early. */
export async function waitForPort(port: number, timeoutMs: number, failed: () => string | undefined = () => undefined): Promise<void> {
  const outcome = await waitFor(`127.0.0.1:${port} to accept a connection`, async () => failed() || (await accepts(port)), {
    timeoutMs,
    intervalMs: 100,
  }).catch(() => {
    throw new UserError(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
  });
  if (outcome !== true) throw new UserError(outcome);
}

export interface HostServer {
  readonly port: number;
  stop(): Promise<void>;
}

/**
 * Spawns a server on the host and resolves once it listens on
 * 127.0.0.1:`port` (failing with its stderr if it exits first). stop() sends
 * `stopSignal`, then SIGKILL if it has not ended within `graceMs`.
 */
export async function startHostServer(
  name: string,
  command: string,
  args: readonly string[],
  opts: { port: number; env?: NodeJS.ProcessEnv; stopSignal: NodeJS.Signals; graceMs: number },
): Promise<HostServer> {
  const child = spawn(command, args, { env: opts.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitForPort(opts.port, 10_000, () => (child.exitCode !== null ? `${name} exited (${child.exitCode}): ${stderr.trim()}` : undefined));
  return {
    port: opts.port,
    stop: async () => {
      if (ended(child)) return;
      child.kill(opts.stopSignal);
      if (!(await endsWithin(child, opts.graceMs))) child.kill('SIGKILL');
    },
  };
}
