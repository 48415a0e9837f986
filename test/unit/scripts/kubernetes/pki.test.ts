import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { NETWORK } from '../../../../scripts/lib/kubernetes/layout.js';
import { CERTS, ensurePki, leafCurrent, leafExtensions, pkiFiles, subjectOf } from '../../../../scripts/lib/kubernetes/pki.js';

describe('cluster certificate specs', () => {
  it('names the apiserver by every address a caller uses: loopback, the kubernetes Service IP and its DNS names', () => {
    const ext = leafExtensions(CERTS.find((c) => c.name === 'apiserver')!);
    expect(ext).toContain('extendedKeyUsage = serverAuth');
    expect(ext).toMatch(
      /subjectAltName = DNS:kubernetes, DNS:kubernetes\.default, .*DNS:kubernetes\.default\.svc\.cluster\.local, DNS:localhost, IP:127\.0\.0\.1, IP:10\.96\.0\.1$/m,
    );
  });

  it('gives client certificates clientAuth only and no SAN', () => {
    const ext = leafExtensions(CERTS.find((c) => c.name === 'kubelet-client')!);
    expect(ext).toContain('extendedKeyUsage = clientAuth');
    expect(ext).not.toContain('subjectAltName');
  });

  it('writes the groups the apiserver authorizes by as O and escapes slashes in the subject', () => {
    expect(subjectOf({ commonName: 'system:node:n', organization: 'system:nodes' })).toBe('/O=system:nodes/CN=system:node:n');
    expect(subjectOf({ commonName: 'a/b' })).toBe('/CN=a\\/b');
  });
});

describe('ensurePki (openssl)', { timeout: 60_000 }, () => {
  let dir: string;
  let made: string[];
  beforeAll(async () => {
    dir = path.join(await mkdtemp(path.join(tmpdir(), 'k8s-pki-')), 'pki');
    made = await ensurePki(dir);
  });
  afterAll(async () => rm(path.dirname(dir), { recursive: true, force: true }));

  it('makes the CA, every leaf and the service-account keys, keys 0600 in a 0700 directory', async () => {
    expect(made).toEqual(['ca', ...CERTS.map((c) => c.name), 'sa']);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const name of ['ca', ...CERTS.map((c) => c.name), 'sa']) expect((await stat(path.join(dir, `${name}.key`))).mode & 0o777, name).toBe(0o600);
  });

  it('signs every leaf with the CA, with the subject and names of its spec', async () => {
    const ca = new X509Certificate(await readFile(pkiFiles(dir, 'ca').cert));
    expect(ca.ca).toBe(true);
    for (const spec of CERTS) {
      const cert = new X509Certificate(await readFile(pkiFiles(dir, spec.name).cert));
      expect(cert.ca, spec.name).toBe(false);
      expect(cert.verify(ca.publicKey), spec.name).toBe(true);
      expect(cert.checkPrivateKey(createPrivateKey(await readFile(pkiFiles(dir, spec.name).key))), spec.name).toBe(true);
      expect(leafCurrent(spec, cert.toString(), ca), spec.name).toBe(true);
    }
    const kubelet = new X509Certificate(await readFile(pkiFiles(dir, 'kubelet-server').cert));
    expect(kubelet.subjectAltName).toContain(`IP Address:${NETWORK.nodeIp}`);
  });

  it('makes nothing on a second run, and re-issues only a leaf whose names no longer match its spec', async () => {
    expect(await ensurePki(dir)).toEqual([]);
    const wider = CERTS.map((c) => (c.name === 'etcd-server' ? { ...c, dnsNames: [...(c.dnsNames ?? []), 'etcd.local'] } : c));
    expect(await ensurePki(dir, wider)).toEqual(['etcd-server']);
    expect(await ensurePki(dir)).toEqual(['etcd-server']);
  });

  it('re-issues a leaf that nears expiry or that another CA signed', async () => {
    const spec = CERTS.find((c) => c.name === 'admin')!;
    const ca = new X509Certificate(await readFile(pkiFiles(dir, 'ca').cert));
    const pem = await readFile(pkiFiles(dir, 'admin').cert, 'utf8');
    expect(leafCurrent(spec, pem, ca, new Date(Date.now() + 364 * 86_400_000))).toBe(false);
    expect(leafCurrent(spec, pem, new X509Certificate(await readFile(pkiFiles(dir, 'apiserver').cert)))).toBe(false);
    await writeFile(pkiFiles(dir, 'admin').cert, await readFile(pkiFiles(dir, 'scheduler').cert));
    expect(await ensurePki(dir)).toEqual(['admin']);
  });
});
