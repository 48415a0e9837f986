#!/usr/bin/env tsx
/**
 * A local registry mirror serving the official image names, to run the
 * connected path (MTLS_OFFLINE=0) where no registry is reachable. Linux, root
 * (it edits /etc/docker/daemon.json and signals dockerd).
 *
 *   npx tsx scripts/registry-mirror.ts up     # seed, lock read-only, configure the engine
 *   npx tsx scripts/registry-mirror.ts down   # undo all of it
 */
import { parseArgs } from 'node:util';

import { createUi, main, UserError } from './lib/cli/ui.js';
import { DEFAULT_MIRROR_PORT } from './lib/registry-mirror/config.js';
import { mirrorDown, mirrorUp } from './lib/registry-mirror/index.js';
import { cachePaths } from './lib/toolchain/cache.js';
import { ensureToolchain } from './lib/toolchain/index.js';

const HELP = `Usage: tsx scripts/registry-mirror.ts up|down [--port N]

  up    build the offline stand-ins if needed, start a registry on 127.0.0.1:N
        with empty storage, push the stand-ins under the official names and drop
        their local tags, restart it read-only (no auth on loopback: nobody can
        push after seeding) and check it serves exactly what was pushed, then add
        it to the engine's registry-mirrors (SIGHUP, no restart)
  down  remove the mirror from the engine's configuration and stop the registry

  --port N   registry port on 127.0.0.1 (default ${DEFAULT_MIRROR_PORT})`;

await main(async () => {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { port: { type: 'string', default: String(DEFAULT_MIRROR_PORT) }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (values.help) return void console.log(HELP);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UserError(`--port must be a port number, got "${values.port}"`);
  if (process.platform !== 'linux' || process.getuid?.() !== 0)
    throw new UserError('the registry mirror edits /etc/docker/daemon.json and signals dockerd: run it as root on Linux');
  const ui = createUi();
  const paths = cachePaths();
  const [verb] = positionals;
  if (verb === 'up') {
    // The stand-ins are the offline toolchain's base images.
    await ensureToolchain(ui, { paths, mode: { mode: 'offline', why: 'building the stand-ins for the mirror', providers: 'mirror' } });
    const r = await ui.step(`registry mirror on 127.0.0.1:${port}`, () => mirrorUp(paths, { port }));
    for (const p of r.published) ui.info(`  serves ${p}`);
  } else if (verb === 'down') {
    await ui.step('removing the registry mirror', () => mirrorDown(paths, { port }));
  } else {
    throw new UserError(`expected "up" or "down", got "${verb ?? ''}"\n${HELP}`);
  }
});
