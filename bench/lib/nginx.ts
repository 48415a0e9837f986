import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { $, fs } from 'zx';
import { cachePaths } from '../../scripts/lib/toolchain/cache.js';
import { aptInstall } from '../../scripts/lib/toolchain/docker-engine.js';
import { UserError } from '../../scripts/lib/cli/ui.js';

/**
 * nginx (Debian's nginx-light) as the reference mTLS server for B4: on the
 * host, bound to 127.0.0.1 only, `ssl_verify_client on` against the stack's
 * root, with a certificate from the same CA. Installed with apt like the
 * toolchain installs docker.io, when missing and when we may.
 */
export async function ensureNginx(): Promise<string> {
  const q = $({ quiet: true, nothrow: true, timeout: '10s' });
  if ((await q`command -v nginx`).exitCode !== 0) {
    const isRoot = process.getuid?.() === 0;
    if (!isRoot || !(await fs.pathExists('/etc/debian_version'))) {
      throw new UserError('nginx is not installed. Install it (Debian/Ubuntu: sudo apt-get install nginx-light) and run the benchmark again; as root on Debian the benchmark installs it itself.');
    }
    await aptInstall(['nginx-light'], cachePaths());
  }
  return (await q`nginx -v`).stderr.trim();
}

export interface NginxServer {
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts nginx in the foreground (daemon off) as our child; stop() ends exactly that process. */
export async function startNginx(opts: { dir: string; port: number; cert: string; key: string; clientRoot: string; workers: number }): Promise<NginxServer> {
  await fs.mkdirp(path.join(opts.dir, 'logs'));
  const conf = path.join(opts.dir, 'nginx.conf');
  const tmp = (n: string) => path.join(opts.dir, n);
  await fs.writeFile(
    conf,
    `# written by bench/lib/nginx.ts
daemon off;
worker_processes ${opts.workers};
pid ${tmp('nginx.pid')};
error_log ${tmp('logs/error.log')} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${tmp('body')};
  proxy_temp_path ${tmp('proxy')};
  server {
    listen 127.0.0.1:${opts.port} ssl;
    ssl_certificate ${opts.cert};
    ssl_certificate_key ${opts.key};
    ssl_client_certificate ${opts.clientRoot};
    ssl_verify_client on;
    ssl_verify_depth 3;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    location / {
      default_type application/json;
      return 200 '{"identity":"$ssl_client_s_dn","tlsVersion":"$ssl_protocol"}';
    }
  }
}
`,
  );
  const child: ChildProcess = spawn('nginx', ['-p', opts.dir, '-e', tmp('logs/error.log'), '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitForPort(opts.port, 10_000, () => (child.exitCode !== null ? `nginx exited (${child.exitCode}): ${stderr.trim()}` : undefined));
  return {
    port: opts.port,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGQUIT'); // graceful: workers finish, master exits
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** Resolves once 127.0.0.1:port accepts a TCP connection; `failed` reports a dead child early. */
export async function waitForPort(port: number, timeoutMs: number, failed: () => string | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const why = failed();
    if (why) throw new UserError(why);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > deadline) throw new UserError(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
