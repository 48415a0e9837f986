import '../../unit/services/helpers/reflect-shim.js';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import https from 'node:https';
import { caToken, type CaRef } from '../../../scripts/lib/step.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface IssuedCredential {
  readonly certPem: string;
  readonly keyPem: string;
  readonly serial: string;
}

/** A key pair and CSR made in this process: the operator's key never leaves it. */
export async function makeCsr(commonName: string, dns: readonly string[], uris: readonly string[]) {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
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
    const req = https.request(url, { method: 'POST', ca, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (res) => {
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
    });
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
  const serial = new (await import('node:crypto')).X509Certificate(chain[0]!).serialNumber.toUpperCase();
  return { certPem, keyPem, serial };
}

export interface MtlsResponse {
  readonly status: number;
  readonly body: string;
  readonly json?: Record<string, unknown>;
  readonly reusedSocket: boolean;
  readonly localPort?: number;
  /** Serial of the certificate the server presented on this connection. */
  readonly peerSerial?: string;
}

/**
 * One HTTPS request to the service as the host sees it (127.0.0.1:port),
 * verifying the server as `server.mesh.internal` against the private root.
 */
export function mtlsRequest(
  url: string,
  opts: { ca: string; cert?: string; key?: string; agent?: https.Agent; servername?: string; path?: string },
): Promise<MtlsResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: 'GET',
        path: opts.path ?? '/',
        ca: opts.ca,
        cert: opts.cert,
        key: opts.key,
        agent: opts.agent ?? false,
        servername: opts.servername ?? 'server.mesh.internal',
        minVersion: 'TLSv1.2',
        timeout: 5000,
      },
      (res) => {
        // Read the connection's details now: with a keep-alive agent the
        // socket goes back to the pool (res.socket = null) once the body ends.
        const socket = res.socket as import('node:tls').TLSSocket;
        const localPort = socket.localPort;
        const peerSerial = socket.getPeerCertificate().serialNumber?.toUpperCase();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(body) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body, json, reusedSocket: req.reusedSocket, localPort, peerSerial });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    // A request queued in an agent has no socket, so no socket timeout can
    // fire: bound the whole exchange as well.
    const deadline = setTimeout(() => req.destroy(new Error('no response within 10 s')), 10_000);
    req.on('close', () => clearTimeout(deadline));
    req.on('error', reject);
    req.end();
  });
}

/** Polls `probe` until it returns a value (not undefined) or the time is up. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, opts: { timeoutMs: number; intervalMs?: number }): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
  }
  throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
}
