#!/usr/bin/env tsx
/**
 * Rotates the CA's intermediate under the same root: the root key, kept in
 * its own volume, is mounted only into the short-lived job that signs the new
 * intermediate; the running CA reloads on SIGHUP. Leaves issued under the old
 * intermediate stay valid until they expire; renewals come back under the new
 * one. Root rotation is not implemented yet.
 */
import { rotateIntermediate } from './lib/ca-rotation.js';
import { parseRotateCli, ROTATE_CA_HELP } from './lib/rotate-ca-cli.js';
import { createUi, main, table } from './lib/ui.js';
import { loadStack } from './lib/workloads.js';

await main(async () => {
  const cli = parseRotateCli(process.argv.slice(2));
  if (cli.help) return void console.log(ROTATE_CA_HELP);
  const ui = createUi({ json: cli.json });
  const stack = await loadStack(cli.prefix);
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
  console.log(`workloads move to the new intermediate at their next renewal; leaves under the old one stay valid until they expire (check: npm run check-rotation -- --prefix ${stack.prefix})`);
});
