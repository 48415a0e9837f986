import path from 'node:path';

import { $, fs } from 'zx';

import { UserError } from '../../scripts/lib/cli/ui.js';
import { cachePaths } from '../../scripts/lib/toolchain/cache.js';
import { aptInstall } from '../../scripts/lib/toolchain/docker-engine.js';
import { type HostServer, startHostServer } from './host-process.js';

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
      throw new UserError(
        'nginx is not installed. Install it (Debian/Ubuntu: sudo apt-get install nginx-light) and run the benchmark again; as root on Debian the benchmark installs it itself.',
      );
    }
    await aptInstall(['nginx-light'], cachePaths());
  }
  return (await q`nginx -v`).stderr.trim();
}

export type NginxServer = HostServer;

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
  // SIGQUIT is nginx's graceful stop: workers finish, the master exits.
  return startHostServer('nginx', 'nginx', ['-p', opts.dir, '-e', tmp('logs/error.log'), '-c', conf], {
    port: opts.port,
    stopSignal: 'SIGQUIT',
    graceMs: 5000,
  });
}
