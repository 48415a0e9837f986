// Linters for the code that is not TypeScript: shellcheck on every shell
// script (found by its shebang, so a new one is never missed), gofmt and
// go vet on the Go recipe, flake8 on the Python recipe (its settings in
// recipes/python/.flake8). The toolchain installs shellcheck and flake8 from
// Debian; Go brings gofmt. Each test fails with the tool's own findings, and
// checks it was given at least the files there are today, so it cannot pass
// by finding nothing.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { describe, expect, it } from 'vitest';
import { $ } from 'zx';

import { GO_RECIPE_DIR, gofmtBinary, inGoRecipe } from '../recipes/helpers/go-recipe.js';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const PYTHON_RECIPE_DIR = path.join(ROOT, 'recipes', 'python');
const SHEBANG = /^#!\s*(?:\/usr)?\/bin\/(?:env\s+)?(?:sh|bash|dash|ash|ksh)(?:\s|$)/;

// The project's files, tracked or new, less what git ignores (node_modules,
// build outputs such as services/workload/dist, bench/tmp), relative to ROOT.
async function projectFiles(): Promise<string[]> {
  const out = await $({ cwd: ROOT, quiet: true })`git ls-files -z --cached --others --exclude-standard`;
  return [...new Set(out.stdout.split('\0').filter(Boolean))].sort();
}

async function shellScripts(): Promise<string[]> {
  const found: string[] = [];
  for (const file of await projectFiles()) {
    const head = await readFile(path.join(ROOT, file)).then(
      (b) => b.subarray(0, 128).toString('latin1'),
      () => undefined,
    );
    if (head === undefined) continue; // listed by git but deleted from the work tree
    if (SHEBANG.test(head) || file.endsWith('.sh')) found.push(file);
  }
  return found;
}

const under = (dir: string, ext: string) => async () =>
  (await projectFiles()).filter((f) => f.startsWith(`${dir}/`) && f.endsWith(ext)).map((f) => path.relative(dir, f));

describe('linters', { timeout: 300_000 }, () => {
  it('shellcheck: every shell script of the project is clean', async () => {
    const scripts = await shellScripts();
    // Scripts without a .sh name are found by their shebang.
    expect(scripts).toEqual(expect.arrayContaining(['recipes/lib/mtls-trust', 'images/step-ca/renewer.sh', '.ci/run']));
    expect(scripts.length).toBeGreaterThanOrEqual(18);
    const out = await $({ cwd: ROOT, nothrow: true, quiet: true })`shellcheck --external-sources ${scripts}`;
    expect(out.stdout + out.stderr, `shellcheck on ${scripts.length} scripts`).toBe('');
    expect(out.exitCode).toBe(0);
  });

  it('gofmt: the Go recipe is formatted', async () => {
    const files = await under('recipes/go', '.go')();
    expect(files.length).toBeGreaterThanOrEqual(14);
    const out = await inGoRecipe`${await gofmtBinary()} -l ${files}`;
    expect(out.stderr, 'gofmt failed').toBe('');
    expect(out.exitCode).toBe(0);
    expect(out.stdout, `gofmt -l lists the files it would reformat (gofmt -d in ${GO_RECIPE_DIR} shows how)`).toBe('');
  });

  it('go vet: the Go recipe has no findings', async () => {
    const packages = await inGoRecipe`go list ./...`;
    expect(packages.exitCode, packages.stderr).toBe(0);
    expect(packages.stdout.trim().split('\n').length).toBeGreaterThanOrEqual(4);
    const out = await inGoRecipe`go vet ./...`;
    expect(out.stdout + out.stderr, 'go vet ./... in recipes/go').toBe('');
    expect(out.exitCode).toBe(0);
  });

  it('flake8: the Python recipe is clean', async () => {
    const files = await under('recipes/python', '.py')();
    expect(files.length).toBeGreaterThanOrEqual(12);
    const out = await $({ cwd: PYTHON_RECIPE_DIR, nothrow: true, quiet: true })`flake8 ${files}`;
    expect(out.stdout + out.stderr, `flake8 in ${PYTHON_RECIPE_DIR}`).toBe('');
    expect(out.exitCode).toBe(0);
  });
});
