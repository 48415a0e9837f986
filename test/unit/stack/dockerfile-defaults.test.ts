// Each Dockerfile's base-image ARG default is the official image versions.ts
// names for it: `docker build` by hand and the stack build the same thing.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { TECHNOLOGIES, imageFolder } from '../../../stack/technologies.js';
import { OFFICIAL_IMAGES } from '../../../stack/versions.js';
import { PROJECT_DIR } from './fixtures.js';

const recipes = [
  { dir: 'services/step-ca', baseImageArgs: { STEP_CA_IMAGE: 'stepCa' } },
  ...new Map(Object.values(TECHNOLOGIES).map((t) => [imageFolder(t.image), { dir: imageFolder(t.image), baseImageArgs: t.image.baseImageArgs }])).values(),
] as const;

describe.each(recipes.map((r) => [r.dir, r] as const))('%s/Dockerfile', (dir, recipe) => {
  const text = readFileSync(path.join(PROJECT_DIR, dir, 'Dockerfile'), 'utf8');
  it.each(Object.entries(recipe.baseImageArgs))('ARG %s defaults to the official %s image', (arg, key) => {
    const m = new RegExp(`^ARG ${arg}=(\\S+)$`, 'm').exec(text);
    expect(m?.[1], `ARG ${arg} in ${dir}/Dockerfile`).toBe(OFFICIAL_IMAGES[key as keyof typeof OFFICIAL_IMAGES]);
    expect(text).toMatch(new RegExp(`^FROM \\$\\{${arg}\\}`, 'm'));
  });
});

describe.each(recipes.map((r) => [r.dir] as const))('%s/Dockerfile labels', (dir) => {
  it('its final stage applies the project and prefix labels from build args (leftovers are found by label)', () => {
    const text = readFileSync(path.join(PROJECT_DIR, dir, 'Dockerfile'), 'utf8');
    const lastStage = text.slice(text.lastIndexOf('\nFROM '));
    expect(lastStage).toMatch(/^ARG MTLS_PREFIX=/m);
    expect(lastStage).toMatch(/^LABEL .*io\.mtls-reference\.project=\$MTLS_PROJECT .*io\.mtls-reference\.prefix=\$MTLS_PREFIX/m);
  });
});
