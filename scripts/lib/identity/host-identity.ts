import 'reflect-metadata';

import { webcrypto, X509Certificate } from 'node:crypto';
import https from 'node:https';
import path from 'node:path';

import * as x509 from '@peculiar/x509';

import { type CaRef, caToken } from '../ca/step.js';
import { serialOf, splitPem } from './pki.js';
import { assertReplaceable, ensurePrivateDir, writePrivateFile } from './private-files.js';

/**
 * An identity for the host (the operator's load generators and probes, the
 * e2e tests' operator client): key and CSR made in this process, one-time
 * token minted inside the CA container (the provisioner password never
 * leaves it), certificate from the CA's /1.0/sign.
 */

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface IssuedCredential {
  readonly certPem: string;
  readonly keyPem: string;
  readonly serial: string;
}

/** A key pair and CSR made in this process: the operator's key never leaves it. */
export async function makeCsr(commonName: string, dns: readonly string[], uris: readonly string[]) {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        ...dns.map((value) => ({ type: 'dns' as const, value })),
        ...uris.map((value) => ({ type: 'url' as const, value })),
      ]),
    ],
  });
  const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { csrPem: csr.toString('pem'), keyPem };
}

export function postJson(url: string, body: unknown, ca: string): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = https.request(
      url,
      { method: 'POST', ca, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) as Record<string, unknown> });
          } catch {
            resolve({ status: res.statusCode ?? 0, json: { raw: text } });
          }
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Exchanges a one-time token for a certificate through the CA's /1.0/sign API. */
export async function signWithToken(caHostUrl: string, rootPem: string, token: string, csrPem: string, notAfter?: string) {
  return postJson(`${caHostUrl}/1.0/sign`, { csr: csrPem, ott: token, ...(notAfter ? { notAfter } : {}) }, rootPem);
}

/**
 * Enrolls an identity for the host (the e2e tests' operator client): token
 * minted inside the CA container, key and CSR made here, certificate from
 * /1.0/sign. Returns leaf + intermediate and the key.
 */
export async function enrollHostIdentity(
  ca: CaRef,
  caHostUrl: string,
  rootPem: string,
  opts: { commonName: string; dns?: readonly string[]; uris?: readonly string[]; notAfter?: string },
): Promise<IssuedCredential> {
  const dns = opts.dns ?? [opts.commonName];
  const uris = opts.uris ?? [];
  const token = await caToken(ca, { subject: opts.commonName, sans: [...dns, ...uris] });
  const { csrPem, keyPem } = await makeCsr(opts.commonName, dns, uris);
  const res = await signWithToken(caHostUrl, rootPem, token, csrPem, opts.notAfter);
  if (res.status !== 201 && res.status !== 200) throw new Error(`/1.0/sign answered ${res.status}: ${JSON.stringify(res.json)}`);
  const chain = (res.json.certChain as string[] | undefined) ?? [res.json.crt as string, res.json.ca as string];
  const certPem = chain.join('');
  const serial = serialOf(new X509Certificate(chain[0]!));
  return { certPem, keyPem, serial };
}

/** A host identity with its files, for tools that read certificates from disk (openssl, nginx). */
export interface HostIdentity extends IssuedCredential {
  readonly rootPem: string;
  readonly notAfter: Date;
  /** root.crt, site.crt (leaf + intermediate), site.key (0600) — the workloads' layout. */
  readonly dir: string;
  readonly files: { readonly root: string; readonly cert: string; readonly key: string; readonly leaf: string; readonly chainAndRoot: string };
}

/** The files of a host identity in `dir`: the workloads' three, and two for OpenSSL's tools. */
export function identityFiles(dir: string): HostIdentity['files'] {
  return {
    root: path.join(dir, 'root.crt'),
    cert: path.join(dir, 'site.crt'),
    key: path.join(dir, 'site.key'),
    leaf: path.join(dir, 'leaf.crt'),
    chainAndRoot: path.join(dir, 'chain-and-root.crt'),
  };
}

/**
 * Writes an issued identity into `dir` (see private-files.ts): the directory
 * 0700 and only the user's, every file created new (then renamed over an
 * older one), the key 0600 from the moment it exists.
 */
export async function writeIdentityFiles(dir: string, issued: IssuedCredential, rootPem: string): Promise<HostIdentity['files']> {
  const files = identityFiles(dir);
  await ensurePrivateDir(dir);
  const chain = splitPem(issued.certPem);
  await writePrivateFile(files.key, issued.keyPem, 0o600);
  await writePrivateFile(files.root, rootPem, 0o644);
  await writePrivateFile(files.cert, `${chain.join('\n')}\n`, 0o644);
  await writePrivateFile(files.leaf, `${chain[0]}\n`, 0o644);
  // openssl s_time loads only the leaf from -cert; OpenSSL then builds the
  // chain it sends from the trust store, so the intermediate goes there too.
  await writePrivateFile(files.chainAndRoot, `${[...chain.slice(1), rootPem.trim()].join('\n')}\n`, 0o644);
  return files;
}

/**
 * Enrolls a host identity (enrollHostIdentity) and writes it under `dir`
 * (writeIdentityFiles). The directory, and that no file in the way is a
 * link, are checked before a token is spent.
 */
export async function writeHostIdentity(
  ca: CaRef,
  caHostUrl: string,
  rootPem: string,
  dir: string,
  opts: { commonName: string; dns?: readonly string[]; uris?: readonly string[]; notAfter?: string },
): Promise<HostIdentity> {
  await ensurePrivateDir(dir);
  await assertReplaceable(Object.values(identityFiles(dir)));
  const issued = await enrollHostIdentity(ca, caHostUrl, rootPem, opts);
  const files = await writeIdentityFiles(dir, issued, rootPem);
  const leaf = splitPem(issued.certPem)[0]!;
  return { ...issued, rootPem, notAfter: new Date(new X509Certificate(leaf).validTo), dir, files };
}
