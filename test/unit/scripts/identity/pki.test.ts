// Certificate facts and chain checks the operator scripts rely on, against an
// in-process PKI (root → intermediate → leaf) and an independent second CA.
import { createHash, generateKeyPairSync, X509Certificate } from 'node:crypto';

import { beforeAll, describe, expect, it } from 'vitest';

import {
  certInfo,
  fingerprintOf,
  formatDuration,
  issuedBy,
  normaliseFingerprint,
  normaliseSerial,
  serialOf,
  splitPem,
  verifyBundle,
} from '../../../../scripts/lib/identity/pki.js';
import { createPki, type Leaf, type Pki } from '../../../helpers/pki.js';

const MINUTE = 60_000;
/** Whole seconds: certificates carry no sub-second precision. */
const wholeSecond = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

/** A real private key, made at run time: a bundle holding only a key has no certificate. */
const keyOnlyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, ''), 'base64');
}

let mesh: Pki;
let other: Pki;
let leaf: Leaf;
let notBefore: Date;
let notAfter: Date;

beforeAll(async () => {
  [mesh, other] = await Promise.all([createPki('Mesh'), createPki('Other')]);
  notBefore = wholeSecond(Date.now() - 5 * MINUTE);
  notAfter = wholeSecond(Date.now() + 60 * MINUTE);
  leaf = await mesh.issue({
    commonName: 'server',
    dns: ['server.mesh.internal', 'server'],
    uris: ['spiffe://mesh.internal/server'],
    notBefore,
    notAfter,
  });
});

describe('certInfo', () => {
  it('reports serial, names, validity, subject and issuer as the certificate states them', () => {
    const info = certInfo(leaf.certPem);
    expect(info.serial).toBe(leaf.serial);
    expect(info.serial).toMatch(/^[0-9A-F]+$/);
    expect(info.dnsNames).toEqual(['server.mesh.internal', 'server']);
    expect(info.uris).toEqual(['spiffe://mesh.internal/server']);
    expect(info.notBefore.toISOString()).toBe(notBefore.toISOString());
    expect(info.notAfter.toISOString()).toBe(notAfter.toISOString());
    expect(info.subject).toBe('CN=server');
    expect(info.issuer).toBe('CN=Mesh Intermediate CA');
  });

  it('reads the first certificate of a bundle', () => {
    expect(certInfo(leaf.bundlePem).serial).toBe(leaf.serial);
  });

  it('has empty name lists for a certificate without SANs', () => {
    const info = certInfo(mesh.root.certPem);
    expect(info.dnsNames).toEqual([]);
    expect(info.uris).toEqual([]);
  });

  it('fingerprints the DER encoding with SHA-256, lower-case hex', () => {
    const expected = createHash('sha256').update(derOf(leaf.certPem)).digest('hex');
    expect(certInfo(leaf.certPem).fingerprint).toBe(expected);
    expect(fingerprintOf(new X509Certificate(mesh.root.certPem))).toBe(createHash('sha256').update(derOf(mesh.root.certPem)).digest('hex'));
    // The colon form OpenSSL prints is the same value once normalised.
    expect(normaliseFingerprint(new X509Certificate(leaf.certPem).fingerprint256)).toBe(expected);
  });
});

describe('splitPem', () => {
  it('returns each certificate of a bundle, in order, and nothing from other text', () => {
    const parts = splitPem(`junk\n${leaf.bundlePem}\nmore junk\n${leaf.keyPem}`);
    expect(parts).toHaveLength(2);
    expect(serialOf(new X509Certificate(parts[0]!))).toBe(leaf.serial);
    expect(new X509Certificate(parts[1]!).subject).toBe('CN=Mesh Intermediate CA');
    expect(splitPem(leaf.keyPem)).toEqual([]);
    expect(splitPem('')).toEqual([]);
  });
});

describe('verifyBundle', () => {
  it('accepts leaf + intermediate chained to the root and returns the leaf', () => {
    const result = verifyBundle(leaf.bundlePem, mesh.root.certPem);
    expect(result).toMatchObject({ ok: true, leaf: { serial: leaf.serial, dnsNames: ['server.mesh.internal', 'server'] } });
  });

  it('refuses a bundle from an independent CA', () => {
    const stranger = verifyBundle(leaf.bundlePem, other.root.certPem);
    expect(stranger).toEqual({ ok: false, reason: 'certificate 1 is not signed by CN=Other Root CA' });
  });

  it('refuses a leaf whose intermediate is missing', () => {
    expect(verifyBundle(leaf.certPem, mesh.root.certPem)).toEqual({ ok: false, reason: 'certificate 0 is not signed by CN=Mesh Root CA' });
  });

  it('refuses an intermediate of another CA spliced under the leaf', () => {
    const spliced = `${leaf.certPem}\n${other.intermediate.certPem}`;
    expect(verifyBundle(spliced, mesh.root.certPem)).toEqual({ ok: false, reason: 'certificate 0 is not signed by CN=Other Intermediate CA' });
  });

  it('refuses an expired leaf, with its expiry', async () => {
    const expiredAt = wholeSecond(Date.now() - 10 * MINUTE);
    const expired = await mesh.issue({ commonName: 'old', dns: ['old'], notBefore: wholeSecond(Date.now() - 70 * MINUTE), notAfter: expiredAt });
    expect(verifyBundle(expired.bundlePem, mesh.root.certPem)).toEqual({ ok: false, reason: `expired at ${expiredAt.toISOString()}` });
  });

  it('refuses a leaf that is not valid yet, with its start', async () => {
    const startsAt = wholeSecond(Date.now() + 10 * MINUTE);
    const future = await mesh.issue({ commonName: 'new', dns: ['new'], notBefore: startsAt, notAfter: wholeSecond(Date.now() + 70 * MINUTE) });
    expect(verifyBundle(future.bundlePem, mesh.root.certPem)).toEqual({ ok: false, reason: `not valid before ${startsAt.toISOString()}` });
  });

  it('checks validity at the given time', () => {
    expect(verifyBundle(leaf.bundlePem, mesh.root.certPem, new Date(notAfter.getTime() + 1000))).toEqual({
      ok: false,
      reason: `expired at ${notAfter.toISOString()}`,
    });
    expect(verifyBundle(leaf.bundlePem, mesh.root.certPem, new Date(notBefore.getTime() - 1000))).toEqual({
      ok: false,
      reason: `not valid before ${notBefore.toISOString()}`,
    });
    expect(verifyBundle(leaf.bundlePem, mesh.root.certPem, notAfter).ok).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['garbage text', 'this is not a certificate'],
    ['a private key only', keyOnlyPem],
  ])('refuses a bundle with no certificate (%s)', (_, bundle) => {
    expect(verifyBundle(bundle, mesh.root.certPem)).toEqual({ ok: false, reason: 'no certificate in the bundle' });
  });

  it('refuses garbage between certificate markers as unparseable', () => {
    const result = verifyBundle('-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n', mesh.root.certPem);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/^unparseable certificate: /);
  });

  it('refuses an unparseable root', () => {
    const result = verifyBundle(leaf.bundlePem, 'not a root');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/^unparseable certificate: /);
  });
});

describe('issuedBy', () => {
  it('holds for a certificate and its issuer only: not for another CA, not upside down', () => {
    const cert = new X509Certificate(leaf.certPem);
    const intermediate = new X509Certificate(mesh.intermediate.certPem);
    expect(issuedBy(cert, intermediate)).toBe(true);
    expect(issuedBy(intermediate, new X509Certificate(mesh.root.certPem))).toBe(true);
    expect(issuedBy(cert, new X509Certificate(other.intermediate.certPem))).toBe(false);
    expect(issuedBy(intermediate, cert)).toBe(false);
  });
});

describe('normaliseSerial', () => {
  it('gives one form whether a serial was padded to whole bytes, prefixed or lower-case', () => {
    // Node reports 0x01466C… as "01466C…"; an app may report "1466c…".
    expect(normaliseSerial('01466CD3ED0E')).toBe('1466CD3ED0E');
    expect(normaliseSerial('1466cd3ed0e')).toBe('1466CD3ED0E');
    expect(normaliseSerial('0x001466CD3ED0E')).toBe('1466CD3ED0E');
    expect(normaliseSerial('00')).toBe('0');
    expect(serialOf({ serialNumber: '0A' })).toBe('A');
  });
});

describe('normaliseFingerprint', () => {
  it('strips colons and surrounding space and lower-cases', () => {
    expect(normaliseFingerprint(' AB:CD:0f:12 ')).toBe('abcd0f12');
    expect(normaliseFingerprint('abcdef')).toBe('abcdef');
  });
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [1_499, '1s'],
    [59_000, '59s'],
    [59_600, '1m0s'],
    [61_000, '1m1s'],
    [3_599_000, '59m59s'],
    [3_600_000, '1h0m'],
    [3_661_000, '1h1m'],
    [5_400_000, '1h30m'],
    [90_000_000, '25h0m'],
    [-61_000, '-1m1s'],
    [-7_200_000, '-2h0m'],
  ])('%i ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
