#!/usr/bin/env tsx
/**
 * Rotates the CA. `intermediate`: a new intermediate under the same root
 * (the root key, kept in its own volume, is mounted only into the
 * short-lived job that signs it); the running CA reloads on SIGHUP.
 * `root prepare|activate|retire`: a new root in three phases, with every app
 * trusting both roots in between (see scripts/lib/ca-rotation/root.ts).
 */
import { parseRotateCli, ROTATE_CA_HELP } from './lib/ca-rotation/cli.js';
import { rotateIntermediate } from './lib/ca-rotation/intermediate.js';
import { activateRoot, type PhaseResult, prepareRoot, retireRoot } from './lib/ca-rotation/root.js';
import { createUi, main, table } from './lib/cli/ui.js';
import { loadStack } from './lib/workloads/handles.js';

const NEXT: Record<PhaseResult['phase'], string> = {
  prepare: 'next: npm run rotate-ca -- root activate (at least 15 s from now, once every app has loaded both roots; it checks every workload again)',
  activate: 'next: workloads renew onto the new root at their normal schedule (npm run status); then npm run rotate-ca -- root retire',
  retire: 'done: the old root is trusted nowhere; npm run bootstrap-trust now pins the new fingerprint',
};

await main(async () => {
  const cli = parseRotateCli(process.argv.slice(2));
  if (cli.help) return void console.log(ROTATE_CA_HELP);
  const ui = createUi({ json: cli.json });
  const stack = await loadStack(cli.prefix);
  if (cli.command !== 'intermediate') {
    const run = { 'root-prepare': prepareRoot, 'root-activate': activateRoot, 'root-retire': retireRoot }[cli.command!];
    const result = await run(stack, ui);
    if (cli.json) return void console.log(JSON.stringify(result, null, 2));
    console.log(table([{ phase: result.phase, now: result.state, 'old root': result.oldFingerprint, 'new root': result.newFingerprint }]));
    for (const a of result.actions) console.log(`- ${a}`);
    return void console.log(NEXT[result.phase]);
  }
  const result = await rotateIntermediate(stack, ui);
  if (cli.json) return void console.log(JSON.stringify(result, null, 2));
  console.log(
    table([
      { intermediate: 'old', serial: result.old.serial, 'sha-256 fingerprint': result.old.fingerprint, 'not after': result.old.notAfter },
      { intermediate: 'new', serial: result.new.serial, 'sha-256 fingerprint': result.new.fingerprint, 'not after': result.new.notAfter },
    ]),
  );
  for (const a of result.actions) console.log(`- ${a}`);
  console.log(`root unchanged: ${result.rootFingerprint}`);
  console.log(
    `workloads move to the new intermediate at their next renewal; leaves under the old one stay valid until they expire (check: npm run check-rotation -- --prefix ${stack.prefix})`,
  );
});
