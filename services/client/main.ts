// Entry point of the client image (`node /app/client.mjs`): the only place
// that reads the environment.
import { readPositiveNumber, readUrl } from '../lib/config.js';
import { runWorkload } from '../lib/lifecycle.js';
import { createMtlsClient } from './app.js';
import { clientOptionsFromEnv } from './options.js';

await runWorkload(process.env, { role: 'client' }, (env, logger) =>
  createMtlsClient({
    targetUrl: readUrl(env, 'TARGET_URL'),
    ...clientOptionsFromEnv(env, logger),
    requestRate: readPositiveNumber(env, 'REQUEST_RATE', 5),
  }),
);
