// Entry point of the Express workload (`node /app/express-server.mjs` in the
// Node workload image): the only place that reads the environment, which is
// the recipes' contract for a server (recipes/README.md) plus the reference
// server's optional knobs.
import { readPort } from '../lib/config.js';
import { runWorkload } from '../lib/lifecycle.js';
import { serverOptionsFromEnv } from '../server/options.js';
import { ExpressMtlsServer } from './app.js';

const server = await runWorkload(
  process.env,
  { role: 'server', framework: 'express' },
  (env, logger) => new ExpressMtlsServer({ ...serverOptionsFromEnv(env, logger), adminPort: readPort(env, 'ADMIN_PORT', 9100) }),
);
// Waiting for certificates is normal; a port that cannot be bound is fatal (logged already).
server.serving().catch(() => process.exit(1));
