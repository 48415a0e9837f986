#!/usr/bin/env tsx
/**
 * Revoke a workload's certificate and show that its renewal is refused. With
 * passive revocation the certificate stays usable until it expires — which is
 * why certificates here are short-lived. Re-enroll with `enroll --force`.
 */
import { COMMON_HELP, parseCli } from './lib/cli.js';
import { revokeWorkload } from './lib/revocation.js';
import { main, table, UserError } from './lib/ui.js';
import { loadStack, selectWorkloads } from './lib/workloads.js';

const HELP = `Usage: tsx scripts/revoke.ts WORKLOAD [--reason TEXT] [--prefix NAME] [--json]

${COMMON_HELP}`;

await main(async () => {
  const cli = parseCli(process.argv.slice(2), { reason: { type: 'string' } }, HELP);
  if (cli.help) return void console.log(HELP);
  if (cli.positionals.length !== 1) throw new UserError(`name exactly one workload to revoke.\n\n${HELP}`);
  const stack = await loadStack(cli.prefix);
  const [w] = selectWorkloads(stack, cli.positionals);
  const result = await revokeWorkload(stack, w!, (cli.values.reason as string | undefined) ?? 'revoked by operator');
  if (cli.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(table([{ workload: result.workload, serial: result.serial, 'valid until': result.notAfter, renewal: result.renewalRefused ? 'refused' : 'ACCEPTED' }]));
    if (result.renewalRefused) console.log(`the CA refuses to renew it: ${result.renewalError}\nit stops working at ${result.notAfter}; re-enroll with: npm run enroll -- ${result.workload} --force`);
  }
  if (!result.renewalRefused) process.exitCode = 1;
});
