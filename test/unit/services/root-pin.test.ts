// Item: apps pin their root. The pin (fingerprints, one per line) sits where
// the renewer cannot write; root.crt may hold pinned roots only, so writing a
// foreign root and a leaf it signed into the certs volume changes nothing.
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { type CredentialError, validateCredentials } from '../../../services/lib/credentials.js';
import { fingerprintOf, parsePins } from '../../../services/lib/root-pins.js';
import { makeTempDir } from '../../helpers/pki.js';
import { type CertDir, createCertDir, createTestPki, startServer, type TestPki } from './helpers/fixtures.js';
import { httpsGet, within } from './helpers/harness.js';

let pki: TestPki;
let meshPin: string;
let otherPin: string;

beforeAll(async () => {
  pki = await createTestPki();
  meshPin = fingerprintOf(new X509Certificate(pki.mesh.root.certPem));
  otherPin = fingerprintOf(new X509Certificate(pki.other.root.certPem));
});

const problemOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (error) {
    return (error as CredentialError).problem;
  }
};

describe('pin file', () => {
  it('reads fingerprints with or without colons, in any case, with comments and blank lines', () => {
    const colons = meshPin.toUpperCase().match(/../g)!.join(':');
    expect([...parsePins(`# pinned by bootstrap-trust\n${colons}\n\n${otherPin}  # next root\n`)]).toEqual([meshPin, otherPin]);
  });

  it('refuses a line that is not a SHA-256 fingerprint, and a file that pins nothing', () => {
    expect(() => parsePins(`${meshPin}\nsha1:abcd\n`, 'pins')).toThrow('pins line 2 is not a SHA-256 fingerprint');
    expect(() => parsePins(`${meshPin.slice(1)}\n`)).toThrow(/line 1/);
    expect(() => parsePins('# nothing\n\n', 'pins')).toThrow('pins pins no root');
  });
});

describe('validateCredentials with a pin', () => {
  it('accepts a chain to a pinned root and refuses root.crt with any unpinned root', async () => {
    const leaf = await pki.serverLeaf();
    const foreign = await pki.other.issue({ commonName: 'server', dns: ['server.mesh.internal'] });
    const pins = new Set([meshPin]);
    expect(validateCredentials({ rootPem: pki.mesh.root.certPem, certPem: leaf.bundlePem, keyPem: leaf.keyPem }, new Date(), pins).serial).toBe(leaf.serial);
    // A foreign root with a leaf it signed: a valid set, but not ours.
    expect(
      problemOf(() => validateCredentials({ rootPem: pki.other.root.certPem, certPem: foreign.bundlePem, keyPem: foreign.keyPem }, new Date(), pins)),
    ).toBe('unpinned');
    // Our chain, but root.crt also trusts a foreign root (it would let that CA's clients in).
    const both = `${pki.mesh.root.certPem}\n${pki.other.root.certPem}`;
    expect(problemOf(() => validateCredentials({ rootPem: both, certPem: leaf.bundlePem, keyPem: leaf.keyPem }, new Date(), pins))).toBe('unpinned');
    // Both roots pinned (a root rotation in progress): accepted.
    expect(validateCredentials({ rootPem: both, certPem: foreign.bundlePem, keyPem: foreign.keyPem }, new Date(), new Set([meshPin, otherPin])).serial).toBe(
      foreign.serial,
    );
  });
});

describe('a pinned server', () => {
  let dir: CertDir;
  let pinDir: { path: string; remove(): Promise<void> };
  afterAll(async () => {
    await dir?.remove();
    await pinDir?.remove();
  });

  it('waits for the pin, refuses a foreign root written with a leaf it signed, and takes a new pin set without a restart', async () => {
    dir = await createCertDir(pki, 'pinned');
    pinDir = await makeTempDir('pin');
    const pinFile = join(pinDir.path, 'root-fingerprints');
    const first = await pki.serverLeaf();
    await dir.write(first);
    const running = await startServer(dir.path, { rootPinFile: pinFile });
    try {
      // Credentials on disk, no pin yet: nothing is served.
      expect(running.server.stats()).toMatchObject({ state: 'waiting', listen: null, credentials: { state: 'waiting' } });
      expect(running.logs.find((line) => line.msg === 'waiting for certificate')?.['reason']).toContain('root pin');

      await writeFile(pinFile, `${meshPin}\n`);
      const port = (await running.server.serving()).port;
      const client = await pki.clientLeaf();
      const served = async () =>
        (await httpsGet({ port, ca: `${pki.mesh.root.certPem}\n${pki.other.root.certPem}`, cert: client.bundlePem, key: client.keyPem })).peerSerial;
      expect(await served()).toBe(first.serial);

      // The renewer's volume is writable by whoever controls the renewer.
      const foreign = await pki.other.issue({ commonName: 'server', dns: ['server.mesh.internal'] });
      await dir.write(foreign, pki.other.root.certPem);
      await waitFor('the foreign set refused', () => running.server.credentials.lastFailure?.problem === 'unpinned', within());
      expect(running.logs.find((line) => line.msg === 'credentials rejected; keeping the current ones')).toMatchObject({
        problem: 'unpinned',
        reason: expect.stringContaining(otherPin),
        rejectedSerial: foreign.serial,
        currentSerial: first.serial,
      });
      expect(running.server.credentials.current?.serial).toBe(first.serial);
      expect(await served()).toBe(first.serial);

      // The pin set (not the certs volume) is what an operator changes to trust another root.
      await writeFile(pinFile, `${meshPin}\n${otherPin}\n`);
      await waitFor('the new pin set applies', () => running.server.credentials.current?.serial === foreign.serial, within());
      expect(running.server.credentials.reloads).toBe(1);
    } finally {
      await running.stop();
    }
  });
});
