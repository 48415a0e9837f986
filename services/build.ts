// Bundles the three entry points into self-contained ESM files for the
// workload image: `npx tsx services/build.ts` → services/workload/dist/.
// Node built-ins stay external; there is nothing else to bundle. Output is
// deterministic: no timestamps, no absolute paths (absWorkingDir is the repo).
import { build } from 'esbuild';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const servicesDir = dirname(fileURLToPath(import.meta.url));
const repoDir = resolve(servicesDir, '..');

export const ENTRY_POINTS = {
  server: 'services/server/main.ts',
  client: 'services/client/main.ts',
  probe: 'services/probe/main.ts',
} as const;

export interface BuildServicesOptions {
  /** @default services/workload/dist */
  readonly outDir?: string;
}

/** Returns the paths of the written bundles (server, client, probe). */
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
    charset: 'utf8',
    // The probe carries the bash health check (services/probe/mtls-health.sh) as a string.
    loader: { '.sh': 'text' },
    logLevel: 'warning',
  });
  return Object.keys(ENTRY_POINTS).map((name) => join(outDir, `${name}.mjs`));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const written = await buildServices();
  for (const file of written) process.stdout.write(`${relative(process.cwd(), file)}\n`);
}
