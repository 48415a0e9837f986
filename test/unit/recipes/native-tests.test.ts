// The recipes' own unit tests, in their own languages (certificates made at
// test time, no containers): Go's `go test` and Python's unittest. They run
// here so that `npm test` covers them; their output is shown when they fail.
import path from 'node:path';

import { describe, expect, it } from 'vitest';
import { $ } from 'zx';

import { inGoRecipe } from './helpers/go-recipe.js';

const recipes = path.resolve(import.meta.dirname, '../../../recipes');

describe('recipe unit tests', { timeout: 300_000 }, () => {
  it('Go: go test ./... in recipes/go (standard library only, no downloads)', async () => {
    const out = await inGoRecipe`go test -count=1 ./...`;
    expect(out.exitCode, out.stdout + out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^ok\s+mtls-reference\/recipes\/go\b/m);
  });

  it('Python: python3 -m unittest in recipes/python', async () => {
    const env = { ...process.env, PYTHONDONTWRITEBYTECODE: '1' };
    const out = await $({ cwd: path.join(recipes, 'python'), env, nothrow: true, quiet: true })`python3 -m unittest discover -s tests -t . -v`;
    expect(out.exitCode, out.stdout + out.stderr).toBe(0);
    expect(out.stderr).toMatch(/^Ran (\d+) tests? in/m);
    expect(Number(/^Ran (\d+) tests?/m.exec(out.stderr)?.[1])).toBeGreaterThanOrEqual(10);
    expect(out.stderr).toMatch(/^OK$/m);
  });
});
