// `node /app/probe.mjs health` (exit 0 when healthy) and
// `node /app/probe.mjs get /metrics|/stats` (prints the body).
// ADMIN_PORT must match the workload's (default 9100).
import { readPort } from '../lib/config.js';
import { runProbe } from './probe.js';

async function main(args: readonly string[]): Promise<number> {
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
