// Bundles the entry points into self-contained ESM files for the
// workload image, beside the image's bash health check:
// `npx tsx services/build.ts` → services/workload/dist/.
// Node built-ins stay external; the Express and axios workloads' packages
// are bundled in (see REQUIRE_BANNER). Output is deterministic: no
// timestamps, no absolute paths (absWorkingDir is the repo).
import { chmod, copyFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { build } from 'esbuild';

const servicesDir = dirname(fileURLToPath(import.meta.url));
const repoDir = resolve(servicesDir, '..');

export const ENTRY_POINTS = {
  server: 'services/server/main.ts',
  client: 'services/client/main.ts',
  probe: 'services/probe/main.ts',
  'express-server': 'services/express/main.ts',
  'axios-client': 'services/axios/main.ts',
} as const;

/**
 * Express, axios and the packages they load are CommonJS. Bundled into an ES
 * module, their require() of a Node built-in goes through esbuild's
 * __require, which uses a `require` in scope when there is one and otherwise
 * throws `Dynamic require of "http" is not supported` (an ES module has no
 * `require`). This line at the top of every bundle gives them Node's own.
 */
const REQUIRE_BANNER = 'import { createRequire as __createRequire } from "node:module";\nconst require = __createRequire(import.meta.url);';

export interface BuildServicesOptions {
  /** @default services/workload/dist */
  readonly outDir?: string;
}

/** The Docker health check of the workload image (bash: no Node process per check). */
export const HEALTH_SCRIPT = { source: 'services/probe/mtls-health.sh', name: 'mtls-health.sh' } as const;

/** Returns the paths of the written files (one bundle per entry point, the health check). */
export async function buildServices(options: BuildServicesOptions = {}): Promise<string[]> {
  const outDir = resolve(options.outDir ?? join(servicesDir, 'workload', 'dist'));
  await build({
    absWorkingDir: repoDir,
    entryPoints: ENTRY_POINTS,
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    // Both base images (official and offline) run Node 24 LTS.
    target: 'node24',
    sourcemap: false,
    minify: false,
    legalComments: 'none',
    banner: { js: REQUIRE_BANNER },
    charset: 'utf8',
    logLevel: 'warning',
  });
  const health = join(outDir, HEALTH_SCRIPT.name);
  await copyFile(join(repoDir, HEALTH_SCRIPT.source), health);
  await chmod(health, 0o755);
  return [...Object.keys(ENTRY_POINTS).map((name) => join(outDir, `${name}.mjs`)), health];
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const written = await buildServices();
  for (const file of written) process.stdout.write(`${relative(process.cwd(), file)}\n`);
}
