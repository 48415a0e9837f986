// Entry point of the server image (`node /app/server.mjs`): the only place
// that reads the environment.
import { readInteger, readOptionalString, readList, readLogLevel, readPort, readString, type Env } from '../lib/config.js';
import { exitWith, stopOnSignals } from '../lib/lifecycle.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { createMtlsServer, type MtlsServer } from './app.js';

function fromEnv(env: Env): { server: MtlsServer; logger: Logger } {
  const logger = createLogger({ level: readLogLevel(env), fields: { role: 'server' } });
  const server = createMtlsServer({
    certDir: readString(env, 'CERT_DIR', '/var/run/step'),
    rootPinFile: readOptionalString(env, 'ROOT_PIN_FILE'),
    listenHost: readString(env, 'LISTEN_HOST', '0.0.0.0'),
    listenPort: readPort(env, 'LISTEN_PORT', 8443),
    allowedIdentities: readList(env, 'ALLOWED_IDENTITIES'),
    adminPort: readPort(env, 'ADMIN_PORT', 9100),
    reloadDebounceMs: readInteger(env, 'RELOAD_DEBOUNCE_MS', 250, { min: 0, max: 60_000 }),
    maxConnectionAgeMs: readInteger(env, 'MAX_CONNECTION_AGE_MS', 60_000, { min: 1_000 }),
    logger,
  });
  return { server, logger };
}

let configured: { server: MtlsServer; logger: Logger };
try {
  configured = fromEnv(process.env);
} catch (error) {
  exitWith(createLogger({ fields: { role: 'server' } }), 'invalid configuration', error, 2);
}
const { server, logger } = configured;
stopOnSignals(() => server.stop(), logger);
try {
  await server.start();
} catch (error) {
  exitWith(logger, 'failed to start', error, 1);
}
// Waiting for certificates is a normal state; a port that cannot be bound is
// fatal (the server has logged why already).
server.serving().catch(() => process.exit(1));
