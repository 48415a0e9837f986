#!/usr/bin/env tsx
/**
 * Enroll workloads: for each (or the named ones), a one-time token is minted
 * inside the CA container and exchanged inside the workload's renewer, which
 * generates the private key there (0600, never copied). Idempotent: a valid
 * certificate for the right identities is kept unless --force. Returns once
 * every enrolled workload's app and renewer report ready.
 */
import { COMMON_HELP, durationFlag, parseCli, positiveInt } from './lib/cli/flags.js';
import { createUi, main, table, UserError } from './lib/cli/ui.js';
import { enrollAll } from './lib/identity/enrollment.js';
import { keepEnrolled } from './lib/identity/keep-enrolled.js';
import { loadStack, selectWorkloads, type Stack, type Workload } from './lib/workloads/handles.js';
import { waitForWorkloads } from './lib/workloads/readiness.js';

const HELP = `Usage: tsx scripts/enroll.ts [WORKLOAD...] [--force] [--lifetime 5m] [--prefix NAME] [--json]

  WORKLOAD         names of workloads to enroll (default: all)
  --force          re-enroll even when a valid certificate is present
  --lifetime DUR   certificate lifetime, within the CA's claims (default: the CA's default)
  --concurrency N  enrollments in flight at once (default 8)
  --watch          keep them enrolled until stopped (Ctrl-C): enroll each one waiting for a
                   certificate now, then each time its container or pod starts again without
                   one (a pod replaced on Kubernetes), giving it the root this host pinned;
                   one line (--json: one JSON object) per enrollment
${COMMON_HELP}`;

await main(async () => {
  const cli = parseCli(
    process.argv.slice(2),
    { force: { type: 'boolean', default: false }, lifetime: { type: 'string' }, concurrency: { type: 'string' }, watch: { type: 'boolean', default: false } },
    HELP,
  );
  if (cli.help) return void console.log(HELP);
  const lifetime = durationFlag('lifetime', cli.values.lifetime);
  const concurrency = positiveInt('concurrency', cli.values.concurrency, 8);
  const stack = await loadStack(cli.prefix);
  const workloads = selectWorkloads(stack, cli.positionals);
  if (cli.values.watch) {
    if (cli.values.force) throw new UserError('--watch enrolls only workloads waiting for a certificate: it takes no --force');
    return watch(stack, workloads, lifetime, cli.json);
  }
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

/** --watch: runs until SIGINT or SIGTERM, one line per enrollment on stdout, problems on stderr. */
async function watch(stack: Stack, workloads: Workload[], lifetime: string | undefined, json: boolean): Promise<void> {
  const stop = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stop.abort());
  console.error(`watching ${workloads.length} workload(s) of stack "${stack.prefix}": each one waiting for a certificate is enrolled (Ctrl-C stops)`);
  await keepEnrolled(stack, workloads, {
    lifetime,
    signal: stop.signal,
    onEnrolled: (r) => {
      const at = new Date().toISOString();
      const what = `${r.action}${r.serial ? ` ${r.serial} until ${r.notAfter}` : ''}${r.error ? `: ${r.error}` : ''}`;
      console.log(json ? JSON.stringify({ at, ...r }) : `${at} ${r.workload}: ${what}`);
    },
    onError: (workload, err) => console.error(`${new Date().toISOString()} ${workload}: ${err.message}`),
  });
}
