#!/usr/bin/env tsx
/**
 * `npm run deploy` / `npm run destroy`: cdktf with the toolchain's
 * environment, for the stack named by MTLS_PREFIX (default "mtls").
 *
 *   tsx scripts/cdktf.ts deploy|destroy|synth|diff
 */
import { parseArgs } from 'node:util';
import { buildServices, cdktf } from './lib/stack.js';
import { ensureToolchain } from './lib/toolchain/index.js';
import { createUi, main, UserError } from './lib/ui.js';

const HELP = `Usage: tsx scripts/cdktf.ts <deploy|destroy|synth|diff> [--prefix NAME]

Runs cdktf for one stack with the toolchain's environment (installing the
toolchain first if needed). The prefix defaults to $MTLS_PREFIX or "mtls".`;

await main(async () => {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { prefix: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) return void console.log(HELP);
  const verb = positionals[0];
  if (verb !== 'deploy' && verb !== 'destroy' && verb !== 'synth' && verb !== 'diff') {
    throw new UserError(`unknown command "${verb ?? ''}"; expected deploy, destroy, synth or diff.\n\n${HELP}`);
  }
  const ui = createUi();
  await ensureToolchain(createUi({ quiet: true }));
  if (verb === 'deploy' || verb === 'diff') await ui.step('bundle services', buildServices);
  const prefix = values.prefix ?? process.env.MTLS_PREFIX ?? 'mtls';
  await cdktf(verb, { prefix });
});
