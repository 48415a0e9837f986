/**
 * Reads the mesh a stack deploys: a named mesh of the project (meshes/) or a
 * file of your own, without editing the repository — `.json`, `.yaml`/`.yml`
 * (data), or `.ts`/`.mts`/`.js`/`.mjs` (a module whose default export, or
 * export `mesh`, is the mesh; it runs as the project's own code does, so
 * point it only at a file you trust). Every error names the file, then the
 * entry and the field (shape: stack/mesh-shape.ts; meaning: resolveMesh).
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { parse as parseYaml } from 'yaml';

import { UserError } from '../common/user-error.js';
import { DEFAULT_MESH_NAME, NAMED_MESHES } from '../meshes/index.js';
import { checkMeshShape } from './mesh-shape.js';
import { type MeshSpec, resolveMesh } from './mesh-spec.js';

/** A mesh file is configuration, not data: far below this. */
export const MAX_MESH_FILE_BYTES = 1024 * 1024;
const DATA = ['.json', '.yaml', '.yml'];
const MODULES = ['.ts', '.mts', '.js', '.mjs'];

export interface LoadedMesh {
  readonly spec: MeshSpec;
  /** Where it came from, for messages: `mesh.ts`, `meshes/catalog.ts` or the file given. */
  readonly source: string;
}

/** True when `ref` names a mesh of the project rather than a file. */
export const isNamedMesh = (ref: string): boolean => Object.hasOwn(NAMED_MESHES, ref);

/** The value MTLS_MESH keeps: a named mesh as it is, a path made absolute against `cwd` (the directory the user ran the command in). */
export function meshRef(raw: string, cwd: string): string {
  return isNamedMesh(raw) ? raw : path.resolve(cwd, raw);
}

async function readData(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8');
  if (path.extname(file) === '.json') return JSON.parse(text) as unknown;
  // uniqueKeys: a key written twice is an error, not a silent override; the
  // default maxAliasCount bounds alias expansion (no "billion laughs").
  return parseYaml(text, { uniqueKeys: true, prettyErrors: true }) as unknown;
}

async function importModule(file: string): Promise<unknown> {
  const mod = (await import(pathToFileURL(file).href)) as { default?: unknown; mesh?: unknown };
  const spec = mod.default ?? mod.mesh;
  if (spec === undefined) throw new Error('exports no mesh (export default, or export const mesh)');
  return spec;
}

async function readMeshFile(file: string): Promise<MeshSpec> {
  const ext = path.extname(file);
  if (![...DATA, ...MODULES].includes(ext)) {
    throw new Error(
      `is not a mesh file: it must end in ${[...DATA, ...MODULES].join(', ')} (or name a mesh of the project: ${Object.keys(NAMED_MESHES).join(', ')})`,
    );
  }
  const info = await stat(file).catch(() => undefined);
  if (!info) throw new Error(`does not exist (named meshes: ${Object.keys(NAMED_MESHES).join(', ')})`);
  if (!info.isFile()) throw new Error('is not a regular file');
  if (info.size > MAX_MESH_FILE_BYTES) throw new Error(`is ${info.size} bytes; a mesh file is at most ${MAX_MESH_FILE_BYTES}`);
  let data: unknown;
  try {
    data = DATA.includes(ext) ? await readData(file) : await importModule(file);
  } catch (err) {
    throw new Error(`cannot be read: ${(err as Error).message}`);
  }
  return checkMeshShape(data);
}

/**
 * The mesh `ref` names (undefined: the default), checked by resolveMesh so a
 * bad mesh stops the command before anything is deployed. The error is a
 * UserError that starts with the file.
 */
export async function loadMesh(ref: string | undefined): Promise<LoadedMesh> {
  const name = ref ?? DEFAULT_MESH_NAME;
  const named = isNamedMesh(name) ? NAMED_MESHES[name] : undefined;
  const source = named ? named.file : ref!;
  try {
    const spec = named ? named.spec : await readMeshFile(source);
    resolveMesh(spec);
    return { spec, source };
  } catch (err) {
    throw new UserError(`mesh ${source}: ${(err as Error).message}`);
  }
}
