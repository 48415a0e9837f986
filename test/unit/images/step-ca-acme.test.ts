// The CA's ACME provisioner (images/step-ca/entrypoint.sh, apply_acme) with
// the real step 0.30.2 of the CA's base image (the official one, or the
// toolchain's stand-in; `npx tsx scripts/toolchain.ts`), the entrypoint and
// its shell library mounted from the project: `acme` is added only while
// MTLS_CA_ACME_DNS_NAMES names the mesh's ACME workloads, with the stack's
// lifetimes, updated on every start (idempotent), removed when the list is
// empty; its template signs exactly those DNS names and refuses any other
// SAN with its reason.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { caRunArgs, initCaVolume, stepCaImage } from './helpers/step-ca-docker.js';

const volume = `mtls-unit-acme-${randomBytes(4).toString('hex')}`;
const CLAIMS = { MTLS_CA_MIN_TLS_CERT_DURATION: '1m', MTLS_CA_DEFAULT_TLS_CERT_DURATION: '5m', MTLS_CA_MAX_TLS_CERT_DURATION: '10m' };
let image = '';

/** The entrypoint on the test's CA volume; after it applied the settings, `cmd` runs (its `exec "$@"`). */
function entrypoint(env: Record<string, string>, ...cmd: string[]): { status: number; out: string } {
  const r = spawnSync('docker', ['run', '--rm', '--network', 'none', ...caRunArgs(image, volume, env, cmd)], { encoding: 'utf8' });
  return { status: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

interface Provisioner {
  readonly type: string;
  readonly name: string;
  readonly claims?: Record<string, string>;
  readonly options?: { x509?: { template?: string } };
}
function provisioners(env: Record<string, string>): Provisioner[] {
  const r = entrypoint({ ...CLAIMS, ...env }, 'cat', '/home/step/config/ca.json');
  expect(r.status, r.out).toBe(0);
  // ca.json, after the entrypoint's one-line JSON logs.
  const json = r.out.slice(r.out.indexOf('\n{\n') + 1);
  return (JSON.parse(json) as { authority: { provisioners: Provisioner[] } }).authority.provisioners;
}
const acme = (list: Provisioner[]) => list.filter((p) => p.type === 'ACME');

/** A leaf signed by the CA's intermediate through the provisioner's template, as step-ca renders it for an ACME order. */
function signWithTemplate(names: string[]): { status: number; out: string } {
  const sans = names.flatMap((n) => ['--san', n]);
  const s = '/home/step';
  return entrypoint(
    { ...CLAIMS, MTLS_CA_ACME_DNS_NAMES: 'a.mesh.internal,b.mesh.internal' },
    'sh',
    '-c',
    `cd /tmp && step certificate create "$0" leaf.crt leaf.key --template ${s}/templates/acme-leaf.tpl --ca ${s}/certs/intermediate_ca.crt --ca-key ${s}/secrets/intermediate_ca_key --ca-password-file ${s}/secrets/password --no-password --insecure "$@" && step certificate inspect leaf.crt --format json`,
    names[0]!,
    ...sans,
  );
}

beforeAll(() => {
  image = stepCaImage();
  initCaVolume(image, volume, 'ca.mesh.internal');
}, 120_000);

afterAll(() => {
  spawnSync('docker', ['volume', 'rm', '-f', volume], { stdio: 'ignore' });
});

describe('the CA: an ACME provisioner only for the mesh ACME workloads', { timeout: 60_000 }, () => {
  it('has none while no workload obtains its certificate by ACME', () => {
    expect(acme(provisioners({}))).toEqual([]);
  });

  it('adds `acme` with the stack lifetimes, then updates it on the next start (the list changed) without a second one', () => {
    const first = acme(provisioners({ MTLS_CA_ACME_DNS_NAMES: 'a.mesh.internal' }));
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({
      name: 'acme',
      claims: { minTLSCertDuration: '1m0s', defaultTLSCertDuration: '5m0s', maxTLSCertDuration: '10m0s' },
    });
    expect(first[0]!.options?.x509?.template).toContain('list "a.mesh.internal" }}');
    const again = acme(provisioners({ MTLS_CA_ACME_DNS_NAMES: 'a.mesh.internal,b.mesh.internal' }));
    expect(again).toHaveLength(1);
    expect(again[0]!.options?.x509?.template).toContain('list "a.mesh.internal" "b.mesh.internal" }}');
  });

  it('signs exactly the listed DNS names, and refuses any other SAN with its reason', () => {
    const ok = signWithTemplate(['b.mesh.internal']);
    expect(ok.status, ok.out).toBe(0);
    expect(ok.out).toContain('"b.mesh.internal"');
    const other = signWithTemplate(['a.mesh.internal', 'ca.mesh.internal']);
    expect(other.status).not.toBe(0);
    expect(other.out).toContain("the ACME provisioner signs only the DNS names of the mesh's ACME workloads, not dns ca.mesh.internal");
    const uri = signWithTemplate(['a.mesh.internal', 'spiffe://mesh.internal/server']);
    expect(uri.out).toContain("the ACME provisioner signs only the DNS names of the mesh's ACME workloads, not uri spiffe://mesh.internal/server");
  });

  it('refuses a list entry that is not a DNS name, and removes the provisioner once the list is empty', () => {
    const bad = entrypoint({ ...CLAIMS, MTLS_CA_ACME_DNS_NAMES: 'a.mesh.internal,"x"' }, 'true');
    expect(bad.status).toBe(1);
    expect(bad.out).toContain(`MTLS_CA_ACME_DNS_NAMES: '\\"x\\"' is not a DNS name`);
    expect(acme(provisioners({}))).toEqual([]);
    expect(provisioners({}).map((p) => p.name)).toEqual(['admin']);
  });
});
