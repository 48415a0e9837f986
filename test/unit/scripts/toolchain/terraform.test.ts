// The Terraform CLI pieces that need neither a binary nor the network: version
// ordering and the project's own CLI configuration file.
import { mkdtemp, readFile, rm, stat, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { type CachePaths, cachePaths } from '../../../../scripts/lib/toolchain/cache.js';
import { compareVersions, writeCliConfig } from '../../../../scripts/lib/toolchain/terraform.js';

describe('compareVersions', () => {
  it.each([
    ['1.10.0', '1.9.9'],
    ['v1.10.0', '1.9.9'],
    ['1.5.1', '1.5.0'],
    ['2.0.0', '1.99.99'],
    ['1.5.0', '1.4'],
    ['1.6.0-rc1', '1.5.9'],
  ])('%s is newer than %s', (newer, older) => {
    expect(compareVersions(newer, older)).toBeGreaterThan(0);
    expect(compareVersions(older, newer)).toBeLessThan(0);
  });

  it.each([
    ['1.5.0', '1.5.0'],
    ['v1.5.0', '1.5.0'],
    ['1.5', '1.5.0'],
    // Only major.minor.patch count: a prerelease ranks with its release.
    ['1.6.0-rc1', '1.6.0'],
    ['1.6.0-beta2', '1.6.0-alpha1'],
  ])('%s ranks with %s', (a, b) => {
    expect(compareVersions(a, b)).toBe(0);
    expect(compareVersions(b, a)).toBe(0);
  });
});

describe('writeCliConfig', () => {
  let dir: string;
  let paths: CachePaths;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mtls-tfrc-'));
    paths = cachePaths(dir);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('offline: installs the docker provider from the mirror only, for both registry hosts', async () => {
    const file = await writeCliConfig(paths, { offline: true });
    expect(file).toBe(path.join(dir, 'terraform', 'cli.tfrc'));
    const text = await readFile(file, 'utf8');
    expect(text).toContain('filesystem_mirror {');
    expect(text).toContain(`path    = "${path.join(dir, 'terraform', 'mirror')}"`);
    expect(text).toContain('include = ["registry.terraform.io/kreuzwerker/docker", "registry.opentofu.org/kreuzwerker/docker"]');
    expect(text).not.toContain('direct');
    expect(text).not.toContain('plugin_cache_dir');
  });

  it('connected: installs directly from the registry through a plugin cache', async () => {
    const file = await writeCliConfig(paths, { offline: false });
    const text = await readFile(file, 'utf8');
    expect(text).toContain(`plugin_cache_dir = "${path.join(dir, 'terraform', 'plugin-cache')}"`);
    expect(text).toMatch(/provider_installation \{\s+direct \{\}\s+\}/);
    expect(text).not.toContain('filesystem_mirror');
    // Terraform refuses a plugin_cache_dir that does not exist.
    expect((await stat(paths.terraformPluginCache)).isDirectory()).toBe(true);
  });

  it('leaves an identical file untouched and rewrites a different one', async () => {
    const file = await writeCliConfig(paths, { offline: true });
    const longAgo = new Date('2001-02-03T04:05:06Z');
    await utimes(file, longAgo, longAgo);

    await writeCliConfig(paths, { offline: true });
    expect((await stat(file)).mtime.toISOString()).toBe(longAgo.toISOString());

    await writeCliConfig(paths, { offline: false });
    expect((await stat(file)).mtime.getTime()).toBeGreaterThan(longAgo.getTime());
    expect(await readFile(file, 'utf8')).toContain('direct {}');
  });
});
