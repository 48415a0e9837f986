// Entry point of the server image (`node /app/server.mjs`): the only place
// that reads the environment. WORKERS > 1 runs that many server processes on
// the one mTLS port (cluster.ts); this process is then their primary.
import cluster from 'node:cluster';

import { MAX_SERVER_PROCESSES } from '../../common/facts.js';
import { type Env, readInteger, readLogLevel, readPort } from '../lib/config.js';
import { MTLS_LISTENER_LIMITS } from '../lib/http-limits.js';
import { AllowList } from '../lib/identity.js';
import { exitWith, stopOnSignals } from '../lib/lifecycle.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { createMtlsServer, type MtlsServer } from './app.js';
import { ServerCluster } from './cluster.js';
import { serveAsWorker, WORKER_INDEX_ENV, workerLimits } from './cluster-worker.js';
import { serverOptionsFromEnv, SHUTDOWN_GRACE_MS } from './options.js';

type Config =
  | { readonly kind: 'primary'; readonly workers: number; readonly adminPort: number; readonly logger: Logger }
  | { readonly kind: 'server'; readonly worker: number | undefined; readonly server: MtlsServer; readonly logger: Logger };

function fromEnv(env: Env): Config {
  const workers = readInteger(env, 'WORKERS', 1, { min: 1, max: MAX_SERVER_PROCESSES });
  const worker = cluster.isWorker ? readInteger(env, WORKER_INDEX_ENV, 0, { min: 0, max: MAX_SERVER_PROCESSES - 1 }) : undefined;
  const fields = worker === undefined ? { role: 'server' } : { role: 'server', worker };
  const logger = createLogger({ level: readLogLevel(env), fields });
  const adminPort = readPort(env, 'ADMIN_PORT', 9100);
  const options = serverOptionsFromEnv(env, logger);
  if (workers > 1 && cluster.isPrimary) {
    // What a worker would refuse, refused before any fork (no worker would ever start).
    new AllowList(options.allowedIdentities);
    return { kind: 'primary', workers, adminPort, logger };
  }
  const server =
    workers === 1
      ? createMtlsServer({ ...options, adminPort })
      : createMtlsServer({ ...options, adminPort: null, limits: workerLimits(MTLS_LISTENER_LIMITS, workers) });
  return { kind: 'server', worker, server, logger };
}

let config: Config;
try {
  config = fromEnv(process.env);
} catch (error) {
  exitWith(createLogger({ fields: { role: 'server' } }), 'invalid configuration', error, 2);
}
const { logger } = config;

if (config.kind === 'primary') {
  const primary = new ServerCluster({ workers: config.workers, adminPort: config.adminPort, shutdownGraceMs: SHUTDOWN_GRACE_MS, logger });
  stopOnSignals(() => primary.stop(), logger);
  try {
    await primary.start();
  } catch (error) {
    exitWith(logger, 'failed to start', error, 1);
  }
} else {
  const { server, worker } = config;
  if (worker !== undefined) serveAsWorker(server, worker, logger);
  else stopOnSignals(() => server.stop(), logger);
  try {
    await server.start();
  } catch (error) {
    exitWith(logger, 'failed to start', error, 1);
  }
  // Waiting for certificates is a normal state; a port that cannot be bound is
  // fatal (the server has logged why already).
  server.serving().catch(() => process.exit(1));
}
