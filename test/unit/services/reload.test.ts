// Hot reload of the server's credentials: new connections get the new
// certificate, existing keep-alive connections keep working, and anything
// broken on disk is refused while the old credentials stay in use.
import { watch } from 'node:fs';
import { Agent } from 'node:https';

import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import type { Leaf } from '../../helpers/pki.js';
import { type CertDir, createTestPki, linkFromOutside, type RunningServer, type ServedMesh, serveMesh, startServer, type TestPki } from './helpers/fixtures.js';
import { adminGet, httpsGet, sample, within } from './helpers/harness.js';

let pki: TestPki;
let client: Leaf;
let first: Leaf;
let dir: CertDir;
let running: RunningServer;
let port: number;

beforeAll(async () => {
  pki = await createTestPki();
  client = await pki.clientLeaf();
});

let served: ServedMesh;

beforeEach(async () => {
  served = await serveMesh('reload', {}, pki);
  ({ leaf: first, dir, running, port } = served);
});

afterEach(async () => served.stop());

/** A brand-new connection: which certificate does the server present now? */
const freshConnection = () => httpsGet({ port, ca: pki.mesh.root.certPem, cert: client.bundlePem, key: client.keyPem });
const watcher = () => running.server.credentials;
const logged = (msg: string) => running.logs.filter((line) => line.msg === msg);

describe('server certificate rotation', () => {
  it('serves the new certificate to new connections while an open keep-alive connection keeps working', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: pki.mesh.root.certPem, cert: client.bundlePem, key: client.keyPem });
    try {
      const before = await httpsGet({ port, ca: '', agent });
      expect(before.body.serverSerial).toBe(first.serial);

      const second = await pki.serverLeaf();
      await dir.write(second);
      await waitFor('reload to the second certificate', () => watcher().current?.serial === second.serial, within());

      const onOldConnection = await httpsGet({ port, ca: '', agent });
      expect(onOldConnection.status).toBe(200);
      expect(onOldConnection.reusedSocket).toBe(true);
      expect(onOldConnection.socket).toBe(before.socket);
      expect(onOldConnection.body.serverSerial).toBe(first.serial);

      const onNewConnection = await freshConnection();
      expect(onNewConnection.status).toBe(200);
      expect(onNewConnection.peerSerial).toBe(second.serial);
      expect(onNewConnection.body.serverSerial).toBe(second.serial);

      expect(watcher().reloads).toBe(1);
      expect(logged('credentials reloaded')).toEqual([
        expect.objectContaining({ level: 'info', serial: second.serial, previousSerial: first.serial, notAfter: expect.any(String) }),
      ]);
      const metrics = (await adminGet(running.server.adminPort, '/metrics')).text;
      expect(sample(metrics, 'mtls_credential_reloads_total')).toBe(1);
      expect(sample(metrics, `mtls_certificate_info{serial="${second.serial}"}`)).toBe(1);
      expect(metrics).not.toContain(first.serial);
    } finally {
      agent.destroy();
    }
  });

  it('closes keep-alive connections older than maxConnectionAgeMs so clients pick up the new certificate', async () => {
    await running.stop();
    running = await startServer(dir.path, { maxConnectionAgeMs: 100 });
    port = await running.port();
    const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: pki.mesh.root.certPem, cert: client.bundlePem, key: client.keyPem });
    try {
      const opened = await httpsGet({ port, ca: '', agent });
      const second = await pki.serverLeaf();
      await dir.write(second);
      await waitFor('reload', () => watcher().current?.serial === second.serial, within());
      await waitFor('agent reconnects', async () => (await httpsGet({ port, ca: '', agent })).body.serverSerial === second.serial, within());
      const now = await httpsGet({ port, ca: '', agent });
      expect(now.socket).not.toBe(opened.socket);
    } finally {
      agent.destroy();
    }
  });

  it('ignores a rewrite with identical content', async () => {
    await dir.write(first);
    await watcher().check();
    expect(watcher().reloads).toBe(0);
    expect(watcher().failedReloads).toBe(0);
    expect(logged('credentials reloaded')).toHaveLength(0);
  });
});

describe('refused reloads keep the old credentials', () => {
  it('keeps serving after a half-written certificate, logs why, then picks up the complete file', async () => {
    const second = await pki.serverLeaf();
    const half = second.bundlePem.slice(0, Math.floor(second.bundlePem.length / 3));
    await dir.writeFile('site.crt', half);
    await waitFor('rejected reload', () => watcher().failedReloads >= 1, within());

    expect(watcher().current?.serial).toBe(first.serial);
    expect(running.server.stats().credentials.lastFailure).toMatchObject({ problem: 'malformed', message: expect.stringContaining('truncated') });
    expect(logged('credentials rejected; keeping the current ones')[0]).toMatchObject({
      level: 'error',
      problem: 'malformed',
      currentSerial: first.serial,
      currentNotAfter: watcher().current?.notAfter.toISOString(),
    });
    expect((await freshConnection()).peerSerial).toBe(first.serial);
    const metrics = (await adminGet(running.server.adminPort, '/metrics')).text;
    expect(sample(metrics, 'mtls_credential_reload_failures_total')).toBe(watcher().failedReloads);

    await dir.write(second);
    await waitFor('the complete write is picked up', () => watcher().current?.serial === second.serial, within());
    expect((await freshConnection()).peerSerial).toBe(second.serial);
  });

  it('refuses garbage and a key that does not match the certificate', async () => {
    await dir.writeFile('site.crt', 'not a certificate at all\n');
    await waitFor('garbage rejected', () => watcher().lastFailure?.problem === 'malformed', within());

    const second = await pki.serverLeaf();
    const unrelated = await pki.serverLeaf();
    await dir.writeFile('site.key', unrelated.keyPem);
    await dir.writeFile('site.crt', second.bundlePem);
    await waitFor('mismatched key rejected', () => watcher().lastFailure?.problem === 'key_mismatch', within());

    expect(watcher().current?.serial).toBe(first.serial);
    expect(watcher().reloads).toBe(0);
    const rejection = logged('credentials rejected; keeping the current ones').find((line) => line['problem'] === 'key_mismatch');
    expect(rejection).toMatchObject({ rejectedSerial: second.serial, currentSerial: first.serial });
    expect(JSON.stringify(running.logs)).not.toContain('PRIVATE KEY');
    expect((await freshConnection()).peerSerial).toBe(first.serial);
  });

  it('refuses a certificate from another CA and an expired one', async () => {
    const foreign = await pki.other.issue({ commonName: 'server', dns: ['server.mesh.internal'] });
    await dir.write(foreign);
    await waitFor('foreign certificate rejected', () => watcher().lastFailure?.problem === 'untrusted', within());
    const expired = await pki.mesh.issue({
      commonName: 'server',
      dns: ['server.mesh.internal'],
      notBefore: new Date(Date.now() - 7200_000),
      notAfter: new Date(Date.now() - 3600_000),
    });
    await dir.write(expired);
    await waitFor('expired certificate rejected', () => watcher().lastFailure?.problem === 'expired', within());
    expect(watcher().current?.serial).toBe(first.serial);
    expect((await freshConnection()).peerSerial).toBe(first.serial);
  });

  it('retries a refused reload and succeeds once the writer finishes, without another file event', async () => {
    // Writes through hard links in another directory produce no event here,
    // and the fallback poll is a minute away: only the retry can see them.
    // The linking itself is a directory event: wait until the watcher's
    // debounced check for the last such event has run (it finds the same
    // content), so it cannot land between the two writes below. A watch of our
    // own sees the same events, in the same dispatch as the server's watch.
    const checks = vi.spyOn(watcher(), 'check');
    let events = 0;
    let checksAtLastEvent = 0;
    const observer = watch(dir.path, { persistent: false }, () => {
      events += 1;
      checksAtLastEvent = checks.mock.calls.length;
    });
    let writeKey: (content: string) => Promise<void>;
    let writeCert: (content: string) => Promise<void>;
    try {
      writeKey = await linkFromOutside(dir, 'site.key');
      writeCert = await linkFromOutside(dir, 'site.crt');
      await waitFor('the debounced check after the linking', () => events > 0 && checks.mock.calls.length > checksAtLastEvent, within());
      await checks.mock.results.at(-1)?.value;
    } finally {
      observer.close();
      checks.mockRestore();
    }
    await watcher().check();
    expect(watcher().failedReloads).toBe(0);

    const second = await pki.serverLeaf();
    await writeKey(second.keyPem);
    await writeCert(second.bundlePem.slice(0, 100));
    await watcher().check();
    expect(watcher().lastFailure?.problem).toBe('malformed');
    await writeCert(second.bundlePem);
    await waitFor('retry picks up the finished file', () => watcher().current?.serial === second.serial, within(3_000));
    expect(watcher().failedReloads).toBe(1);
  });
});
