/**
 * Calls a published server of the mesh from the host, the way its own
 * clients do: HTTPS through Node's TLS, PostgreSQL through the host's psql
 * (libpq, sslmode=verify-full), MySQL (MariaDB) in Node (test/helpers/mysql-call.ts).
 * Each returns what happened in a form a test can pin: the HTTP status, or
 * the TLS alert / PostgreSQL or MySQL message.
 */
import os from 'node:os';
import path from 'node:path';

import { $, fs } from 'zx';

import type { WorkloadOutput } from '../../../scripts/lib/deploy/stack-instance.js';
import { mtlsRequest } from '../../../scripts/lib/identity/mtls-request.js';
import { grpcCall } from '../../helpers/grpc-call.js';
import { mysqlCall } from '../../helpers/mysql-call.js';
import { redisCall } from '../../helpers/redis-call.js';

export interface Credential {
  readonly certPem: string;
  readonly keyPem: string;
}

export type CallOutcome =
  | { readonly ok: true; readonly status?: number; readonly body: string }
  | { readonly ok: false; readonly status?: number; readonly code?: string; readonly message: string };

/** One call as `who` (a role name for PostgreSQL, an account for MySQL); no credential means no client certificate. */
export async function callServer(w: WorkloadOutput, rootPem: string, who: string, cred?: Credential): Promise<CallOutcome> {
  if (w.protocol === 'mysql') return mysqlCall({ port: w.host_port, serverName: w.dns_name }, rootPem, who, cred);
  if (w.protocol === 'redis') return redisCall({ port: w.host_port, serverName: w.dns_name }, rootPem, cred);
  if (w.protocol === 'grpc') return grpcCall({ port: w.host_port, serverName: w.dns_name }, rootPem, cred);
  return w.protocol === 'postgres' ? psqlCall(w, rootPem, who, cred) : httpsCall(w, rootPem, cred);
}

async function httpsCall(w: WorkloadOutput, rootPem: string, cred?: Credential): Promise<CallOutcome> {
  try {
    const r = await mtlsRequest(`https://127.0.0.1:${w.host_port}/`, { ca: rootPem, cert: cred?.certPem, key: cred?.keyPem, servername: w.dns_name });
    return r.status === 200 ? { ok: true, status: r.status, body: r.body } : { ok: false, status: r.status, message: r.body };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ok: false, code: e.code, message: e.message };
  }
}

async function psqlCall(w: WorkloadOutput, rootPem: string, who: string, cred?: Credential): Promise<CallOutcome> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mtls-psql-'));
  try {
    await fs.writeFile(path.join(dir, 'root.crt'), rootPem);
    const certArgs: string[] = [];
    if (cred) {
      await fs.writeFile(path.join(dir, 'site.crt'), cred.certPem);
      await fs.writeFile(path.join(dir, 'site.key'), cred.keyPem, { mode: 0o600 });
      certArgs.push(`sslcert=${path.join(dir, 'site.crt')}`, `sslkey=${path.join(dir, 'site.key')}`);
    } else {
      // libpq would otherwise look in ~/.postgresql for a default client certificate.
      certArgs.push(`sslcert=${path.join(dir, 'none.crt')}`, `sslkey=${path.join(dir, 'none.key')}`);
    }
    const conn = [
      `host=${w.dns_name}`,
      'hostaddr=127.0.0.1',
      `port=${w.host_port}`,
      'dbname=mesh',
      `user=${who}`,
      'sslmode=verify-full',
      `sslrootcert=${path.join(dir, 'root.crt')}`,
      'connect_timeout=5',
      ...certArgs,
    ].join(' ');
    const out = await $({
      quiet: true,
      nothrow: true,
      timeout: '20s',
      env: { ...process.env, PGPASSWORD: '', PGSERVICEFILE: '/dev/null', PGSYSCONFDIR: dir, HOME: dir },
    })`psql -w -X -tA ${conn} -c ${"select current_user || ' ' || ssl::text from pg_stat_ssl where pid = pg_backend_pid()"}`;
    return out.exitCode === 0 ? { ok: true, body: out.stdout.trim() } : { ok: false, message: out.stderr.trim() };
  } finally {
    await fs.remove(dir);
  }
}
