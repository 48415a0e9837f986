// The registry mirror that stands in for Docker Hub: official names map to
// the registry paths Docker asks a mirror for, it listens on loopback only,
// and the engine's daemon.json only ever gains and loses its one entry.
import { describe, expect, it } from 'vitest';

import {
  isEmptyConfig,
  mirrorUrl,
  parseDaemonConfig,
  registryConfig,
  registryPath,
  SERVED_IMAGES,
  withMirror,
  withoutMirror,
} from '../../../../scripts/lib/registry-mirror/config.js';
import { OFFICIAL_IMAGES } from '../../../../stack/versions.js';

describe('registryPath', () => {
  it.each([
    ['smallstep/step-ca:0.30.2', 'smallstep/step-ca', '0.30.2'],
    ['node:24-bookworm-slim', 'library/node', '24-bookworm-slim'],
    ['node', 'library/node', 'latest'],
  ])('%s -> %s:%s', (ref, repository, tag) => {
    expect(registryPath(ref)).toEqual({ repository, tag });
  });

  it.each(['ghcr.io/x/y:1', 'localhost/x:1', 'UPPER:1', '../etc/passwd:1', 'node:bad tag', 'a//b:1'])('refuses %s', (ref) => {
    expect(() => registryPath(ref)).toThrow(ref);
  });

  it('serves exactly the official images the stack uses', () => {
    expect(SERVED_IMAGES.map((s) => s.official).sort()).toEqual(Object.values(OFFICIAL_IMAGES).sort());
  });
});

describe('registryConfig', () => {
  it('listens on 127.0.0.1 only, with filesystem storage and no auth', () => {
    const yml = registryConfig({ port: 5000, storageDir: '/c/registry-mirror/storage', readOnly: true });
    expect(yml).toContain('  addr: 127.0.0.1:5000\n');
    expect(yml).toContain('    rootdirectory: "/c/registry-mirror/storage"\n');
    expect(yml).not.toMatch(/auth:|addr: :|0\.0\.0\.0/);
  });

  // No auth on loopback: read-only is what stops another local user's push.
  it('serves read-only (maintenance mode) unless it is being seeded', () => {
    const section = (readOnly: boolean) => {
      const yml = registryConfig({ port: 5000, storageDir: '/s', readOnly });
      return yml.slice(yml.indexOf('storage:\n'), yml.indexOf('http:\n'));
    };
    expect(section(true)).toBe('storage:\n  filesystem:\n    rootdirectory: "/s"\n  maintenance:\n    readonly:\n      enabled: true\n');
    expect(section(false)).toContain('    readonly:\n      enabled: false\n');
  });
});

describe('daemon.json edits', () => {
  const url = mirrorUrl(5000);
  const existing = { 'log-driver': 'json-file', 'registry-mirrors': ['https://mirror.corp'], 'insecure-registries': ['10.0.0.0/8'] };

  it('adds the mirror and keeps every other setting and mirror', () => {
    expect(withMirror(existing, url)).toEqual({ ...existing, 'registry-mirrors': ['https://mirror.corp', 'http://127.0.0.1:5000'] });
    expect(withMirror({}, url)).toEqual({ 'registry-mirrors': ['http://127.0.0.1:5000'] });
  });

  it('adding twice changes nothing (same object: no reload needed)', () => {
    const once = withMirror(existing, url);
    expect(withMirror(once, url)).toBe(once);
  });

  // dockerd's SIGHUP reload only changes registry-mirrors when the file sets
  // the key: removal must leave an explicit (possibly empty) list.
  it('removal keeps everything else and leaves the list, emptied, for the reload', () => {
    expect(withoutMirror(withMirror(existing, url), url)).toEqual(existing);
    expect(withoutMirror(withMirror({}, url), url)).toEqual({ 'registry-mirrors': [] });
  });

  it('a file holding only an empty mirror list counts as empty', () => {
    expect(isEmptyConfig({ 'registry-mirrors': [] })).toBe(true);
    expect(isEmptyConfig({})).toBe(true);
    expect(isEmptyConfig({ 'registry-mirrors': [], debug: true })).toBe(false);
    expect(isEmptyConfig({ 'registry-mirrors': ['https://mirror.corp'] })).toBe(false);
  });

  it('removal from a file without a list sets an empty one, so the reload clears the engine', () => {
    expect(withoutMirror({ debug: true }, url)).toEqual({ debug: true, 'registry-mirrors': [] });
  });

  it('removal leaves a mirror someone else configured', () => {
    expect(withoutMirror(existing, url)).toBe(existing);
  });

  it('reads an absent or empty file as {} and refuses what is not a JSON object', () => {
    expect(parseDaemonConfig(undefined, '/etc/docker/daemon.json')).toEqual({});
    expect(parseDaemonConfig('  ', '/etc/docker/daemon.json')).toEqual({});
    expect(() => parseDaemonConfig('{"a":', '/etc/docker/daemon.json')).toThrow('/etc/docker/daemon.json is not valid JSON');
    expect(() => parseDaemonConfig('["x"]', '/etc/docker/daemon.json')).toThrow('/etc/docker/daemon.json is not a JSON object');
  });
});
