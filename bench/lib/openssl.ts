import { $ } from 'zx';

import { UserError } from '../../scripts/lib/cli/ui.js';

export interface STimeResult {
  readonly connections: number;
  readonly wallSeconds: number;
  readonly handshakesPerSecond: number;
  readonly bytesPerConnection: number;
  readonly processes: number;
}

/**
 * Full mTLS handshakes per second with `openssl s_time -new`: every
 * connection is a new handshake (no session reuse), presents the client
 * certificate, verifies the server, and fetches `/` so the server has to
 * accept the client before answering. `processes` s_time clients run side by
 * side (one s_time is strictly sequential); the rate is their total
 * connections over the wall time of the whole batch.
 */
export async function sTime(opts: {
  /** @default 127.0.0.1 */
  host?: string;
  port: number;
  cert: string;
  key: string;
  caFile: string;
  seconds: number;
  processes: number;
}): Promise<STimeResult> {
  const one = $({ quiet: true, nothrow: true, timeout: `${opts.seconds + 30}s` });
  const target = `${opts.host ?? '127.0.0.1'}:${opts.port}`;
  const started = process.hrtime.bigint();
  const outs = await Promise.all(
    Array.from(
      { length: opts.processes },
      () => one`openssl s_time -connect ${target} -new -cert ${opts.cert} -key ${opts.key} -CAfile ${opts.caFile} -verify 3 -www / -time ${opts.seconds}`,
    ),
  );
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  let connections = 0;
  let bytes = 0;
  for (const out of outs) {
    const m = /(\d+) connections in \d+ real seconds, (\d+) bytes read per connection/.exec(out.stdout);
    if (out.exitCode !== 0 || !m) {
      throw new UserError(
        `openssl s_time against ${target} failed (exit ${out.exitCode}): ${(out.stderr || out.stdout).trim().split('\n').slice(-4).join(' ')}. Check that the server accepts the client certificate (curl --cert … --key … --cacert …).`,
      );
    }
    connections += Number(m[1]);
    bytes = Math.max(bytes, Number(m[2]));
  }
  if (bytes === 0) throw new UserError(`openssl s_time against ${target} read no response: the server did not answer over mTLS`);
  return { connections, wallSeconds, handshakesPerSecond: connections / wallSeconds, bytesPerConnection: bytes, processes: opts.processes };
}
