// Each Dockerfile's base-image ARG default is the official image versions.ts
// names for it: `docker build` by hand and the stack build the same thing; and
// each ends with the same label lines.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { LABEL, PROJECT } from '../../../common/facts.js';
import { parseDuration } from '../../../stack/duration.js';
import { HEALTH_CHECK, imageFolder, TECHNOLOGIES } from '../../../stack/technologies.js';
import { OFFICIAL_IMAGES } from '../../../stack/versions.js';
import { PROJECT_DIR } from './fixtures.js';

const recipes = [
  { dir: 'images/step-ca', baseImageArgs: { STEP_CA_IMAGE: 'stepCa' } },
  ...new Map(Object.values(TECHNOLOGIES).map((t) => [imageFolder(t.image), { dir: imageFolder(t.image), baseImageArgs: t.image.baseImageArgs }])).values(),
] as const;

describe.each(recipes.map((r) => [r.dir, r] as const))('%s/Dockerfile', (dir, recipe) => {
  const text = readFileSync(path.join(PROJECT_DIR, dir, 'Dockerfile'), 'utf8');
  it.each(Object.entries(recipe.baseImageArgs))('ARG %s defaults to the official %s image', (arg, key) => {
    const m = new RegExp(`^ARG ${arg}=(\\S+)$`, 'm').exec(text);
    expect(m?.[1], `ARG ${arg} in ${dir}/Dockerfile`).toBe(OFFICIAL_IMAGES[key]);
    expect(text).toMatch(new RegExp(`^FROM \\$\\{${arg}\\}`, 'm'));
  });
});

/**
 * The one label convention (recipes/README.md, "Image labels"): every image's
 * Dockerfile ends with these lines, which turn ServiceImage's build args into
 * the labels leftovers are found by (the provider's classic builder drops
 * build labels). Last, so that a new stack or a content change rebuilds only
 * this layer.
 */
const LABEL_LINES = [
  `# The stack's labels, the same lines in every image (recipes/README.md, "Image labels").`,
  'ARG MTLS_PROJECT=mtls-reference MTLS_PREFIX=unset MTLS_CONTENT_HASH=unset',
  `LABEL ${LABEL.project}=$MTLS_PROJECT ${LABEL.prefix}=$MTLS_PREFIX io.${PROJECT}.content-hash=$MTLS_CONTENT_HASH`,
];

describe.each(recipes.map((r) => [r.dir] as const))('%s/Dockerfile labels', (dir) => {
  it('ends with the label lines, and names no MTLS_ build arg or LABEL elsewhere', () => {
    const lines = readFileSync(path.join(PROJECT_DIR, dir, 'Dockerfile'), 'utf8')
      .trimEnd()
      .split('\n');
    expect(lines.slice(-LABEL_LINES.length)).toEqual(LABEL_LINES);
    const before = lines.slice(0, -LABEL_LINES.length);
    expect(before.filter((l) => /^(LABEL|ARG MTLS_)/.test(l))).toEqual([]);
  });
});

/**
 * An image's own HEALTHCHECK (what `docker run` by hand gets) keeps the
 * stack's schedule (HEALTH_CHECK), so an image costs the same at rest with or
 * without the stack's override.
 */
describe.each(recipes.map((r) => [r.dir] as const))('%s/Dockerfile health check', (dir) => {
  it("has the stack's schedule, or none", () => {
    const line = /^HEALTHCHECK ([^\n]*)/m.exec(readFileSync(path.join(PROJECT_DIR, dir, 'Dockerfile'), 'utf8'))?.[1];
    if (line === undefined) return;
    const flags = Object.fromEntries([...line.matchAll(/--([a-z-]+)=(\S+)/g)].map((m) => [m[1], m[2]]));
    expect(flags).toEqual({
      interval: `${parseDuration(HEALTH_CHECK.interval)}s`,
      timeout: `${parseDuration(HEALTH_CHECK.timeout)}s`,
      'start-period': `${parseDuration(HEALTH_CHECK.startPeriod)}s`,
      retries: String(HEALTH_CHECK.retries),
    });
  });
});
