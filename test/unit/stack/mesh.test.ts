// The mesh as data: the default mesh file synthesizes into containers,
// volumes, images and allow-lists; adding a workload is one edit of it; a
// wrong mesh is refused with an error that names the workload and the value.
import path from 'node:path';

import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { describe, expect, it } from 'vitest';

import { DEFAULT_MESH } from '../../../mesh.js';
import { type MeshSpec, resolveMesh, selectWorkloads, type WorkloadSpec } from '../../../stack/mesh-spec.js';
import { type DockerContainerJson, type DockerImageJson, envOf, listOf, resourcesOf } from '../helpers/cdktf-matchers.js';
import { BASE_IMAGES, buildStack, PROJECT_DIR, referencedId } from './fixtures.js';

const built = buildStack({ namePrefix: 'mesh', mesh: DEFAULT_MESH });
const containers = listOf<DockerContainerJson>(built.json, Container);
const images = resourcesOf<DockerImageJson>(built.json, Image);
const volumes = listOf<{ name: string }>(built.json, Volume).map((v) => v.name);
const container = (name: string): DockerContainerJson => {
  const c = containers.find((x) => x.name === `mesh-${name}`);
  if (!c) throw new Error(`no container mesh-${name}; have ${containers.map((x) => x.name).join(', ')}`);
  return c;
};
const imageName = (c: DockerContainerJson) => images[referencedId(c.image, 'docker_image') ?? '']?.name;
const env = (name: string) => envOf(container(name));

describe('the default mesh', () => {
  const names = DEFAULT_MESH.workloads.map((w) => w.name);

  it('runs every workload with its renewer, plus the CA and its init step', () => {
    expect(containers.map((c) => c.name).sort()).toEqual(['mesh-ca', 'mesh-ca-init', ...names.flatMap((n) => [`mesh-${n}`, `mesh-${n}-renewer`])].sort());
  });

  it('gives every workload a certs and a trust volume, and PostgreSQL a data volume', () => {
    for (const n of names) expect(volumes).toEqual(expect.arrayContaining([`mesh-${n}-certs`, `mesh-${n}-trust`]));
    expect(volumes.filter((v) => v.endsWith('-data'))).toEqual(['mesh-postgres-data']);
    const data = container('postgres').volumes?.find((v) => v.container_path === '/var/lib/postgresql/data');
    expect(data?.volume_name).toMatch(/^\$\{docker_volume\.postgres_data_[0-9A-F]+\.name\}$/);
  });

  it('builds one image per folder, each from its own base image', () => {
    const byName = Object.fromEntries(Object.values(images).map((i) => [i.name, i]));
    expect(Object.keys(byName).sort()).toEqual(
      ['curl', 'go', 'nginx', 'postgres', 'psql', 'python', 'step-ca', 'workload'].map((f) => `mesh-${f}:local`).sort(),
    );
    expect(byName['mesh-go:local']?.build).toMatchObject({
      context: path.join(PROJECT_DIR, 'recipes', 'go'),
      build_args: expect.objectContaining({ GOLANG_IMAGE: BASE_IMAGES.golang, RUNTIME_IMAGE: BASE_IMAGES.debian }),
    });
    expect(byName['mesh-nginx:local']?.build?.build_args).toMatchObject({ NGINX_IMAGE: BASE_IMAGES.nginx });
  });

  it('builds the shell recipes with recipes/ as the context (they copy the trust-file tool in recipes/lib) and their own Dockerfile', () => {
    const byName = Object.fromEntries(Object.values(images).map((i) => [i.name, i]));
    for (const folder of ['nginx', 'curl', 'postgres', 'psql']) {
      expect(byName[`mesh-${folder}:local`]?.build, folder).toMatchObject({ context: path.join(PROJECT_DIR, 'recipes'), dockerfile: `${folder}/Dockerfile` });
    }
  });

  it('runs each workload from its technology image, with the role as command where one image serves two', () => {
    expect(imageName(container('go-server'))).toBe('mesh-go:local');
    expect(imageName(container('go-client'))).toBe('mesh-go:local');
    expect((container('go-server') as { command?: string[] }).command).toEqual(['/usr/local/bin/mtls-go', 'server']);
    expect((container('go-client') as { command?: string[] }).command).toEqual(['/usr/local/bin/mtls-go', 'client']);
    expect(imageName(container('curl'))).toBe('mesh-curl:local');
    expect((container('nginx') as { healthcheck?: { test?: string[] } }).healthcheck?.test).toEqual(['CMD', '/usr/local/bin/mtls-health']);
  });

  it('gives each server its callers in the form its technology checks', () => {
    // nginx and PostgreSQL check the DNS name (CN), Go, Python and Node the SPIFFE URI.
    expect(env('nginx')['ALLOWED_IDENTITIES']).toBe('curl.mesh.internal,operator.mesh.internal');
    expect(env('postgres')['ALLOWED_IDENTITIES']).toBe('psql.mesh.internal,operator.mesh.internal');
    expect(env('go-server')['ALLOWED_IDENTITIES']).toBe('spiffe://mesh.internal/python-client,spiffe://mesh.internal/operator');
    expect(env('python-server')['ALLOWED_IDENTITIES']).toBe('spiffe://mesh.internal/go-client,spiffe://mesh.internal/operator');
    expect(env('server')['ALLOWED_IDENTITIES']).toBe('spiffe://mesh.internal/client,spiffe://mesh.internal/nginx,spiffe://mesh.internal/operator');
  });

  it('points each client at its server, with the server identity in the form the client checks', () => {
    expect(env('curl')).toMatchObject({ TARGET_HOST: 'nginx.mesh.internal', TARGET_PORT: '8443', EXPECTED_SERVER_IDENTITY: 'nginx.mesh.internal' });
    expect(env('go-client')).toMatchObject({ TARGET_HOST: 'python-server.mesh.internal', EXPECTED_SERVER_IDENTITY: 'spiffe://mesh.internal/python-server' });
    expect(env('python-client')).toMatchObject({ TARGET_HOST: 'go-server.mesh.internal', EXPECTED_SERVER_IDENTITY: 'spiffe://mesh.internal/go-server' });
    expect(env('psql')).toMatchObject({ TARGET_HOST: 'postgres.mesh.internal', TARGET_PORT: '5432', REQUEST_INTERVAL_MS: '2000' });
    expect(env('client')['TARGET_URL']).toBe('https://server.mesh.internal:8443/');
  });

  it('makes nginx a proxy of the Node server: its target is an upstream, not a client loop', () => {
    expect(env('nginx')).toMatchObject({
      LISTEN_PORT: '8443',
      UPSTREAM_HOST: 'server.mesh.internal',
      UPSTREAM_PORT: '8443',
      UPSTREAM_IDENTITY: 'server.mesh.internal',
    });
    expect(env('nginx')['TARGET_HOST']).toBeUndefined();
  });

  it('publishes every server on 127.0.0.1 only, each on its own port', () => {
    const published = containers.flatMap((c) => (c.ports ?? []).map((p) => ({ name: c.name, ...p })));
    expect(published.map((p) => p.ip)).toEqual(published.map(() => '127.0.0.1'));
    expect(new Set(published.map((p) => p.external)).size).toBe(published.length);
    expect(published.map((p) => p.name).sort()).toEqual(
      ['mesh-ca', 'mesh-go-server', 'mesh-nginx', 'mesh-postgres', 'mesh-python-server', 'mesh-server'].sort(),
    );
  });

  it('is a cross-technology matrix: every recipe client calls another technology, every server is called by one', () => {
    const mesh = resolveMesh(DEFAULT_MESH);
    const label = (name: string) => mesh.workloads.find((x) => x.name === name)!.technology!.label;
    const calls = mesh.workloads
      .filter((x) => x.target)
      .map((x) => ({ client: x.name, server: x.target!.identity.name, reference: x.technologyName.startsWith('node-') }));
    // The Node pair is the reference: client → server stays as it was.
    for (const c of calls.filter((x) => !x.reference)) expect(label(c.server), `${c.client} -> ${c.server}`).not.toBe(label(c.client));
    for (const server of mesh.workloads.filter((x) => x.port !== undefined)) {
      expect(
        calls.some((c) => c.server === server.name && label(c.client) !== label(server.name)),
        `${server.name} has a caller of another technology`,
      ).toBe(true);
    }
  });
});

describe('adding a workload is one edit of the mesh file', () => {
  const mine: MeshSpec = {
    ...DEFAULT_MESH,
    workloads: [
      ...DEFAULT_MESH.workloads.map((w) => (w.name === 'go-server' ? { ...w, allow: [...w.allow!, 'billing'] } : w)),
      { name: 'billing', runs: 'python-client', role: 'client', calls: 'go-server' },
    ],
  };
  const b = buildStack({ namePrefix: 'mine', mesh: mine });
  const cs = listOf<DockerContainerJson>(b.json, Container);
  const byName = (n: string) => cs.find((c) => c.name === n)!;

  it('gets its app, renewer and volumes, and the server it calls lets it in', () => {
    expect(cs.map((c) => c.name)).toEqual(expect.arrayContaining(['mine-billing', 'mine-billing-renewer']));
    expect(listOf<{ name: string }>(b.json, Volume).map((v) => v.name)).toEqual(expect.arrayContaining(['mine-billing-certs', 'mine-billing-trust']));
    expect(envOf(byName('mine-billing'))).toMatchObject({ TARGET_HOST: 'go-server.mesh.internal', WORKLOAD_IDENTITY: 'spiffe://mesh.internal/billing' });
    expect(envOf(byName('mine-go-server'))['ALLOWED_IDENTITIES']?.split(',')).toContain('spiffe://mesh.internal/billing');
    expect(byName('mine-billing').hostname).toBe('billing.mesh.internal');
  });

  it('runs an image of your own as it is, with the contract environment', () => {
    const own = buildStack({
      namePrefix: 'own',
      mesh: {
        domain: 'mesh.internal',
        workloads: [
          {
            name: 'api',
            runs: { image: 'registry.example/api:1.2', identityForm: 'uri', protocol: 'https', health: ['CMD', '/healthy'] },
            role: 'server',
            port: 9443,
            allow: ['caller'],
          },
          { name: 'caller', runs: 'go-client', role: 'client', calls: 'api' },
        ],
      },
    });
    const api = listOf<DockerContainerJson>(own.json, Container).find((c) => c.name === 'own-api')!;
    const img = resourcesOf<DockerImageJson & { keep_locally?: boolean }>(own.json, Image)[referencedId(api.image, 'docker_image') ?? ''];
    expect(img).toMatchObject({ name: 'registry.example/api:1.2', keep_locally: true });
    expect(img?.build).toBeUndefined();
    expect(envOf(api)).toMatchObject({ LISTEN_PORT: '9443', ALLOWED_IDENTITIES: 'spiffe://mesh.internal/go-client'.replace('go-client', 'caller') });
    expect(api.user).toBe('1000:1000');
  });
});

describe('the Node server on every core (processes)', () => {
  const mesh = (processes?: number): MeshSpec => ({
    ...DEFAULT_MESH,
    workloads: DEFAULT_MESH.workloads.map((w) => (w.name === 'server' ? { ...w, processes } : w)),
  });
  const server = (processes?: number) =>
    listOf<DockerContainerJson>(buildStack({ namePrefix: 'cores', mesh: mesh(processes) }).json, Container).find((c) => c.name === 'cores-server')!;

  it('runs one process by default: no WORKERS, the usual memory limit', () => {
    expect(envOf(server())['WORKERS']).toBeUndefined();
    expect(server().memory).toBe(container('server').memory);
  });

  it('passes the count as WORKERS and grows the memory limit with it', () => {
    const two = server(2);
    expect(envOf(two)['WORKERS']).toBe('2');
    expect(two.memory).toBe(2 * container('server').memory!);
    expect(two.memory_swap).toBe(two.memory);
  });
});

describe('a wrong mesh is refused', () => {
  const base = DEFAULT_MESH;
  const edit = (f: (ws: WorkloadSpec[]) => WorkloadSpec[]): MeshSpec => ({ ...base, workloads: f([...base.workloads]) });
  const cases: Array<[string, MeshSpec, string]> = [
    ['a duplicate name', edit((ws) => [...ws, { name: 'curl', runs: 'curl', role: 'client', calls: 'nginx' }]), 'the name "curl" is used twice in the mesh'],
    ['an operator named like a workload', { ...base, operators: ['psql'] }, 'the name "psql" is used twice in the mesh'],
    [
      'a caller that does not exist',
      edit((ws) => ws.map((w) => (w.name === 'nginx' ? { ...w, allow: ['curl', 'ghost'] } : w))),
      'workload "nginx": allow names "ghost", which is neither a workload nor an operator of the mesh',
    ],
    [
      'a call to a workload that does not exist',
      edit((ws) => ws.map((w) => (w.name === 'curl' ? { ...w, calls: 'ghost' } : w))),
      'workload "curl": calls "ghost", which is not a workload of the mesh',
    ],
    [
      'a call the server does not allow',
      edit((ws) => ws.map((w) => (w.name === 'curl' ? { ...w, calls: 'go-server' } : w))),
      'workload "curl": calls "go-server", whose allow-list does not name "curl"',
    ],
    [
      'a host port clash',
      edit((ws) => ws.map((w) => (w.name === 'nginx' ? { ...w, hostPort: 8443 } : w))),
      'workload "nginx": hostPort 8443 is already taken by workload "server"',
    ],
    [
      'a DNS name outside the CA policy',
      edit((ws) => ws.map((w) => (w.name === 'curl' ? { ...w, identity: { dnsName: 'curl.evil.example' } } : w))),
      'workload "curl": identity.dnsName must be a DNS name under mesh.internal (the CA\'s policy), got "curl.evil.example"',
    ],
    [
      'a SPIFFE ID of another trust domain',
      edit((ws) => ws.map((w) => (w.name === 'curl' ? { ...w, identity: { uri: 'spiffe://other.example/curl' } } : w))),
      'workload "curl": identity.uri must be a SPIFFE ID of trust domain mesh.internal',
    ],
    [
      'a role the technology cannot play',
      edit((ws) => ws.map((w) => (w.name === 'curl' ? { ...w, role: 'server', port: 1, allow: ['psql'] } : w))),
      'workload "curl": curl (curl) can be client, not server',
    ],
    [
      'a client speaking another protocol',
      edit((ws) =>
        ws.map((w) => (w.name === 'psql' ? { ...w, calls: 'nginx' } : w)).map((w) => (w.name === 'nginx' ? { ...w, allow: [...w.allow!, 'psql'] } : w)),
      ),
      'workload "psql": speaks postgres but "nginx" speaks https',
    ],
    [
      'a server without an allow-list',
      edit((ws) => ws.map((w) => (w.name === 'go-server' ? { ...w, allow: [] } : w))),
      'workload "go-server": a server needs an allow-list',
    ],
    [
      'a technology that does not exist',
      edit((ws) => [...ws, { name: 'x', runs: 'cobol' as never, role: 'client', calls: 'nginx' }]),
      'workload "x": runs "cobol", which is not a technology of the project',
    ],
    [
      'a port on a client',
      edit((ws) => ws.map((w) => (w.name === 'curl' ? { ...w, port: 8443 } : w))),
      'workload "curl": port is for servers; this workload\'s role is client',
    ],
    ['a bad name', edit((ws) => [...ws, { name: 'Bad_Name', runs: 'curl', role: 'client', calls: 'nginx' }]), 'got "Bad_Name"'],
    [
      'processes on a recipe',
      edit((ws) => ws.map((w) => (w.name === 'go-server' ? { ...w, processes: 2 } : w))),
      'workload "go-server": processes is for the Node server (node-server); this workload runs go-server',
    ],
    [
      'no server process',
      edit((ws) => ws.map((w) => (w.name === 'server' ? { ...w, processes: 0 } : w))),
      'workload "server": processes must be an integer between 1 and 64, got 0',
    ],
    [
      'a fractional process count',
      edit((ws) => ws.map((w) => (w.name === 'server' ? { ...w, processes: 1.5 } : w))),
      'workload "server": processes must be an integer between 1 and 64, got 1.5',
    ],
  ];
  it.each(cases)('%s', (_what, mesh, message) => {
    expect(() => resolveMesh(mesh)).toThrow(message);
    expect(() => buildStack({ namePrefix: 'bad', mesh })).toThrow(message);
  });
});

describe('MTLS_WORKLOADS selects part of the mesh', () => {
  it('keeps the named workloads and drops allow-list entries naming the others', () => {
    const pair = selectWorkloads(DEFAULT_MESH, ['server', 'client']);
    expect(pair.workloads.map((w) => w.name)).toEqual(['server', 'client']);
    expect(pair.workloads[0]!.allow).toEqual(['client', 'operator']);
    expect(() => resolveMesh(pair)).not.toThrow();
  });

  it('refuses a client without the server it calls, and an unknown name', () => {
    expect(() => selectWorkloads(DEFAULT_MESH, ['curl'])).toThrow('MTLS_WORKLOADS keeps "curl" but not "nginx", which it calls');
    expect(() => selectWorkloads(DEFAULT_MESH, ['nope'])).toThrow('MTLS_WORKLOADS names "nope", which is not a workload of the mesh');
  });
});
