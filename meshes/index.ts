/**
 * The meshes the project ships, by the name MTLS_MESH (or --mesh) takes:
 * `default` (mesh.ts: the demo's small cross-technology matrix) and `catalog`
 * (every technology; the e2e suite's). Any other value is a path to a mesh
 * file of your own (stack/mesh-file.ts).
 */
import { DEFAULT_MESH } from '../mesh.js';
import type { MeshSpec } from '../stack/mesh-spec.js';
import { CATALOG_MESH } from './catalog.js';

export const NAMED_MESHES: Readonly<Record<string, { readonly spec: MeshSpec; readonly file: string }>> = {
  default: { spec: DEFAULT_MESH, file: 'mesh.ts' },
  catalog: { spec: CATALOG_MESH, file: 'meshes/catalog.ts' },
};

export const DEFAULT_MESH_NAME = 'default';
