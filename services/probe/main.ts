// `node /app/probe.mjs health` (exit 0 when healthy) and
// `node /app/probe.mjs get /metrics|/stats` (prints the body).
// ADMIN_PORT must match the workload's (default 9100).
// `node /app/probe.mjs health-script` prints the Docker health check
// (mtls-health.sh, bash: no Node process per check); the image build installs
// it from here, as its build context holds the bundles only.
import { readPort } from '../lib/config.js';
import healthScript from './mtls-health.sh';
import { runProbe } from './probe.js';

async function main(args: readonly string[]): Promise<number> {
  if (args.length === 1 && args[0] === 'health-script') {
    process.stdout.write(healthScript);
    return 0;
  }
  let adminPort: number;
  try {
    adminPort = readPort(process.env, 'ADMIN_PORT', 9100);
  } catch (error) {
    process.stderr.write(`probe: ${(error as Error).message}\n`);
    return 2;
  }
  return runProbe(args, { adminPort });
}

process.exitCode = await main(process.argv.slice(2));
