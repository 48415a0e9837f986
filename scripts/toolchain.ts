#!/usr/bin/env tsx
/**
 * Installs and starts everything the stack needs, idempotently, and caches it
 * by version: Docker engine, Terraform CLI (or OpenTofu), the docker provider,
 * step-ca/step and base images. Offline (no registry reachable) it builds them
 * from Debian's packages and the Go module proxy.
 *
 *   npm run toolchain                # ensure everything, print a table
 *   npm run toolchain -- --check     # report only, change nothing
 *   npm run toolchain -- --print-env # shell exports for running cdktf by hand
 */
import { parseArgs } from 'node:util';

import { settingsHelp } from '../settings.js';
import { engineSettings } from './lib/cli/flags.js';
import { createUi, main, seconds, table } from './lib/cli/ui.js';
import { ensureToolchain, loadToolchain, toolchainEnv } from './lib/toolchain/index.js';

const HELP = `Usage: tsx scripts/toolchain.ts [--check] [--json] [--quiet] [--print-env]

  --check      report what is present or missing; install, build or start nothing
  --json       machine-readable report on stdout
  --quiet      print nothing but errors
  --print-env  print shell exports (TF_CLI_CONFIG_FILE, TERRAFORM_BINARY_NAME, ...)

${settingsHelp('toolchain')}`;

await main(async () => {
  const { values } = parseArgs({
    options: {
      check: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
      'print-env': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void console.log(HELP);
  if (values['print-env']) {
    const env = toolchainEnv(await loadToolchain(), {});
    for (const [k, v] of Object.entries(env)) console.log(`export ${k}=${JSON.stringify(v)}`);
    return;
  }
  const started = Date.now();
  // In --check mode the table is the whole story; per-step ticks would suggest work was done.
  const ui = createUi({ json: values.json, quiet: values.quiet || values.check });
  const { reports } = await ensureToolchain(ui, { check: values.check, engine: engineSettings(process.env).engine });
  const missing = reports.filter((r) => r.status === 'missing');
  if (values.json) {
    console.log(JSON.stringify({ ok: missing.length === 0, totalSeconds: (Date.now() - started) / 1000, steps: reports }, null, 2));
  } else if (!values.quiet) {
    console.log(table(reports.map((r) => ({ step: r.step, status: r.status, seconds: r.seconds.toFixed(1), detail: r.detail }))));
    console.log(`toolchain ${values.check ? 'check' : 'ready'} in ${seconds(started)}`);
  }
  if (values.check && missing.length) process.exitCode = 1;
});
