/**
 * The third-party Go modules of the gRPC recipe (recipes/go/grpc), brought to
 * its image build. The engine builds with Docker's classic builder (no extra
 * build contexts, no network in the build here), so the modules go inside
 * the build context: the module build is run once on the host against an
 * empty module cache, through the Go module proxy, and that cache's download
 * tree (a module proxy's layout: <module>/@v/list, .info, .mod, .zip) is
 * copied to recipes/go/grpc/.cache/modules (git-ignored), which the
 * Dockerfile uses as GOPROXY=file:///modules. go.sum pins every hash; the
 * tree is made again only when go.sum changes.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

import { $, fs } from 'zx';

import { UserError } from '../cli/ui.js';
import type { CachePaths } from './cache.js';
import { goEnv } from './go-build.js';

const moduleDir = path.resolve(import.meta.dirname, '../../../recipes/go/grpc');
const treeDir = path.join(moduleDir, '.cache', 'modules');
/** go.sum's hash when the tree was made. */
const stampFile = path.join(moduleDir, '.cache', 'modules.go-sum-sha256');

export interface RecipeModules {
  readonly status: 'ok' | 'built' | 'missing';
  readonly detail: string;
}

/** Fills the tree unless it matches go.sum; without Go (connected mode only) leaves it empty for proxy.golang.org. */
export async function ensureGoRecipeModules(paths: CachePaths, opts: { build: boolean; offline: boolean }): Promise<RecipeModules> {
  const sum = createHash('sha256')
    .update(await fs.readFile(path.join(moduleDir, 'go.sum')))
    .digest('hex');
  const rel = path.relative(process.cwd(), treeDir) || treeDir;
  if ((await fs.pathExists(treeDir)) && (await fs.pathExists(stampFile)) && (await fs.readFile(stampFile, 'utf8')).trim() === sum)
    return { status: 'ok', detail: `${rel} matches go.sum` };
  if (!opts.build) return { status: 'missing', detail: `${rel} not filled for this go.sum` };
  const hasGo = (await $({ quiet: true, nothrow: true })`go version`).exitCode === 0;
  if (!hasGo) {
    if (opts.offline) throw new UserError("Go is needed to fetch the gRPC recipe's modules through the Go module proxy, but `go` is not on PATH");
    await fs.mkdirp(treeDir);
    return { status: 'ok', detail: `no Go on this host: the image build fetches the modules from proxy.golang.org` };
  }
  const scratch = path.join(paths.root, 'go', `recipe-modules-${process.pid}`);
  try {
    const env = { ...goEnv(paths), GOMODCACHE: scratch, GOFLAGS: '-mod=readonly -modcacherw', GOTOOLCHAIN: 'local' };
    const out = await $({ quiet: true, nothrow: true, cwd: moduleDir, env, timeout: '15m' })`go build -o /dev/null .`;
    if (out.exitCode !== 0)
      throw new UserError(`fetching the gRPC recipe's modules failed: ${out.stderr.trim()}. Is the Go module proxy reachable (go env GOPROXY)?`);
    await fs.remove(treeDir);
    await fs.copy(path.join(scratch, 'cache', 'download'), treeDir, {
      filter: (src: string) => !/\.(lock|ziphash)$/.test(src) && !src.includes(`${path.sep}sumdb`),
    });
    await fs.writeFile(stampFile, `${sum}\n`);
    return { status: 'built', detail: `${rel} filled from the Go module proxy` };
  } finally {
    await fs.remove(scratch);
  }
}
