#!/usr/bin/env tsx
/** Status of every workload: identity, certificate, time left, next renewal, reloads, traffic. */
import { rootLine, rootState } from './lib/ca-rotation/root.js';
import { COMMON_HELP, parseCli } from './lib/cli/flags.js';
import { main, table } from './lib/cli/ui.js';
import { engineLine, engineReport } from './lib/deploy/engine-report.js';
import { loadStack } from './lib/workloads/handles.js';
import { appHealthNotes, caIntermediate, renewerNotes, stackStatus, statusRows } from './lib/workloads/status.js';

const HELP = `Usage: tsx scripts/status.ts [--prefix NAME] [--json]

${COMMON_HELP}`;

await main(async () => {
  const cli = parseCli(process.argv.slice(2), {}, HELP);
  if (cli.help) return void console.log(HELP);
  const stack = await loadStack(cli.prefix);
  // The CA may be down (that is when status matters most): its root is then unknown, not an error.
  const [rows, engine, intermediate, root] = await Promise.all([
    stackStatus(stack),
    engineReport(stack.prefix),
    caIntermediate(stack),
    rootState(stack).catch((err: Error) => ({ error: err.message })),
  ]);
  const rootRotation =
    'error' in root
      ? root
      : {
          phase: root.phase,
          root: root.current.fingerprint,
          ...(root.next ? { newRoot: root.next.fingerprint } : {}),
          ...(root.trust ? { trust: root.trust } : {}),
        };
  // A renewer that cannot renew without an operator is a failure to report.
  if (rows.some((r) => r.renewer?.verdict === 'unusable')) process.exitCode = 1;
  if (cli.json)
    return void console.log(
      JSON.stringify(
        { prefix: stack.prefix, caUrl: stack.outputs.ca_host_url, caIntermediate: intermediate, caRoot: rootRotation, engine, workloads: rows },
        null,
        2,
      ),
    );
  const ca =
    stack.outputs.ca_host_url ||
    (stack.outputs.ca_service ? `service ${stack.outputs.ca_service.namespace}/${stack.outputs.ca_service.name} on Kubernetes` : '');
  console.log(`stack ${stack.prefix}: CA ${ca}, ${stack.workloads.length} workloads`);
  console.log(engineLine(engine));
  console.log(
    'error' in intermediate
      ? `CA intermediate: unknown (${intermediate.error})`
      : `CA intermediate: serial ${intermediate.serial}, not after ${intermediate.notAfter} (npm run rotate-ca -- intermediate replaces it)`,
  );
  console.log('error' in rootRotation ? `CA root: unknown (${rootRotation.error})` : rootLine(rootRotation));
  console.log(table(statusRows(rows)));
  for (const note of [...appHealthNotes(rows), ...renewerNotes(rows)]) console.log(note);
});
