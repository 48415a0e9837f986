// MTLS_MESH: a named mesh of the project or a file of one's own (JSON, YAML,
// a module), each error naming the file, the entry and the field; a hostile
// file (huge, an alias bomb, a directory) is refused before it costs anything.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

import { DEFAULT_MESH } from '../../../mesh.js';
import { CATALOG_MESH, NOT_IN_CATALOG } from '../../../meshes/catalog.js';
import { readSetting } from '../../../settings.js';
import { loadMesh, MAX_MESH_FILE_BYTES, meshRef } from '../../../stack/mesh-file.js';
import { TECHNOLOGIES } from '../../../stack/technologies.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mesh-file-'));
const file = (name: string, text: string) => {
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return f;
};
const broken = (edit: (m: { workloads: Record<string, unknown>[] }) => void) => {
  const m = structuredClone(DEFAULT_MESH) as unknown as { workloads: Record<string, unknown>[] };
  edit(m);
  return JSON.stringify(m);
};

describe('named meshes', () => {
  it('default is mesh.ts, and is what an unset MTLS_MESH deploys', async () => {
    expect(await loadMesh(undefined)).toEqual({ spec: DEFAULT_MESH, source: 'mesh.ts' });
    expect(await loadMesh('default')).toEqual({ spec: DEFAULT_MESH, source: 'mesh.ts' });
  });

  it('catalog runs every technology of the project but those it names as left out, and keeps every workload of the default', async () => {
    const { spec, source } = await loadMesh('catalog');
    expect(source).toBe('meshes/catalog.ts');
    const runs = new Set(spec.workloads.map((w) => w.runs));
    expect(Object.keys(TECHNOLOGIES).filter((t) => !runs.has(t as keyof typeof TECHNOLOGIES))).toEqual(Object.keys(NOT_IN_CATALOG));
    expect(DEFAULT_MESH.workloads.map((w) => w.name).filter((n) => !CATALOG_MESH.workloads.some((c) => c.name === n))).toEqual([]);
  });

  it('a name that is not a mesh of the project is a path: "__proto__" is a missing file, not an object', async () => {
    await expect(loadMesh('__proto__')).rejects.toThrow('mesh __proto__: is not a mesh file: it must end in .json, .yaml, .yml, .ts, .mts, .js, .mjs');
  });
});

describe('mesh files of your own', () => {
  it('reads the same mesh from JSON, YAML and a TypeScript module', async () => {
    const json = file('mesh.json', JSON.stringify(DEFAULT_MESH));
    const yaml = file('mesh.yaml', stringify(DEFAULT_MESH));
    const ts = file('mine.ts', `export default ${JSON.stringify(DEFAULT_MESH)};\n`);
    const named = file('named.mjs', `export const mesh = ${JSON.stringify(DEFAULT_MESH)};\n`);
    for (const f of [json, yaml, ts, named]) expect(await loadMesh(f)).toEqual({ spec: DEFAULT_MESH, source: f });
  });

  it('MTLS_MESH keeps a path absolute, against the directory the command ran in; a named mesh as it is', () => {
    expect(meshRef('meshes/payments.yaml', '/home/ana/platform')).toBe('/home/ana/platform/meshes/payments.yaml');
    expect(meshRef('catalog', '/anywhere')).toBe('catalog');
    expect(readSetting('mesh', { MTLS_MESH: '/etc/mesh.json' })).toBe('/etc/mesh.json');
  });

  it.each([
    ['an unknown field', broken((m) => (m.workloads[1]!.alow = ['x'])), 'workloads[1] ("client"): unknown field "alow" (fields: name, runs, role,'],
    ['a field of the wrong type', broken((m) => (m.workloads[0]!.port = '8443')), 'workloads[0] ("server"): port must be an integer, got "8443"'],
    ['a missing field', broken((m) => delete m.workloads[3]!.role), 'workloads[3] ("curl"): role is missing'],
    [
      'a role that does not exist',
      broken((m) => (m.workloads[3]!.role = 'admin')),
      'workloads[3] ("curl"): role must be one of server, client, both, got "admin"',
    ],
    [
      'an allow-list that is not a list',
      broken((m) => (m.workloads[0]!.allow = 'client')),
      'workloads[0] ("server"): allow must be a list of strings, got "client"',
    ],
    ['a custom image without its fields', broken((m) => (m.workloads[1]!.runs = { image: 'x' })), 'workloads[1] ("client"): runs: identityForm is missing'],
    [
      'a caller that does not exist (the meaning check)',
      broken((m) => (m.workloads[1]!.calls = 'nobody')),
      'workload "client": calls "nobody", which is not a workload',
    ],
    ['no workloads list', '{"domain":"mesh.internal"}', 'the mesh: workloads is missing'],
    ['a list, not a mesh', '[]', 'the mesh must be an object with domain and workloads, got a list'],
    ['bad JSON', '{"domain":', 'cannot be read: '],
  ])('refuses %s, naming the file, the entry and the field', async (_, text, message) => {
    const f = file(`bad-${Math.random().toString(36).slice(2)}.json`, text);
    await expect(loadMesh(f)).rejects.toThrow(`mesh ${f}: ${message}`);
  });

  it('refuses a YAML key written twice, instead of keeping the last', async () => {
    const f = file('twice.yaml', 'domain: mesh.internal\ndomain: evil.internal\nworkloads: []\n');
    await expect(loadMesh(f)).rejects.toThrow(/Map keys must be unique/);
  });

  it('refuses a YAML alias bomb at once', async () => {
    const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 10; i++)
      lines.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10)
          .fill(`*${String.fromCharCode(96 + i)}`)
          .join(',')}]`,
      );
    const started = Date.now();
    await expect(loadMesh(file('bomb.yaml', `${lines.join('\n')}\n`))).rejects.toThrow(/Excessive alias count/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses a missing file, a directory, a file over 1 MiB and another extension, naming each', async () => {
    const missing = path.join(dir, 'nope.yaml');
    await expect(loadMesh(missing)).rejects.toThrow(`mesh ${missing}: does not exist (named meshes: default, catalog)`);
    const sub = path.join(dir, 'folder.json');
    await mkdir(sub);
    await expect(loadMesh(sub)).rejects.toThrow(`mesh ${sub}: is not a regular file`);
    const big = file('big.json', ' '.repeat(MAX_MESH_FILE_BYTES + 1));
    await expect(loadMesh(big)).rejects.toThrow(`mesh ${big}: is ${MAX_MESH_FILE_BYTES + 1} bytes; a mesh file is at most ${MAX_MESH_FILE_BYTES}`);
    const toml = file('mesh.toml', 'domain = "x"');
    await expect(loadMesh(toml)).rejects.toThrow(`mesh ${toml}: is not a mesh file`);
  });

  it('refuses a module that exports no mesh', async () => {
    const f = file('empty.mjs', 'export const other = 1;\n');
    await expect(loadMesh(f)).rejects.toThrow(`mesh ${f}: cannot be read: exports no mesh (export default, or export const mesh)`);
  });
});
