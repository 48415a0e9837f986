#!/usr/bin/env tsx
/**
 * Revoke every unexpired certificate the CA issued for a workload's identity
 * (found in the CA's request log and the workload's volume), and show that
 * renewal is refused. With passive revocation each certificate stays usable
 * until it expires — which is why certificates here are short-lived.
 * Re-enroll with `enroll --force`.
 */
import { revokeWorkload } from './lib/ca/revocation.js';
import { COMMON_HELP, parseCli } from './lib/cli/flags.js';
import { main, table, UserError } from './lib/cli/ui.js';
import { loadStack, selectWorkloads } from './lib/workloads/handles.js';

const HELP = `Usage: tsx scripts/revoke.ts WORKLOAD [--reason TEXT] [--prefix NAME] [--json]

${COMMON_HELP}`;

await main(async () => {
  const cli = parseCli(process.argv.slice(2), { reason: { type: 'string' } }, HELP);
  if (cli.help) return void console.log(HELP);
  if (cli.positionals.length !== 1) throw new UserError(`name exactly one workload to revoke.\n\n${HELP}`);
  const stack = await loadStack(cli.prefix);
  const [w] = selectWorkloads(stack, cli.positionals);
  const result = await revokeWorkload(stack, w!, cli.values.reason ?? 'revoked by operator');
  if (cli.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(
      table(result.revoked.map((r) => ({ workload: result.workload, serial: r.serial, 'valid until': r.notAfter, 'found in': r.source, outcome: r.outcome }))),
    );
    console.log(
      result.logComplete
        ? `the CA's log reaches back to ${result.logSince} (the CA's first start, or past the longest lifetime): every unexpired certificate for ${result.workload} is revoked`
        : `INCOMPLETE: the CA's log only reaches back to ${result.logSince ?? '(empty)'}; a certificate issued before then for ${result.workload} and still valid was not found and is not revoked`,
    );
    if (result.renewalRefused)
      console.log(
        `the CA refuses to renew them: ${result.renewalError}\nthey stop working at their notAfter (latest ${latest(result.revoked)}); re-enroll with: npm run enroll -- ${result.workload} --force --prefix ${stack.prefix}`,
      );
    else console.log(`the CA still ACCEPTED a renewal of ${result.serial}`);
  }
  if (!result.renewalRefused) process.exitCode = 1;
});

function latest(revoked: readonly { notAfter: string }[]): string {
  return (
    revoked
      .map((r) => r.notAfter)
      .sort()
      .at(-1) ?? ''
  );
}
