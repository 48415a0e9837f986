#!/usr/bin/env tsx
/**
 * Check rotation end to end: while the client sends continuous traffic, poll
 * each workload until it has rotated N times (default 2) with notAfter moving
 * forward, and read the client's counters. Exit 0 only if every rotation
 * happened and no request failed.
 */
import { parseDuration } from '../stack/duration.js';
import { COMMON_HELP, parseCli, positiveInt } from './lib/cli/flags.js';
import { createUi, main, table } from './lib/cli/ui.js';
import { loadStack } from './lib/workloads/handles.js';
import { observeRotations } from './lib/workloads/rotation-check.js';

const HELP = `Usage: tsx scripts/check-rotation.ts [--rotations N] [--timeout 10m] [--prefix NAME] [--json]

  --rotations N   rotations to observe per workload (default 2)
  --timeout DUR   give up after this long (default: enough for N renewals at 2/3 of the
                  stack's default lifetime, plus a margin)
${COMMON_HELP}`;

await main(async () => {
  const cli = parseCli(process.argv.slice(2), { rotations: { type: 'string' }, timeout: { type: 'string' } }, HELP);
  if (cli.help) return void console.log(HELP);
  const rotations = positiveInt('rotations', cli.values.rotations, 2);
  const stack = await loadStack(cli.prefix);
  const lifetimeS = parseDuration(stack.outputs.cert_lifetimes.default);
  const timeoutS = cli.values.timeout ? parseDuration(String(cli.values.timeout)) : Math.ceil(rotations * lifetimeS * 0.75 + lifetimeS / 2 + 30);
  const ui = createUi({ json: cli.json });
  if (!cli.json)
    ui.info(
      `watching ${stack.workloads.length} workloads for ${rotations} rotation(s) each (up to ${timeoutS} s; certificates live ${stack.outputs.cert_lifetimes.default})`,
    );
  const report = await ui.step('observe rotations under traffic', () =>
    observeRotations(stack, {
      rotations,
      timeoutMs: timeoutS * 1000,
      onChange: (w, e) => {
        if (!cli.json) ui.info(`  ${e.seenAt}  ${w.padEnd(8)} serving ${e.serial} until ${e.notAfter}`);
      },
    }),
  );
  if (cli.json) console.log(JSON.stringify(report, null, 2));
  else {
    console.log(
      table(
        report.workloads.map((w) => ({
          workload: w.workload,
          rotations: w.rotations,
          'notAfter forward': w.notAfterMonotonic ? 'yes' : 'NO',
          serials: w.timeline.length,
        })),
      ),
    );
    console.log(`traffic: ${report.traffic.successes} ok, ${report.traffic.failures} failed in ${report.elapsedSeconds.toFixed(0)} s`);
    for (const p of report.problems) console.error(`problem: ${p}`);
  }
  if (!report.ok) process.exitCode = 1;
});
