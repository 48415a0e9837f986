// One settings path: settings.ts declares every MTLS_* setting and is the
// only module that reads one from the environment; the README's table is
// rendered from the same declaration.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { envName, readSetting, readSettings, SETTING_NAMES, type Settings, settingsEnv, settingsTable } from '../../../settings.js';

const root = path.resolve(import.meta.dirname, '../../..');
const tracked = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((f) => /\.(ts|mts|js|mjs)$/.test(f) && fs.existsSync(path.join(root, f)));

/** `env.MTLS_X`, `env['MTLS_X']`, `env[`MTLS_…`]`, `process.env.MTLS_X` in any spelling of the object. */
const READS_MTLS = /\benv\s*(?:\.\s*MTLS_|\[\s*['"`]MTLS_)/;

describe('one settings path', () => {
  it('no module but settings.ts reads an MTLS_* variable (tests included)', () => {
    const hosts = tracked.filter((f) => f !== 'settings.ts' && f !== 'test/unit/checks/settings.test.ts');
    expect(hosts.length).toBeGreaterThan(100);
    const readers = hosts.filter((f) => READS_MTLS.test(fs.readFileSync(path.join(root, f), 'utf8')));
    expect(readers).toEqual([]);
  });

  it('the check sees the spellings a reader would use', () => {
    for (const line of ['process.env.MTLS_PREFIX', "env['MTLS_IAC']", 'env[`MTLS_${k}`]', 'opts.env . MTLS_X']) expect(READS_MTLS.test(line), line).toBe(true);
    expect(READS_MTLS.test("envName('prefix') // MTLS_PREFIX")).toBe(false);
  });

  it('names every variable MTLS_ + the setting in upper snake case', () => {
    expect(SETTING_NAMES.map(envName)).toContain('MTLS_CERT_LIFETIME');
    expect(envName('caPort')).toBe('MTLS_CA_PORT');
    expect(envName('iacSwitch')).toBe('MTLS_IAC_SWITCH');
  });

  it('writes settings as variables that read back to the same settings', () => {
    const all: Settings = {
      prefix: 'blue-2',
      target: 'kubernetes',
      mesh: '/srv/meshes/payments.yaml',
      workloads: ['server', 'client'],
      certLifetime: '90s',
      minCertLifetime: '1m',
      maxCertLifetime: '1h30m',
      caPort: 19000,
      hostPorts: { server: 18443, nginx: 18444 },
      clientRate: 3,
      iac: 'tofu',
      iacSwitch: true,
      offline: false,
      providerMirror: true,
      cacheDir: '/var/cache/x',
      baseImages: { node: 'node:24-bookworm-slim', stepCa: 'smallstep/step-ca:0.28.0' },
    };
    // Every declared setting is in the sample, so a new one cannot skip the round trip.
    expect(
      Object.keys(all)
        .filter((k) => k !== 'baseImages')
        .sort(),
    ).toEqual([...SETTING_NAMES].sort());
    expect(readSettings(settingsEnv(all))).toEqual(all);
  });

  it('counts an empty variable as unset, for every setting', () => {
    const empty = Object.fromEntries(SETTING_NAMES.map((n) => [envName(n), '']));
    expect(readSettings({ ...empty, MTLS_NODE_BASE_IMAGE: '' })).toEqual({ prefix: 'mtls' });
    for (const name of SETTING_NAMES) expect(readSetting(name, { [envName(name)]: '' })).toBeUndefined();
  });

  it.each([
    ['MTLS_PREFIX', '../x', 'MTLS_PREFIX must be 2-24 lower-case letters, digits or dashes, starting with a letter, got "../x"'],
    ['MTLS_CERT_LIFETIME', '5 minutes', 'MTLS_CERT_LIFETIME: invalid duration "5 minutes": use Go syntax such as 90s, 5m or 1h30m'],
    ['MTLS_CA_PORT', '70000', 'MTLS_CA_PORT must be an integer from 1 to 65535, got "70000"'],
    ['MTLS_TARGET', 'k8s', 'MTLS_TARGET must be docker or kubernetes, got "k8s"'],
    ['MTLS_CA_PORT', '9000x', 'MTLS_CA_PORT must be an integer from 1 to 65535, got "9000x"'],
    ['MTLS_CLIENT_RATE', '0', 'MTLS_CLIENT_RATE must be an integer from 1 to 1000, got "0"'],
    ['MTLS_HOST_PORTS', 'server:8443', 'MTLS_HOST_PORTS must be name=port pairs separated by commas, got "server:8443"'],
    ['MTLS_IAC', 'pulumi', 'MTLS_IAC must be terraform or tofu, got "pulumi"'],
    ['MTLS_IAC_SWITCH', 'yes', 'MTLS_IAC_SWITCH must be 1 or 0, got "yes"'],
    ['MTLS_OFFLINE', 'maybe', 'MTLS_OFFLINE must be 1 or 0, got "maybe"'],
  ])('refuses %s=%j, naming the variable and the value', (name, value, message) => {
    expect(() => readSettings({ [name]: value })).toThrow(message);
    try {
      readSettings({ [name]: value });
    } catch (err) {
      expect((err as Error).name).toBe('UserError');
    }
  });

  it("the README's settings table is the one settings.ts renders", () => {
    const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
    const table = /<!-- settings table:[^\n]*-->\n([\s\S]*?)\n<!-- end of settings table -->/.exec(readme)?.[1];
    expect(table).toBe(settingsTable());
  });
});
