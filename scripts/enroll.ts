#!/usr/bin/env tsx
/**
 * Enroll workloads: for each (or the named ones), a one-time token is minted
 * inside the CA container and exchanged inside the workload's renewer, which
 * generates the private key there (0600, never copied). Idempotent: a valid
 * certificate for the right identities is kept unless --force. Returns once
 * every enrolled workload's app and renewer report ready.
 */
import { COMMON_HELP, durationFlag, parseCli, positiveInt } from './lib/cli/flags.js';
import { createUi, main, table } from './lib/cli/ui.js';
import { enrollAll } from './lib/identity/enrollment.js';
import { loadStack, selectWorkloads } from './lib/workloads/handles.js';
import { waitForWorkloads } from './lib/workloads/readiness.js';

const HELP = `Usage: tsx scripts/enroll.ts [WORKLOAD...] [--force] [--lifetime 5m] [--prefix NAME] [--json]

  WORKLOAD         names of workloads to enroll (default: all)
  --force          re-enroll even when a valid certificate is present
  --lifetime DUR   certificate lifetime, within the CA's claims (default: the CA's default)
  --concurrency N  enrollments in flight at once (default 8)
${COMMON_HELP}`;

await main(async () => {
  const cli = parseCli(
    process.argv.slice(2),
    { force: { type: 'boolean', default: false }, lifetime: { type: 'string' }, concurrency: { type: 'string' } },
    HELP,
  );
  if (cli.help) return void console.log(HELP);
  const lifetime = durationFlag('lifetime', cli.values.lifetime);
  const concurrency = positiveInt('concurrency', cli.values.concurrency, 8);
  const stack = await loadStack(cli.prefix);
  const workloads = selectWorkloads(stack, cli.positionals);
  const ui = createUi({ json: cli.json });
  const results = await ui.step(`enroll ${workloads.length} workload(s)`, () =>
    enrollAll(stack, workloads, { force: Boolean(cli.values.force), lifetime, concurrency }),
  );
  if (cli.json) console.log(JSON.stringify(results, null, 2));
  else {
    console.log(
      table(
        results.map((r) => ({
          workload: r.workload,
          action: r.action,
          identities: r.identities.join(' '),
          serial: r.serial ?? '',
          notAfter: r.notAfter ?? '',
          key: r.keyMode ? `0${r.keyMode}` : '',
        })),
      ),
    );
    for (const r of results.filter((x) => x.error)) console.error(`${r.workload}: ${r.error}`);
  }
  if (results.some((r) => r.action === 'failed')) return void (process.exitCode = 1);
  // Enrolled means serving: each app took its certificate (a PostgreSQL opens its TCP listener only now).
  await ui.step('every enrolled workload ready', () => waitForWorkloads(workloads));
});
