// Go tools on the Go recipe, run one way by every unit test: the `go` on
// PATH with its own toolchain only (GOTOOLCHAIN=local), no module downloads
// (GOPROXY=off: the recipe uses the standard library only), CGO off.
import path from 'node:path';

import { $ } from 'zx';

export const GO_RECIPE_DIR = path.resolve(import.meta.dirname, '../../../../recipes/go');

/** zx in the Go recipe's folder with Go's environment pinned; quiet, never throws. */
export const inGoRecipe = $({
  cwd: GO_RECIPE_DIR,
  env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=mod', GOPROXY: 'off', CGO_ENABLED: '0' },
  nothrow: true,
  quiet: true,
});

/** The gofmt of that same Go installation: it sits in GOROOT/bin, which need not be on PATH. */
export async function gofmtBinary(): Promise<string> {
  const goroot = await inGoRecipe`go env GOROOT`;
  if (goroot.exitCode !== 0) throw new Error(`go env GOROOT failed (is Go on PATH?): ${goroot.stderr.trim()}`);
  return path.join(goroot.stdout.trim(), 'bin', 'gofmt');
}
