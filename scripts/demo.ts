#!/usr/bin/env tsx
/**
 * The README's first command: toolchain → deploy → bootstrap trust → enroll
 * (until every workload serves and every client has been answered once) →
 * status → live traffic through one observed rotation → a summary of what
 * was proven. Calls count from the moment every server has answered once;
 * retries while a server was still starting are shown on their own line.
 * Leaves the stack running; `npm run destroy` takes it down.
 */
import { readSettings, settingsHelp } from '../settings.js';
import { parseDuration } from '../stack/duration.js';
import { loadMesh } from '../stack/mesh-file.js';
import { bootstrapTrust } from './lib/ca/trust-bootstrap.js';
import { COMMON_FLAGS_HELP, engineSettings, parseCli } from './lib/cli/flags.js';
import { createUi, main, seconds, table } from './lib/cli/ui.js';
import { buildServices, cdktf, type StackSettings } from './lib/deploy/stack-instance.js';
import { assertEnrolled, enrollAll } from './lib/identity/enrollment.js';
import { ensureToolchain } from './lib/toolchain/index.js';
import { meshScope } from './lib/toolchain/scope.js';
import { loadStack } from './lib/workloads/handles.js';
import { waitForWorkloads } from './lib/workloads/readiness.js';
import { observeRotations, untilEveryClientAnswered } from './lib/workloads/rotation-check.js';
import { stackStatus, statusRows } from './lib/workloads/status.js';

/** Short enough that a rotation is seen within a couple of minutes. */
const DEMO_CERT_LIFETIME = '2m';

const HELP = `Usage: npm run demo [-- --prefix NAME]

Brings the whole system up and shows it working. Certificates live
MTLS_CERT_LIFETIME (${DEMO_CERT_LIFETIME} for the demo unless set) so a rotation is seen within
a couple of minutes. The stack stays up; take it down with npm run destroy.
${COMMON_FLAGS_HELP}

${settingsHelp('stack')}`;

/** How long the clients may take to get their first answer once every workload is ready. */
const FIRST_ANSWER_TIMEOUT_MS = 60_000;

await main(async () => {
  const cli = parseCli(process.argv.slice(2), {}, HELP);
  if (cli.help) return void console.log(HELP);
  const started = Date.now();
  const ui = createUi({ json: cli.json });
  const say = (s: string) => {
    if (!cli.json) console.log(s);
  };

  // The mesh first: a mistake in a mesh file stops the demo before anything is built.
  const chosen = readSettings();
  const mesh = await loadMesh(chosen.mesh);
  say('1/6 toolchain: Docker engine, Terraform or OpenTofu, provider, step, base images');
  const { engine, allowEngineSwitch } = engineSettings(process.env);
  const { toolchain } = await ensureToolchain(ui, { engine, scope: meshScope(mesh.spec) });
  const iac = toolchain!.terraform;

  const settings: StackSettings = {
    ...chosen,
    prefix: cli.prefix,
    certLifetime: chosen.certLifetime ?? DEMO_CERT_LIFETIME,
    minCertLifetime: chosen.minCertLifetime ?? '1m',
  };
  say(
    `2/6 deploy stack "${settings.prefix}" with cdktf and ${iac.flavour} ${iac.version} (the CA and every workload of ${mesh.source}, each with its renewer)`,
  );
  await ui.step('bundle services', buildServices);
  await ui.step('deploy (synth, apply, every container up)', () => cdktf('deploy', settings, { quiet: true, engine: iac, allowEngineSwitch }));

  say('3/6 bootstrap trust: root fingerprint over the admin channel, root over the CA API, compared');
  const trust = await bootstrapTrust(settings.prefix, { json: cli.json });

  say('4/6 enroll: one-time tokens minted in the CA, keys generated inside each workload; then every workload serves and every client is answered once');
  const stack = await loadStack(settings.prefix);
  const enrolled = await ui.step('enroll workloads', () => enrollAll(stack, stack.workloads));
  assertEnrolled(enrolled);
  await ui.step('every workload serving or calling with its certificate', () => waitForWorkloads(stack.workloads));
  const firstAnswers = await ui.step('every client answered once', () => untilEveryClientAnswered(stack, { timeoutMs: FIRST_ANSWER_TIMEOUT_MS }));
  for (const a of firstAnswers.filter((x) => x.startupRetries > 0 || x.failed > 0)) {
    say(
      `   start-up: ${a.client} → ${a.server} retried ${a.startupRetries} call(s) while the server was still starting${a.failed ? `; ${a.failed} call(s) failed` : ''}`,
    );
  }

  say('5/6 status');
  const status = await stackStatus(stack);
  say(table(statusRows(status)));

  const lifetime = parseDuration(stack.outputs.cert_lifetimes.default);
  say(`6/6 live traffic: waiting for every certificate to rotate once (renewal at ~2/3 of ${stack.outputs.cert_lifetimes.default})`);
  const report = await ui.step('observe one rotation per workload', () =>
    observeRotations(stack, {
      rotations: 1,
      timeoutMs: (lifetime + 60) * 1000,
      onChange: (w, e) => say(`   ${e.seenAt}  ${w.padEnd(14)} now uses ${e.serial.slice(0, 16)}… until ${e.notAfter}`),
    }),
  );

  const summary = {
    prefix: stack.prefix,
    ok: report.ok,
    rootFingerprint: trust.fingerprint,
    enrolled: enrolled.map((e) => ({ workload: e.workload, identities: e.identities, serial: e.serial, keyMode: e.keyMode })),
    startup: firstAnswers,
    rotations: report.workloads.map((w) => ({ workload: w.workload, rotations: w.rotations, notAfterMovedForward: w.notAfterMonotonic })),
    traffic: report.traffic,
    calls: report.calls,
    problems: report.problems,
    seconds: (Date.now() - started) / 1000,
  };
  if (cli.json) console.log(JSON.stringify(summary, null, 2));
  else {
    say('');
    say('What this run proved:');
    say(`  • the CA's root was accepted only because its SHA-256 matched ${trust.fingerprint.slice(0, 16)}…`);
    for (const e of enrolled)
      say(`  • ${e.workload}: certificate ${e.serial?.slice(0, 12)}… for ${e.identities.join(', ')}; key made in the workload, mode 0${e.keyMode}`);
    for (const w of report.workloads)
      say(`  • ${w.workload}: ${w.rotations} rotation(s) picked up by the running process, notAfter moved forward: ${w.notAfterMonotonic ? 'yes' : 'NO'}`);
    for (const c of report.calls) say(`  • ${c.client} → ${c.server} over mTLS: ${c.ok} calls succeeded, ${c.failed} failed during the rotation window`);
    const startupRetries = firstAnswers.reduce((n, a) => n + a.startupRetries, 0);
    say(
      `  • before every server had answered once: ${startupRetries} start-up retr${startupRetries === 1 ? 'y' : 'ies'}, ${firstAnswers.reduce((n, a) => n + a.failed, 0)} failed call(s)`,
    );
    for (const p of report.problems) say(`  ✘ ${p}`);
    say('');
    say(`done in ${seconds(started)}. The stack is still running:`);
    say(`  npm run status            # certificates, renewals, traffic`);
    say(`  npm run issue-cert -- operator   # a host identity, and the curl/psql lines to call every server`);
    say(`  npm run check-rotation    # watch two more rotations under load`);
    say(`  npm run destroy           # take it all down`);
  }
  if (!report.ok || firstAnswers.some((a) => a.failed > 0)) process.exitCode = 1;
});
