// A recipe's entry script run on the host, as the container would run it:
// only the environment given, its JSON log lines collected, its stats file
// read on demand, SIGTERM to stop it.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

/** The contract's stats file; a client's `requests` as the recipes write it. */
export interface ClientStats {
  readonly state: string;
  readonly requests: { readonly ok: number; readonly failed: number; readonly retries: number; readonly startupRetries: number };
  readonly lastError?: string;
  readonly failedReloads?: number;
  readonly serial?: string;
  readonly [field: string]: unknown;
}

export interface RecipeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly logs: LogLine[];
  /** Everything it wrote, for failure messages. */
  output(): string;
  stats(): Promise<ClientStats>;
  exited(): Promise<number | null>;
  /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
  stop(): Promise<void>;
}

export function runRecipe(file: string, env: Record<string, string>, statsFile: string): RecipeProcess {
  const child = spawn(file, [], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env } });
  const logs: LogLine[] = [];
  let all = '';
  let buffered = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    all += chunk;
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as LogLine);
      } catch {
        // not a log line; kept in output()
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (all += chunk));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    logs,
    output: () => all,
    stats: async () => JSON.parse(await readFile(statsFile, 'utf8')) as ClientStats,
    exited: () => exit,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(timer);
    },
  };
}
