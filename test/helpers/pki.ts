// In-process test PKI: root CA → intermediate → leaves, a second independent
// CA, expired and self-signed leaves. Everything lives in memory and in
// mkdtemp directories; no key material is ever committed.
import 'reflect-metadata';

import { randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type KeyPair = webcrypto.CryptoKeyPair;

const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface Issuer {
  readonly certPem: string;
  readonly cert: x509.X509Certificate;
  readonly keys: KeyPair;
  /** PEMs of the intermediates between this issuer and its root (itself included when not a root). */
  readonly chainPem: string;
}

export interface Leaf {
  /** Leaf certificate alone. */
  readonly certPem: string;
  /** Leaf + intermediate(s): what `site.crt` holds. */
  readonly bundlePem: string;
  readonly keyPem: string;
  /** Upper-case hex, as node:crypto's X509Certificate#serialNumber reports it. */
  readonly serial: string;
}

export interface LeafOptions {
  readonly commonName: string;
  readonly dns?: readonly string[];
  readonly uris?: readonly string[];
  /** IP SANs, e.g. 127.0.0.1 for a server reached by address. */
  readonly ips?: readonly string[];
  /** @default one minute ago */
  readonly notBefore?: Date;
  /** @default one day from now */
  readonly notAfter?: Date;
  /** Use an RSA key of this size instead of ECDSA P-256 (e.g. a too-small 512). */
  readonly rsaBits?: number;
}

async function generateKeys(rsaBits?: number) {
  const algorithm = rsaBits ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: rsaBits, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' } : keyAlgorithm;
  return await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
}

/** Positive, no leading zero byte: round-trips unchanged through X509Certificate#serialNumber. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 1) & 0x7f) | 0x10;
  return bytes.toString('hex').toUpperCase();
}

async function exportKeyPem(keys: KeyPair): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function caExtensions(keys: KeyPair, issuerKeys: KeyPair): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(issuerKeys.publicKey),
  ];
}

/** A self-signed root CA valid from yesterday for ten years. */
export async function createRootCa(commonName: string): Promise<Issuer> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${commonName}`,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 3650 * DAY_MS),
    signingAlgorithm,
    keys,
    extensions: await caExtensions(keys, keys),
  });
  return { cert, certPem: cert.toString('pem'), keys, chainPem: '' };
}

export async function createIntermediateCa(parent: Issuer, commonName: string): Promise<Issuer> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${commonName}`,
    issuer: parent.cert.subject,
    notBefore: new Date(Date.now() - DAY_MS),
    notAfter: new Date(Date.now() + 365 * DAY_MS),
    signingAlgorithm,
    publicKey: keys.publicKey,
    signingKey: parent.keys.privateKey,
    extensions: await caExtensions(keys, parent.keys),
  });
  const certPem = cert.toString('pem');
  return { cert, certPem, keys, chainPem: `${certPem}\n${parent.chainPem}`.trim() + '\n' };
}

function leafExtensions(options: LeafOptions): x509.Extension[] {
  const names = [
    ...(options.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(options.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    new x509.SubjectAlternativeNameExtension(names),
  ];
}

export async function issueLeaf(issuer: Issuer, options: LeafOptions): Promise<Leaf> {
  const keys = await generateKeys(options.rsaBits);
  const serial = randomSerial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=${options.commonName}`,
    issuer: issuer.cert.subject,
    notBefore: options.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: options.notAfter ?? new Date(Date.now() + DAY_MS),
    signingAlgorithm,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    extensions: [
      ...leafExtensions(options),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
    ],
  });
  const certPem = cert.toString('pem');
  return { certPem, bundlePem: `${certPem}\n${issuer.chainPem}`, keyPem: await exportKeyPem(keys), serial };
}

/** A leaf that signs itself: a valid certificate no CA vouches for. */
export async function selfSignedLeaf(options: LeafOptions): Promise<Leaf> {
  const keys = await generateKeys();
  const serial = randomSerial();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial,
    name: `CN=${options.commonName}`,
    notBefore: options.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: options.notAfter ?? new Date(Date.now() + DAY_MS),
    signingAlgorithm,
    keys,
    extensions: leafExtensions(options),
  });
  const certPem = cert.toString('pem');
  return { certPem, bundlePem: certPem, keyPem: await exportKeyPem(keys), serial };
}

/** The usual picture: one private root, one intermediate that issues every leaf. */
export interface Pki {
  readonly root: Issuer;
  readonly intermediate: Issuer;
  issue(options: LeafOptions): Promise<Leaf>;
}

export async function createPki(name: string): Promise<Pki> {
  const root = await createRootCa(`${name} Root CA`);
  const intermediate = await createIntermediateCa(root, `${name} Intermediate CA`);
  return { root, intermediate, issue: (options) => issueLeaf(intermediate, options) };
}

export const DAY = DAY_MS;

/** Writes the three fixed file names the services read; keys get mode 0600. */
export async function writeCredentials(dir: string, rootPem: string, leaf: Leaf): Promise<void> {
  await writeFile(join(dir, 'root.crt'), rootPem);
  await writeFile(join(dir, 'site.crt'), leaf.bundlePem);
  await writeFile(join(dir, 'site.key'), leaf.keyPem, { mode: 0o600 });
}

export async function makeTempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `mtls-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber;
}
