#!/usr/bin/env tsx
/**
 * Bootstrap trust in the stack's CA. The root fingerprint comes over the
 * admin channel (the Docker API: `step certificate fingerprint` inside the CA
 * container) or from --fingerprint; the root itself comes through the CA's
 * API and is accepted only if its SHA-256 matches. Then root.crt goes into
 * every workload's cert volume and into the host state dir (step's layout).
 * A mismatch aborts before anything is written.
 */
import path from 'node:path';

import { bootstrapTrust } from './lib/ca/trust-bootstrap.js';
import { COMMON_HELP, parseCli } from './lib/cli/flags.js';
import { main, table } from './lib/cli/ui.js';

const HELP = `Usage: tsx scripts/bootstrap-trust.ts [--fingerprint SHA256] [--prefix NAME] [--json]

  --fingerprint SHA256  pin this root fingerprint instead of reading it from the CA container
${COMMON_HELP}`;

await main(async () => {
  const cli = parseCli(process.argv.slice(2), { fingerprint: { type: 'string' } }, HELP);
  if (cli.help) return void console.log(HELP);
  const result = await bootstrapTrust(cli.prefix, { fingerprint: cli.values.fingerprint, json: cli.json });
  if (cli.json) return void console.log(JSON.stringify(result, null, 2));
  console.log(table(result.workloads.map((w) => ({ workload: w, 'root pin': 'written', 'root.crt': 'written', fingerprint: result.fingerprint }))));
  console.log(`host: STEPPATH=${path.relative(process.cwd(), result.hostStepPath) || '.'} (defaults.json, certs/root_ca.crt)`);
});
