import path from 'node:path';

import { $, fs } from 'zx';

import { UserError } from '../cli/ui.js';
import type { CachePaths } from './cache.js';

/**
 * Go is only a tool here: it builds third-party binaries from the Go module
 * proxy. Its module and build caches live in the project's cache, so nothing
 * under $HOME/go is touched, and static binaries (CGO off) run in any image.
 */
export function goEnv(paths: CachePaths): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // GOPATH too: Go keeps its checksum-database state under $GOPATH/pkg/sumdb.
    GOPATH: path.dirname(paths.goModCache),
    GOMODCACHE: paths.goModCache,
    GOCACHE: paths.goBuildCache,
    GOFLAGS: '-buildvcs=false -trimpath',
    CGO_ENABLED: '0',
  };
}

async function requireGo(): Promise<void> {
  const go = await $({ quiet: true, nothrow: true })`go version`;
  if (go.exitCode !== 0) {
    throw new UserError('Go is needed to build the offline toolchain but `go` is not on PATH. Install Go >= 1.25 (https://go.dev/dl/) and run this again.');
  }
}

/** Downloads one module version through the proxy; returns its source dir. */
export async function goModDownload(paths: CachePaths, module: string, version: string): Promise<string> {
  await requireGo();
  const out = await $({ quiet: true, nothrow: true, env: goEnv(paths), timeout: '15m' })`go mod download -json ${`${module}@${version}`}`;
  const info = safeJson(out.stdout) as { Dir?: string; Error?: string } | undefined;
  if (out.exitCode !== 0 || !info?.Dir) {
    throw new UserError(
      `the Go module proxy did not serve ${module}@${version}: ${info?.Error ?? out.stderr.trim()}. ` +
        'Check GOPROXY (go env GOPROXY) and that the proxy is reachable.',
    );
  }
  return info.Dir;
}

/**
 * Builds `pkg` inside a downloaded module (so the module's own go.mod,
 * including any replace directives, is honoured) and moves the binary into
 * place only when the build succeeded: a cached path is always complete.
 */
export async function goBuildInModule(
  paths: CachePaths,
  opts: { module: string; version: string; pkg: string; output: string; logName: string; ldflags?: string },
): Promise<void> {
  const dir = await goModDownload(paths, opts.module, opts.version);
  await fs.mkdirp(path.dirname(opts.output));
  await fs.mkdirp(paths.logs);
  const partial = `${opts.output}.partial-${process.pid}`;
  const log = path.join(paths.logs, `${opts.logName}.log`);
  const ldflags = opts.ldflags ? ['-ldflags', opts.ldflags] : [];
  const build = await $({ quiet: true, nothrow: true, cwd: dir, env: goEnv(paths), timeout: '40m' })`go build ${ldflags} -o ${partial} ${opts.pkg}`;
  await fs.writeFile(log, build.stdout + build.stderr);
  if (build.exitCode !== 0) {
    await fs.remove(partial);
    throw new UserError(
      `building ${opts.module}@${opts.version} failed (see ${log}). Delete ${paths.goBuildCache} if the build cache is corrupt and run this again.`,
    );
  }
  await fs.move(partial, opts.output, { overwrite: true });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
