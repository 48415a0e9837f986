import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { cacheDir, cachePaths } from '../../../../scripts/lib/toolchain/cache.js';

describe('cacheDir', () => {
  it('uses MTLS_CACHE_DIR first, resolved to an absolute path', () => {
    expect(cacheDir({ MTLS_CACHE_DIR: '/srv/cache', XDG_CACHE_HOME: '/xdg' })).toBe('/srv/cache');
    expect(cacheDir({ MTLS_CACHE_DIR: 'rel/cache' })).toBe(path.resolve('rel/cache'));
  });

  it('uses XDG_CACHE_HOME next, under the project name', () => {
    expect(cacheDir({ XDG_CACHE_HOME: '/xdg' })).toBe('/xdg/mtls-reference');
    expect(cacheDir({ MTLS_CACHE_DIR: '', XDG_CACHE_HOME: '/xdg' })).toBe('/xdg/mtls-reference');
  });

  it('falls back to ~/.cache/mtls-reference', () => {
    expect(cacheDir({})).toBe(path.join(os.homedir(), '.cache', 'mtls-reference'));
    expect(cacheDir({ XDG_CACHE_HOME: '' })).toBe(path.join(os.homedir(), '.cache', 'mtls-reference'));
  });
});

describe('cachePaths', () => {
  it('lays everything out under the one root', () => {
    const paths = cachePaths('/c');
    expect(paths).toMatchObject({
      root: '/c',
      bin: '/c/bin',
      terraformMirror: '/c/terraform/mirror',
      terraformCliConfig: '/c/terraform/cli.tfrc',
      terraformPluginCache: '/c/terraform/plugin-cache',
      resolved: '/c/toolchain.json',
    });
    for (const value of Object.values(paths)) expect(value.startsWith('/c')).toBe(true);
  });
});
