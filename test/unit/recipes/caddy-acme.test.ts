// The Caddy recipe's ACME mode (`mtls-caddy acme`) in its image (built on the
// caddy base the toolchain provides), against a real step-ca with the ACME
// provisioner the CA's entrypoint adds (MTLS_CA_ACME_DNS_NAMES), both on a
// Docker network where the CA reaches Caddy's port 443 by its DNS name
// (tls-alpn-01): the certificate obtained and served (its DNS name only,
// under the CA's intermediate), the callers checked as in file mode (allowed
// SAN URI served, no certificate, self-signed and unlisted refused with their
// reasons), two renewals under traffic with no failed call and no restart,
// and a Caddy asking for a name the CA does not list refused by the CA.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { mtlsRequest } from '../../../scripts/lib/identity/mtls-request.js';
import { LOCAL_IMAGES, OFFICIAL_IMAGES } from '../../../stack/versions.js';
import { selfSignedLeaf } from '../../helpers/pki.js';
import { caRunArgs, initCaVolume, stepCaImage } from '../images/helpers/step-ca-docker.js';

const run = `mtls-unit-caddy-acme-${randomBytes(4).toString('hex')}`;
const NAME = 'caddy-acme.mesh.internal';
const S = '/home/step';
const docker = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();
let dir = '';
let port = 0;
let rootPem = '';
const callers: Record<string, { certPem: string; keyPem: string }> = {};

/** A leaf from the CA's intermediate (as the renewer's enrolment gives one): its bundle and key. */
function caLeaf(cn: string, sans: string[]): { certPem: string; keyPem: string } {
  const f = `/tmp/${cn}`;
  const sanArgs = sans.map((s) => `--san ${s}`).join(' ');
  docker(
    ...['exec', `${run}-ca`, 'sh', '-c'],
    `step certificate create ${cn} ${f}.crt ${f}.key --ca ${S}/certs/intermediate_ca.crt --ca-key ${S}/secrets/intermediate_ca_key --ca-password-file ${S}/secrets/password --no-password --insecure --not-after 1h ${sanArgs} >/dev/null 2>&1`,
  );
  return {
    certPem: docker('exec', `${run}-ca`, 'sh', '-c', `cat ${f}.crt ${S}/certs/intermediate_ca.crt`),
    keyPem: docker('exec', `${run}-ca`, 'cat', `${f}.key`),
  };
}

/** The recipe's container in ACME mode, for `name`, on the test's network. */
function startCaddy(container: string, name: string, image: string, publish: boolean): void {
  const env = {
    CERT_DIR: '/var/run/step',
    ROOT_PIN_FILE: '/var/run/step/pins',
    STATS_FILE: '/tmp/stats.json',
    ALLOWED_IDENTITIES: 'spiffe://mesh.internal/caddy-acme-client,spiffe://mesh.internal/operator',
    CA_URL: 'https://ca.mesh.internal:9000',
    WORKLOAD_DNS_NAME: name,
  };
  docker(
    ...['run', '-d', '--name', container, '--network', run, '--network-alias', name, '--cap-drop', 'ALL', '--read-only', '--user', '1000:1000'],
    ...['--tmpfs', '/tmp', '--tmpfs', '/config:uid=1000,gid=1000', '--tmpfs', '/data:uid=1000,gid=1000', '-v', `${dir}:/var/run/step:ro`],
    ...(publish ? ['-p', '127.0.0.1::8443'] : []),
    ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    ...[image, 'acme'],
  );
}

const stats = () => JSON.parse(docker('exec', `${run}-caddy`, 'cat', '/tmp/stats.json')) as Record<string, unknown>;
const as = (who: string) => ({ cert: callers[who]?.certPem, key: callers[who]?.keyPem });
async function call(who: string) {
  try {
    const r = await mtlsRequest(`https://127.0.0.1:${port}/`, { ca: rootPem, servername: NAME, ...as(who) });
    return { status: r.status, body: r.body.trim(), serial: r.peerSerial };
  } catch (err) {
    return { code: (err as NodeJS.ErrnoException).code ?? String(err) };
  }
}
const state = () => docker('inspect', '-f', '{{.State.StartedAt}} {{.RestartCount}}', `${run}-caddy`);

beforeAll(async () => {
  const caImage = stepCaImage();
  const base = [OFFICIAL_IMAGES.caddy, LOCAL_IMAGES.caddy].find((r) => spawnSync('docker', ['image', 'inspect', r], { stdio: 'ignore' }).status === 0);
  if (!base) throw new Error(`no caddy base image (${OFFICIAL_IMAGES.caddy} or ${LOCAL_IMAGES.caddy}): run \`npx tsx scripts/toolchain.ts\``);
  const recipes = path.resolve(import.meta.dirname, '../../../recipes');
  docker('build', '-q', '--build-arg', `CADDY_IMAGE=${base}`, '-t', `${run}:test`, '-f', path.join(recipes, 'caddy/Dockerfile'), recipes);
  docker('network', 'create', run);
  initCaVolume(caImage, run, 'ca.mesh.internal,localhost,127.0.0.1');
  const ca = {
    MTLS_CA_MIN_TLS_CERT_DURATION: '1m',
    MTLS_CA_DEFAULT_TLS_CERT_DURATION: '1m',
    MTLS_CA_MAX_TLS_CERT_DURATION: '10m',
    MTLS_CA_ACME_DNS_NAMES: NAME,
  };
  // The base image's step-ca keeps its file capability: the CA runs with Docker's default capabilities here.
  docker('run', '-d', '--name', `${run}-ca`, '--network', run, '--network-alias', 'ca.mesh.internal', ...caRunArgs(caImage, run, ca, []));
  await waitFor('the CA to serve', async () => spawnSync('docker', ['exec', `${run}-ca`, 'bash', '/entrypoint.sh', 'health']).status === 0, {
    timeoutMs: 30_000,
    intervalMs: 500,
  });
  rootPem = docker('exec', `${run}-ca`, 'cat', `${S}/certs/root_ca.crt`);
  // The renewer's files: a leaf of its own (not what Caddy serves), the root and its pin.
  dir = await mkdtemp(path.join(tmpdir(), 'caddy-acme-'));
  const site = caLeaf('site', [NAME, 'spiffe://mesh.internal/caddy-acme']);
  await writeFile(path.join(dir, 'site.crt'), site.certPem);
  await writeFile(path.join(dir, 'site.key'), site.keyPem, { mode: 0o600 });
  await writeFile(path.join(dir, 'root.crt'), rootPem);
  await writeFile(path.join(dir, 'pins'), `${new X509Certificate(rootPem).fingerprint256.replace(/:/g, '').toLowerCase()}\n`);
  for (const f of ['site.crt', 'site.key', 'root.crt', 'pins', '.']) await chown(path.join(dir, f), 1000, 1000);
  await chmod(dir, 0o700);
  callers['operator'] = caLeaf('operator', ['operator.mesh.internal', 'spiffe://mesh.internal/operator']);
  callers['intruder'] = caLeaf('intruder', ['intruder.mesh.internal', 'spiffe://mesh.internal/intruder']);
  const foreign = await selfSignedLeaf({ commonName: 'operator.mesh.internal', dns: ['operator.mesh.internal'], uris: ['spiffe://mesh.internal/operator'] });
  callers['foreign'] = { certPem: foreign.certPem, keyPem: foreign.keyPem };
  startCaddy(`${run}-caddy`, NAME, `${run}:test`, true);
  port = Number(docker('port', `${run}-caddy`, '8443/tcp').split(':').at(-1));
}, 180_000);

afterAll(async () => {
  for (const c of ['caddy', 'other', 'ca']) spawnSync('docker', ['rm', '-f', `${run}-${c}`], { stdio: 'ignore' });
  for (const what of [
    ['network', 'rm'],
    ['volume', 'rm', '-f'],
    ['image', 'rm', '-f'],
  ]) {
    spawnSync('docker', [...what, what[0] === 'image' ? `${run}:test` : run], { stdio: 'ignore' });
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("Caddy's ACME mode against step-ca's ACME provisioner", { timeout: 120_000 }, () => {
  it('obtains its certificate by tls-alpn-01 and serves it: its DNS name only, under the CA intermediate; says ready', async () => {
    const served = await waitFor(
      'Caddy to serve its ACME certificate',
      async () => {
        const r = await call('operator');
        return 'status' in r && r.status === 200 ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    expect(served.body).toMatch(/^\{"server":"caddy","identity":"spiffe:\/\/mesh\.internal\/operator",/);
    // The entry process reads the served certificate within a second of Caddy's log line.
    const s = await waitFor('the stats to name it', async () => (stats()['serial'] === served.serial ? stats() : undefined), {
      timeoutMs: 5000,
      intervalMs: 200,
    });
    expect(s).toMatchObject({ technology: 'caddy-acme', state: 'serving', serial: served.serial, acme: { obtained: 1 } });
    expect(s['renewerSerial']).not.toBe(served.serial);
    const leaf = new X509Certificate(docker('exec', `${run}-caddy`, 'sh', '-c', `cat /data/caddy/certificates/*/${NAME}/${NAME}.crt`));
    expect(leaf.subjectAltName).toBe(`DNS:${NAME}`);
    expect(leaf.checkIssued(new X509Certificate(docker('exec', `${run}-ca`, 'cat', `${S}/certs/intermediate_ca.crt`)))).toBe(true);
    expect(docker('exec', `${run}-caddy`, 'mtls-health')).toMatch(new RegExp(`^ready: serving TLS on port 8443 with certificate ${served.serial} until `));
  });

  it('exits 2 naming the variable when CA_URL or WORKLOAD_DNS_NAME is missing or bad', () => {
    const start = (env: Record<string, string>) =>
      spawnSync(
        'docker',
        [
          'run',
          '--rm',
          '--network',
          'none',
          ...Object.entries({ ROOT_PIN_FILE: '/p', ALLOWED_IDENTITIES: 'spiffe://mesh.internal/x', ...env }).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
          `${run}:test`,
          'acme',
        ],
        {
          encoding: 'utf8',
        },
      );
    const noCa = start({ WORKLOAD_DNS_NAME: NAME });
    expect([noCa.status, noCa.stdout]).toEqual([
      2,
      expect.stringContaining('"msg":"bad configuration: CA_URL must be the CA\'s https URL (scheme, host, port)","variable":"CA_URL"'),
    ]);
    const badName = start({ CA_URL: 'https://ca.mesh.internal:9000', WORKLOAD_DNS_NAME: 'not a name' });
    expect([badName.status, badName.stdout]).toEqual([2, expect.stringContaining('"variable":"WORKLOAD_DNS_NAME"')]);
  });

  it('refuses: no certificate and a self-signed one in the handshake, an unlisted identity with a 403', async () => {
    expect(await call('nobody')).toEqual({ code: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
    expect(await call('foreign')).toEqual({ code: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' });
    expect(await call('intruder')).toMatchObject({ status: 403, body: '{"error":"forbidden","reason":"client identity not allowed"}' });
  });

  it('renews twice under traffic: a new serial each time, no failed call, the same container', async () => {
    const before = state();
    const serials = new Set<string>();
    const failed: unknown[] = [];
    await waitFor(
      'two renewals',
      async () => {
        const r = await call('operator');
        if ('status' in r && r.status === 200 && r.serial) serials.add(r.serial);
        else failed.push(r);
        return (serials.size >= 3 && (stats()['acme'] as { renewed: number }).renewed >= 2) || undefined;
      },
      { timeoutMs: 100_000, intervalMs: 250 },
    );
    expect(failed).toEqual([]);
    expect((stats()['acme'] as { renewed: number }).renewed).toBeGreaterThanOrEqual(2);
    expect(state()).toBe(before);
  });

  it('a Caddy asking for a name the CA does not list gets nothing: the CA refuses it at finalize (its reason in the CA log)', async () => {
    startCaddy(`${run}-other`, 'other.mesh.internal', `${run}:test`, false);
    const reason = "the ACME provisioner signs only the DNS names of the mesh's ACME workloads, not dns other.mesh.internal";
    const logs = (c: string) => spawnSync('docker', ['logs', c], { encoding: 'utf8' });
    // What the ACME client is told: step-ca answers the failed signing with a 500; the CA logs why.
    const failed = '"msg":"could not get certificate from issuer","identifier":"other.mesh.internal"';
    await waitFor('Caddy to be refused', async () => logs(`${run}-other`).stdout.includes(failed) || undefined, { timeoutMs: 30_000, intervalMs: 500 });
    expect(`${logs(`${run}-ca`).stderr}${logs(`${run}-ca`).stdout}`).toContain(reason);
    expect(docker('exec', `${run}-other`, 'cat', '/tmp/stats.json')).not.toContain('"serial"');
  });
});
