// Entry point of the axios workload (`node /app/axios-client.mjs` in the Node
// workload image): the only place that reads the environment, which is the
// recipes' contract for a client (recipes/README.md: TARGET_HOST, TARGET_PORT,
// EXPECTED_SERVER_IDENTITY, REQUEST_INTERVAL_MS, STARTUP_RETRY_BUDGET_MS).
import { clientOptionsFromEnv } from '../client/options.js';
import { readInteger, readPort, readString } from '../lib/config.js';
import { runWorkload } from '../lib/lifecycle.js';
import { AxiosMtlsClient } from './app.js';

await runWorkload(process.env, { role: 'client', framework: 'axios' }, (env, logger) => {
  const host = readString(env, 'TARGET_HOST');
  const port = readPort(env, 'TARGET_PORT', 8443);
  return new AxiosMtlsClient({
    targetUrl: new URL(`https://${host}:${port}/`),
    ...clientOptionsFromEnv(env, logger),
    requestIntervalMs: readInteger(env, 'REQUEST_INTERVAL_MS', 1_000, { min: 10, max: 3_600_000 }),
  });
});
