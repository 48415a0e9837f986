#!/usr/bin/env tsx
/**
 * `npm run deploy` / `npm run destroy`: the stack named by MTLS_PREFIX
 * (default "mtls"), synthesized by the CDKTF app and applied by the engine,
 * with the toolchain's environment (scripts/lib/deploy/stack-instance.ts cdktf()).
 *
 *   tsx scripts/cdktf.ts deploy|destroy|synth|diff
 */
import { parseArgs } from 'node:util';
import { resolvePrefix } from '../stack/names.js';
import { engineSettings } from './lib/cli/flags.js';
import { buildServices, cdktf } from './lib/deploy/stack-instance.js';
import { ensureToolchain } from './lib/toolchain/index.js';
import { createUi, main, UserError } from './lib/cli/ui.js';

const HELP = `Usage: tsx scripts/cdktf.ts <deploy|destroy|synth|diff> [--prefix NAME] [--allow-engine-switch]

Synthesizes one stack with the CDKTF app (cdktf.json's "app") and runs the
engine on it, with the toolchain's environment (installing the toolchain first
if needed); deploy then waits until every container passes its health check.
The prefix defaults to $MTLS_PREFIX or "mtls".

The engine is MTLS_IAC=terraform|tofu (default: tofu on PATH, then terraform
on PATH, else OpenTofu built by the toolchain). A stack whose state records the
other engine is refused unless --allow-engine-switch (or MTLS_IAC_SWITCH=1).`;

await main(async () => {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      prefix: { type: 'string' },
      'allow-engine-switch': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void console.log(HELP);
  const verb = positionals[0];
  if (verb !== 'deploy' && verb !== 'destroy' && verb !== 'synth' && verb !== 'diff') {
    throw new UserError(`unknown command "${verb ?? ''}"; expected deploy, destroy, synth or diff.\n\n${HELP}`);
  }
  let prefix: string;
  try {
    prefix = resolvePrefix(values.prefix, process.env.MTLS_PREFIX);
  } catch (err) {
    throw new UserError((err as Error).message);
  }
  const { engine, allowEngineSwitch } = engineSettings(process.env, { allowEngineSwitch: values['allow-engine-switch'] });
  const ui = createUi();
  const { toolchain } = await ensureToolchain(createUi({ quiet: true }), { engine });
  if (verb === 'deploy' || verb === 'diff') await ui.step('bundle services', buildServices);
  await cdktf(verb, { prefix }, { engine: toolchain!.terraform, allowEngineSwitch });
});
