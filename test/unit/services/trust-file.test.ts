// The trust-file contract (recipes/README.md): root.crt is refused as a whole,
// with the contract's reason, unless it is a small regular file of exact
// CERTIFICATE blocks that are all pinned; the credentials in use stay. What
// TLS trusts is the accepted certificates re-encoded, never the file.
import { createHash, X509Certificate } from 'node:crypto';
import { rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { credentialReadiness } from '../../../services/lib/credential-status.js';
import { CredentialWatcher } from '../../../services/lib/credential-watcher.js';
import { pemOf, type TrustProblem } from '../../../services/lib/trust-file.js';
import { createRootCa, type Leaf, makeTempDir } from '../../helpers/pki.js';
import { type CertDir, CLIENT_DNS, CLIENT_URI, createCertDir, createTestPki, startServer, type TestPki } from './helpers/fixtures.js';
import { httpsGet, within } from './helpers/harness.js';

let pki: TestPki;
/** Two pinned roots (the mesh's and the next one of a root rotation) and a foreign root. */
let pinned: string;
let next: string;
let foreign: string;
let pinFile: string;
let pinDir: { path: string; remove(): Promise<void> };
/** A private key's PEM (the server leaf's), for the variant that appends one. */
let keyPem: string;

const der = (pem: string) => new X509Certificate(pem).raw;
const sha256 = (pem: string) => createHash('sha256').update(der(pem)).digest('hex');
const relabel = (pem: string, label: string) => pem.replace('BEGIN CERTIFICATE', `BEGIN ${label}`).replace('END CERTIFICATE', `END ${label}`);

/** A PEM as a file holds it: ending in a newline, so that blocks concatenate. */
const line = (pem: string) => `${pem.trimEnd()}\n`;

beforeAll(async () => {
  pki = await createTestPki();
  pinned = line(pki.mesh.root.certPem);
  next = line((await createRootCa('Next Root CA')).certPem);
  foreign = line(pki.other.root.certPem);
  pinDir = await makeTempDir('trust-pins');
  pinFile = join(pinDir.path, 'root-fingerprints');
  await writeFile(pinFile, `${sha256(pinned)}\n${sha256(next)}\n`);
});

afterAll(async () => pinDir?.remove());

interface Variant {
  readonly name: string;
  /** root.crt's content, or a symlink to a file with that content. */
  readonly content: () => string | Buffer;
  readonly symlink?: boolean;
  readonly reason: TrustProblem;
}

const hostile: readonly Variant[] = [
  { name: 'a foreign root appended as TRUSTED CERTIFICATE', content: () => pinned + relabel(foreign, 'TRUSTED CERTIFICATE'), reason: 'foreign_block' },
  { name: 'a foreign root appended as X509 CERTIFICATE', content: () => pinned + relabel(foreign, 'X509 CERTIFICATE'), reason: 'foreign_block' },
  {
    name: 'a foreign root appended under a label with a trailing space',
    content: () => pinned + foreign.replace('-----BEGIN CERTIFICATE-----', '-----BEGIN CERTIFICATE----- '),
    reason: 'foreign_block',
  },
  { name: 'a PRIVATE KEY block appended', content: () => pinned + keyPem, reason: 'foreign_block' },
  { name: 'an X509 CRL block appended', content: () => pinned + relabel(foreign, 'X509 CRL'), reason: 'foreign_block' },
  { name: 'a foreign plain root before the pinned ones', content: () => foreign + pinned + next, reason: 'unpinned' },
  { name: 'a foreign plain root after the pinned ones', content: () => pinned + next + foreign, reason: 'unpinned' },
  { name: 'a foreign plain root between two pinned ones', content: () => pinned + foreign + next, reason: 'unpinned' },
  { name: 'the pinned root as DER', content: () => der(pinned), reason: 'not_pem' },
  { name: 'an empty file', content: () => '', reason: 'no_certificate' },
  { name: '10 MB of pinned roots', content: () => pinned.repeat(Math.ceil(10_000_000 / pinned.length)), reason: 'too_large' },
  { name: 'a symlink to a valid pinned file', content: () => pinned, symlink: true, reason: 'not_regular_file' },
  { name: 'text outside the blocks', content: () => `subject=CN = Mesh Root CA\n${pinned}`, reason: 'stray_text' },
  { name: 'a body character outside base64', content: () => pinned.replace(/\n(.)/, '\n*'), reason: 'bad_base64' },
  { name: 'a body that is not whole base64', content: () => pinned.replace(/\n([A-Za-z0-9+/]{4})/, '\n$1A'), reason: 'bad_base64' },
];

const accepted: readonly { readonly name: string; readonly content: () => string; readonly roots: () => string[] }[] = [
  { name: 'one pinned root', content: () => pinned, roots: () => [pinned] },
  { name: 'two pinned roots', content: () => `${pinned}\n${next}`, roots: () => [pinned, next] },
  { name: 'CRLF line endings', content: () => `${pinned}${next}`.replace(/\n/g, '\r\n'), roots: () => [pinned, next] },
];

describe('root.crt under the trust-file contract', () => {
  let dir: CertDir;
  let leaf: Leaf;
  let watcher: CredentialWatcher;

  beforeAll(async () => {
    dir = await createCertDir(pki, 'trust-file');
    leaf = await pki.serverLeaf();
    keyPem = leaf.keyPem;
    await dir.write(leaf, pinned);
    watcher = new CredentialWatcher({ dir: dir.path, pinFile, retryDelaysMs: [] });
    await watcher.check();
    expect(watcher.current?.serial).toBe(leaf.serial);
  });

  afterAll(async () => {
    watcher?.stop();
    await dir?.remove();
  });

  const writeRoot = async (variant: Pick<Variant, 'content' | 'symlink'>) => {
    const root = join(dir.path, 'root.crt');
    await rm(root, { force: true });
    if (!variant.symlink) return writeFile(root, variant.content());
    const target = join(dir.path, 'elsewhere.crt');
    await writeFile(target, variant.content());
    await symlink(target, root);
  };

  it.each(hostile)('refuses $name ($reason) and keeps the credentials in use', async (variant) => {
    const failed = watcher.failedReloads;
    await writeRoot(variant);
    await watcher.check();
    expect(watcher.lastFailure?.problem).toBe(variant.reason);
    expect(watcher.failedReloads).toBe(failed + 1);
    expect(watcher.current?.serial).toBe(leaf.serial);
    expect(watcher.current?.rootPem).toBe(pemOf(der(pinned)));
    expect(watcher.refusing).toBe(true);
    // Back to the file in use: nothing to reload, and nothing refused any more.
    await writeRoot({ content: () => pinned });
    await watcher.check();
    expect(watcher.current?.serial).toBe(leaf.serial);
    expect(watcher.refusing).toBe(false);
  });

  it('refused before anything loaded is unhealthy; the refused files removed, it waits again', async () => {
    const fresh = await createCertDir(pki, 'trust-file-fresh');
    const w = new CredentialWatcher({ dir: fresh.path, pinFile, retryDelaysMs: [] });
    try {
      await fresh.write(leaf, `${pinned}${next.replace('CERTIFICATE', 'X509 CERTIFICATE').replace('END CERTIFICATE', 'END X509 CERTIFICATE')}`);
      await w.check();
      expect(credentialReadiness(w).status).toBe('unhealthy');
      expect(w.lastFailure?.problem).toBe('foreign_block');
      await rm(join(fresh.path, 'root.crt'));
      await w.check();
      expect(credentialReadiness(w).status).toBe('waiting');
      expect(w.lastFailure?.problem).toBe('foreign_block');
    } finally {
      w.stop();
      await fresh.remove();
    }
  });

  it.each(accepted)('accepts $name and hands TLS the certificates re-encoded', async (variant) => {
    const failed = watcher.failedReloads;
    await writeRoot(variant);
    await watcher.check();
    expect(watcher.failedReloads).toBe(failed);
    expect(watcher.current?.serial).toBe(leaf.serial);
    expect(watcher.current?.rootPem).toBe(
      variant
        .roots()
        .map((pem) => pemOf(der(pem)))
        .join(''),
    );
    await writeRoot({ content: () => pinned });
    await watcher.check();
  });
});

describe('a server whose root.crt gains a foreign root as TRUSTED CERTIFICATE', () => {
  let dir: CertDir;
  afterAll(async () => dir?.remove());

  it('refuses the file (foreign_block), keeps serving, and a foreign-CA client with an allowed identity fails the handshake', async () => {
    dir = await createCertDir(pki, 'trust-file-server');
    const first = await pki.serverLeaf();
    await dir.write(first, pinned);
    const running = await startServer(dir.path, { rootPinFile: pinFile });
    try {
      const port = await running.port();
      const ours = await pki.clientLeaf();
      const intruder = await pki.other.issue({ commonName: 'client', dns: [CLIENT_DNS], uris: [CLIENT_URI] });
      const call = (client: Leaf) => httpsGet({ port, ca: pinned, cert: client.bundlePem, key: client.keyPem });

      await dir.writeFile('root.crt', pinned + relabel(foreign, 'TRUSTED CERTIFICATE'));
      await waitFor('the hostile root.crt refused', () => running.server.credentials.lastFailure?.problem === 'foreign_block', within());
      expect(running.logs.find((line) => line.msg === 'credentials rejected; keeping the current ones')).toMatchObject({
        problem: 'foreign_block',
        currentSerial: first.serial,
      });
      const served = await call(ours);
      expect([served.status, served.peerSerial]).toEqual([200, first.serial]);
      // TLS 1.3: the server's alert may reach the client as a reset; the server names the reason.
      const unknownCa = () => running.server.metrics.handshakeFailures.get({ reason: 'unknown_ca' });
      const before = unknownCa();
      await expect(call(intruder)).rejects.toMatchObject({ code: expect.stringMatching(/^(ERR_SSL_TLSV1_ALERT_UNKNOWN_CA|ECONNRESET)$/) });
      await waitFor('the handshake refused as unknown_ca', () => unknownCa() === before + 1, within());
    } finally {
      await running.stop();
    }
  });
});
