/**
 * The catalog mesh: the default mesh plus a workload of every other
 * technology the project provides, each server called by a client of another
 * technology. The e2e suite deploys it (`MTLS_MESH=catalog`); the demo keeps
 * the small default (mesh.ts).
 */
import { DEFAULT_MESH } from '../mesh.js';
import type { MeshSpec, WorkloadSpec } from '../stack/mesh-spec.js';

/** Callers the catalog adds to servers of the default mesh. */
const ALSO_ALLOWED: Readonly<Record<string, readonly string[]>> = {};

/** The catalog's own workloads, one block per technology. */
const CATALOG_WORKLOADS: readonly WorkloadSpec[] = [];

export const CATALOG_MESH: MeshSpec = {
  ...DEFAULT_MESH,
  workloads: [
    ...DEFAULT_MESH.workloads.map((w) => ({ ...w, ...(ALSO_ALLOWED[w.name] ? { allow: [...(w.allow ?? []), ...ALSO_ALLOWED[w.name]!] } : {}) })),
    ...CATALOG_WORKLOADS,
  ],
};
