#!/usr/bin/env tsx
/**
 * `npm run deploy` / `npm run destroy`: the stack named by MTLS_PREFIX
 * (default "mtls"), synthesized by the CDKTF app and applied by the engine,
 * with the toolchain's environment (scripts/lib/deploy/stack-instance.ts cdktf()).
 *
 *   tsx scripts/cdktf.ts deploy|destroy|synth|diff
 */
import { parseArgs } from 'node:util';

import { readSettings, settingsHelp } from '../settings.js';
import { loadMesh } from '../stack/mesh-file.js';
import { engineSettings, resolvePrefix } from './lib/cli/flags.js';
import { createUi, main, UserError } from './lib/cli/ui.js';
import { buildServices, cdktf } from './lib/deploy/stack-instance.js';
import { ensureToolchain } from './lib/toolchain/index.js';
import { meshScope } from './lib/toolchain/scope.js';

const HELP = `Usage: tsx scripts/cdktf.ts <deploy|destroy|synth|diff> [--prefix NAME] [--allow-engine-switch]

Synthesizes one stack with the CDKTF app (cdktf.json's "app") and runs the
engine on it, with the toolchain's environment (installing the toolchain first
if needed); deploy then waits until every container passes its health check.
A stack whose state records the other engine is refused unless
--allow-engine-switch (or MTLS_IAC_SWITCH=1).

${settingsHelp('stack')}`;

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
  const prefix = resolvePrefix(values.prefix);
  const { engine, allowEngineSwitch } = engineSettings(process.env, { allowEngineSwitch: values['allow-engine-switch'] });
  const ui = createUi();
  const settings = { ...readSettings(), prefix };
  // The mesh first: a mistake in a mesh file stops the command before anything is built; the toolchain makes what it needs.
  const mesh = await loadMesh(settings.mesh);
  const { toolchain } = await ensureToolchain(createUi({ quiet: true }), { engine, scope: meshScope(mesh.spec) });
  if (verb === 'deploy' || verb === 'diff') await ui.step('bundle services', buildServices);
  await cdktf(verb, settings, { engine: toolchain!.terraform, allowEngineSwitch });
});
