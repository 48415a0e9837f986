// Entry point of the client image (`node /app/client.mjs`): the only place
// that reads the environment.
import { type Env, readInteger, readLogLevel, readOptionalString, readPort, readPositiveNumber, readString, readUrl } from '../lib/config.js';
import { exitWith, stopOnSignals } from '../lib/lifecycle.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { createMtlsClient, type MtlsClient } from './app.js';

function fromEnv(env: Env): { client: MtlsClient; logger: Logger } {
  const logger = createLogger({ level: readLogLevel(env), fields: { role: 'client' } });
  const client = createMtlsClient({
    certDir: readString(env, 'CERT_DIR', '/var/run/step'),
    rootPinFile: readOptionalString(env, 'ROOT_PIN_FILE'),
    targetUrl: readUrl(env, 'TARGET_URL'),
    expectedServerIdentity: readString(env, 'EXPECTED_SERVER_IDENTITY'),
    requestRate: readPositiveNumber(env, 'REQUEST_RATE', 5),
    requestTimeoutMs: readInteger(env, 'REQUEST_TIMEOUT_MS', 5_000, { min: 100, max: 600_000 }),
    adminPort: readPort(env, 'ADMIN_PORT', 9100),
    reloadDebounceMs: readInteger(env, 'RELOAD_DEBOUNCE_MS', 250, { min: 0, max: 60_000 }),
    startupRetryBudgetMs: readInteger(env, 'STARTUP_RETRY_BUDGET_MS', 30_000, { min: 0, max: 86_400_000 }),
    logger,
  });
  return { client, logger };
}

let configured: { client: MtlsClient; logger: Logger };
try {
  configured = fromEnv(process.env);
} catch (error) {
  exitWith(createLogger({ fields: { role: 'client' } }), 'invalid configuration', error, 2);
}
const { client, logger } = configured;
stopOnSignals(() => client.stop(), logger);
try {
  await client.start();
} catch (error) {
  exitWith(logger, 'failed to start', error, 1);
}
