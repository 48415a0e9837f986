// The gRPC recipe (recipes/go/grpc): its Go tests, vet and gofmt; then its
// real server binary on the host, called by the e2e suite's caller
// (test/helpers/grpc-call.ts, node:http2): the allowed identity answered,
// an unlisted one refused with PERMISSION_DENIED and its reason, no client
// certificate and a self-signed one refused in the handshake, a renewal
// served without a restart.
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { $, fs } from 'zx';

import { waitFor } from '../../../common/wait.js';
import { grpcCall } from '../../helpers/grpc-call.js';
import { createPki, type Leaf, type Pki, selfSignedLeaf, writeCredentials } from '../../helpers/pki.js';
import { GO_RECIPE_DIR, gofmtBinary } from './helpers/go-recipe.js';
import { type RecipeFiles, recipeFiles } from './helpers/recipe-credentials.js';
import { type RecipeProcess, runRecipe } from './helpers/recipe-process.js';

const MODULE_DIR = path.join(GO_RECIPE_DIR, 'grpc');
const TREE = path.join(MODULE_DIR, '.cache', 'modules');
const SERVER = 'grpc-server';
const UNLISTED = '7 PERMISSION_DENIED: no SAN URI of the client certificate is in ALLOWED_IDENTITIES';

/** go in the gRPC module: go.sum pinned (-mod=readonly); modules from the toolchain's tree when it is there, else the Go module proxy. */
async function inModule(): Promise<typeof $> {
  const proxy = (await fs.pathExists(path.join(TREE, 'google.golang.org'))) ? `file://${TREE}` : (process.env['GOPROXY'] ?? 'https://proxy.golang.org');
  return $({
    cwd: MODULE_DIR,
    env: { ...process.env, GOTOOLCHAIN: 'local', GOFLAGS: '-mod=readonly', GOPROXY: proxy, CGO_ENABLED: '0' },
    nothrow: true,
    quiet: true,
  });
}

const identity = (name: string) => ({ commonName: `${name}.mesh.internal`, dns: [`${name}.mesh.internal`], uris: [`spiffe://mesh.internal/${name}`] });

describe('gRPC recipe: its Go tests', { timeout: 300_000 }, () => {
  it('go vet and go test pass, gofmt has nothing to say', async () => {
    const go = await inModule();
    const vet = await go`go vet ./...`;
    expect(vet.exitCode, vet.stderr).toBe(0);
    const test = await go`go test -count=1 ./...`;
    expect(test.exitCode, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/^ok\s+mtls-reference\/recipes\/go\/grpc\b/m);
    const fmt = await $({ cwd: MODULE_DIR, nothrow: true, quiet: true })`${await gofmtBinary()} -l .`;
    expect(fmt.stdout.trim()).toBe('');
  });
});

describe('gRPC recipe: the server binary, called over HTTP/2 from Node', { timeout: 300_000 }, () => {
  let pki: Pki;
  let files: RecipeFiles;
  let server: RecipeProcess;
  let port: number;
  let operator: Leaf;
  const statsFile = () => path.join(files.dir, 'stats.json');
  // The leaf with its intermediate, as site.crt holds it: the server trusts the root alone.
  const call = (leaf?: Leaf) =>
    grpcCall({ port, serverName: `${SERVER}.mesh.internal` }, pki.root.certPem, leaf && { certPem: leaf.bundlePem, keyPem: leaf.keyPem });

  beforeAll(async () => {
    pki = await createPki('gRPC');
    files = await recipeFiles('grpc-server', pki.root.certPem, await pki.issue(identity(SERVER)));
    const bin = path.join(files.dir, 'mtls-grpc');
    const build = await (await inModule())`go build -o ${bin} .`;
    expect(build.exitCode, build.stderr).toBe(0);
    // runRecipe runs a file without arguments: a wrapper names the role.
    const wrapper = path.join(files.dir, 'grpc-server.sh');
    await writeFile(wrapper, `#!/bin/sh\nexec '${bin}' server\n`);
    await chmod(wrapper, 0o755);
    port = 20000 + Math.floor(Math.random() * 20000);
    server = runRecipe(
      wrapper,
      {
        CERT_DIR: files.certDir,
        ROOT_PIN_FILE: files.pinFile,
        STATS_FILE: statsFile(),
        LISTEN_PORT: String(port),
        ALLOWED_IDENTITIES: 'spiffe://mesh.internal/grpc-client,spiffe://mesh.internal/operator',
        WORKLOAD_IDENTITY: `spiffe://mesh.internal/${SERVER}`,
      },
      statsFile(),
    );
    operator = await pki.issue(identity('operator'));
    await waitFor('the gRPC server to serve', async () => ((await fs.pathExists(statsFile())) && (await server.stats()).state === 'serving') || undefined, {
      timeoutMs: 20_000,
      intervalMs: 100,
    });
  });
  afterAll(async () => {
    await server?.stop();
    await files?.remove();
  });

  it('answers an allowed identity with who it is', async () => {
    expect(await call(operator), server.output()).toEqual({ ok: true, body: 'operator true' });
  });

  it('refuses an unlisted identity with PERMISSION_DENIED and its reason', async () => {
    const intruder = await pki.issue(identity('intruder'));
    expect(await call(intruder)).toEqual({ ok: false, code: 'PERMISSION_DENIED', message: UNLISTED });
  });

  it('refuses a caller without a certificate, and a self-signed one, in the handshake', async () => {
    const none = await call();
    expect(none.ok ? '' : none.code).toBe('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED');
    const foreign = await selfSignedLeaf(identity('operator'));
    const selfSigned = await call(foreign);
    expect(selfSigned.ok ? '' : selfSigned.code).toBe('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA');
    const stats = await waitFor(
      'the refusals counted',
      async () => {
        const s = (await server.stats()) as unknown as { requests: { refused: number } };
        return s.requests.refused >= 3 ? s : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 100 },
    );
    expect(stats.requests.refused).toBe(3);
  });

  it('serves a renewed certificate without a restart', async () => {
    const pid = server.child.pid;
    const renewed = await pki.issue(identity(SERVER));
    await writeCredentials(files.certDir, pki.root.certPem, renewed);
    await waitFor('the renewal in use', async () => ((await server.stats()).serial === renewed.serial ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 100,
    });
    expect(server.child.pid).toBe(pid);
    expect(server.child.exitCode).toBeNull();
    expect(await call(operator)).toEqual({ ok: true, body: 'operator true' });
  });
});
