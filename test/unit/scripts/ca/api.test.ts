// The trust bootstrap against an in-process stand-in for step-ca: the root is
// fetched over unverified TLS and accepted only when its SHA-256 equals the
// pinned fingerprint, then the CA's own TLS must chain to that root.
import { createHash } from 'node:crypto';

import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { fetchPinnedRoot, httpsGet } from '../../../../scripts/lib/ca/api.js';
import { UserError } from '../../../../scripts/lib/cli/ui.js';
import { createPki, type Pki } from '../../../helpers/pki.js';
import { closedPort, type FakeCa, type FakeCaOptions, issueLoopbackLeaf, rootBody, startFakeCa, type TlsIdentity } from '../helpers/fake-ca.js';

/** SHA-256 of the DER inside a PEM, computed without X509Certificate. */
function sha256OfPem(pem: string): string {
  const base64 = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  return createHash('sha256').update(Buffer.from(base64, 'base64')).digest('hex');
}

async function userErrorOf(promise: Promise<unknown>): Promise<UserError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(UserError);
  return error as UserError;
}

let ca: Pki;
let stranger: Pki;
let caTls: TlsIdentity;
let strangerTls: TlsIdentity;
let pinned: string;

beforeAll(async () => {
  [ca, stranger] = await Promise.all([createPki('Pinned'), createPki('Stranger')]);
  [caTls, strangerTls] = await Promise.all([issueLoopbackLeaf(ca.intermediate), issueLoopbackLeaf(stranger.intermediate)]);
  pinned = sha256OfPem(ca.root.certPem);
});

const servers: FakeCa[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(opts: Partial<FakeCaOptions> = {}): Promise<FakeCa> {
  const server = await startFakeCa({
    tls: caTls,
    rootFor: (fp) => (fp === pinned ? rootBody(ca.root.certPem) : undefined),
    ...opts,
  });
  servers.push(server);
  return server;
}

describe('fetchPinnedRoot', () => {
  it('returns the root whose SHA-256 is the pinned fingerprint, after checking /health against it', async () => {
    const server = await serve();
    await expect(fetchPinnedRoot(server.url, pinned)).resolves.toBe(`${ca.root.certPem.trim()}\n`);
    expect(server.requests).toEqual([`/root/${pinned}`, '/health']);
  });

  it('accepts the fingerprint with colons and in upper case, and asks for the normalised form', async () => {
    const server = await serve();
    const decorated = ` ${pinned.toUpperCase().match(/../g)!.join(':')} `;
    await expect(fetchPinnedRoot(server.url, decorated)).resolves.toBe(`${ca.root.certPem.trim()}\n`);
    expect(server.requests[0]).toBe(`/root/${pinned}`);
  });

  it('refuses a different root served under the pinned fingerprint, naming both fingerprints', async () => {
    const server = await serve({ rootFor: () => rootBody(stranger.root.certPem) });
    const error = await userErrorOf(fetchPinnedRoot(server.url, pinned));
    const served = sha256OfPem(stranger.root.certPem);
    expect(served).not.toBe(pinned);
    expect(error.message).toContain('fingerprint mismatch');
    expect(error.message).toContain(`served a root with SHA-256 ${served}, expected ${pinned}`);
    expect(server.requests).toEqual([`/root/${pinned}`]);
  });

  it('says the CA has no such root when it answers 404', async () => {
    const server = await serve({ rootFor: () => undefined });
    const error = await userErrorOf(fetchPinnedRoot(server.url, pinned));
    expect(error.message).toBe(`the CA at ${server.url} has no root with fingerprint ${pinned}: wrong fingerprint, or the wrong CA.`);
  });

  it.each([
    ['too short', 'abc123'],
    ['63 hex digits', 'a'.repeat(63)],
    ['65 hex digits', 'a'.repeat(65)],
    ['not hex', 'g'.repeat(64)],
    ['empty', ''],
  ])('refuses a malformed fingerprint (%s) before making any request', async (_, fingerprint) => {
    const server = await serve();
    const error = await userErrorOf(fetchPinnedRoot(server.url, fingerprint));
    expect(error.message).toBe(`"${fingerprint}" is not a SHA-256 fingerprint (64 hex digits)`);
    expect(server.connections()).toBe(0);
    expect(server.requests).toEqual([]);
  });

  it('refuses a CA whose TLS certificate is not issued by the pinned root, even though the root matches', async () => {
    const server = await serve({ tls: strangerTls });
    const error = await userErrorOf(fetchPinnedRoot(server.url, pinned));
    expect(error.message).toMatch(new RegExp(`^the CA at ${server.url} does not present a certificate issued by the pinned root \\(.+\\)\\.$`));
    // The root itself was fetched (without verification) and matched.
    expect(server.requests).toEqual([`/root/${pinned}`]);
  });

  it('says it cannot reach the CA when nothing listens', async () => {
    const url = `https://127.0.0.1:${await closedPort()}`;
    const error = await userErrorOf(fetchPinnedRoot(url, pinned));
    expect(error.message).toMatch(new RegExp(`^cannot reach the CA at ${url} \\(.*ECONNREFUSED.*\\)\\. Is the stack deployed and the CA healthy\\?$`));
  });

  it('reports any other status with the start of the body', async () => {
    const server = await serve({ rootFor: () => ({ status: 500, body: 'internal trouble' }) });
    const error = await userErrorOf(fetchPinnedRoot(server.url, pinned));
    expect(error.message).toBe(`the CA at ${server.url} answered 500 for /root/${pinned}: internal trouble`);
  });

  it.each([
    ['not JSON', 'not json'],
    ['no certificate in "ca"', JSON.stringify({ ca: 'garbage' })],
  ])('refuses an unreadable root (%s)', async (_, body) => {
    const server = await serve({ rootFor: () => ({ status: 200, body }) });
    const error = await userErrorOf(fetchPinnedRoot(server.url, pinned));
    expect(error.message).toMatch(new RegExp(`^the CA at ${server.url} returned an unreadable root: .+`));
    expect(server.requests).toEqual([`/root/${pinned}`]);
  });

  it('refuses a CA that serves the right root but is not healthy', async () => {
    const server = await serve({ health: { status: 503, body: 'starting' } });
    const error = await userErrorOf(fetchPinnedRoot(server.url, pinned));
    expect(error.message).toBe(`the CA at ${server.url} is not healthy: 503 starting`);
  });

  // Only the first PEM block is fingerprinted by X509Certificate: a root
  // appended after the pinned one must not ride along into every root.crt.
  it('refuses a served PEM that appends another root after the pinned one', async () => {
    const server = await serve({
      tls: strangerTls,
      rootFor: () => rootBody(`${ca.root.certPem}\n${stranger.root.certPem}\n`),
    });
    await expect(fetchPinnedRoot(server.url, pinned)).rejects.toThrow('served 2 certificates');
  });
});

describe('httpsGet', () => {
  it('verifies the server against `ca` when given one', async () => {
    const server = await serve();
    await expect(httpsGet(`${server.url}/health`, { ca: ca.root.certPem })).resolves.toEqual({ status: 200, body: '{"status":"ok"}' });
    await expect(httpsGet(`${server.url}/health`, { ca: stranger.root.certPem })).rejects.toThrow(/certificate/);
  });

  it('only transports when given no `ca`', async () => {
    const server = await serve({ tls: strangerTls });
    await expect(httpsGet(`${server.url}/nowhere`)).resolves.toEqual({ status: 404, body: '{"status":404,"message":"Not Found"}' });
  });
});
