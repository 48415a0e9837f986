// The probe talks to the admin listener on 127.0.0.1 — the same network
// namespace as the workload when run with `docker exec` or as a HEALTHCHECK —
// so checking health never needs a client certificate.
import { get } from 'node:http';

import { ADMIN_HOST } from '../lib/admin.js';

export interface ProbeOptions {
  readonly adminPort: number;
  /** @default 3_000 */
  readonly timeoutMs?: number;
  /** @default process.stdout */
  readonly out?: (text: string) => void;
  /** @default process.stderr */
  readonly err?: (text: string) => void;
}

export const USAGE = 'usage: probe health | probe get <path>   (e.g. get /metrics, get /stats)';

function fetchAdmin(path: string, options: ProbeOptions): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: ADMIN_HOST, port: options.adminPort, path, timeout: options.timeoutMs ?? 3_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${ADMIN_HOST}:${options.adminPort} within ${options.timeoutMs ?? 3_000} ms`)));
    req.on('error', reject);
  });
}

/** Runs one probe command; resolves with the process exit code. */
export async function runProbe(args: readonly string[], options: ProbeOptions): Promise<number> {
  const out = options.out ?? ((text: string) => void process.stdout.write(text));
  const err = options.err ?? ((text: string) => void process.stderr.write(text));
  const [command, path] = args;
  let target: string;
  if (command === 'health' && args.length === 1) target = '/healthz';
  else if (command === 'get' && path?.startsWith('/') && args.length === 2) target = path;
  else {
    err(`${USAGE}\n`);
    return 2;
  }
  try {
    const { status, body } = await fetchAdmin(target, options);
    out(body.endsWith('\n') ? body : `${body}\n`);
    return status >= 200 && status < 300 ? 0 : 1;
  } catch (error) {
    err(`probe: ${(error as Error).message} (is the workload running, and ADMIN_PORT right?)\n`);
    return 1;
  }
}
