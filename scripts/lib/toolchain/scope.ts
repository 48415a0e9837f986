/**
 * What a toolchain run makes present. A command that deploys one mesh (the
 * demo, deploy, synth, destroy) needs only that mesh's base images and the
 * host programs the scripts run; the test suite and the benchmarks need
 * everything. So a newcomer's first `npm run demo` neither builds nor pulls
 * the images of technologies the default mesh does not run.
 */
import { type MeshSpec, resolveMesh } from '../../../stack/mesh-spec.js';
import type { BaseImageKey } from '../../../stack/versions.js';

export interface ToolchainScope {
  /** The base images to make present (the CA's, Node's and Debian's always are); undefined: every one. */
  readonly baseImages?: ReadonlySet<BaseImageKey>;
  /** Also the host programs only the tests run (the recipes' unit tests, the linters). */
  readonly testTools: boolean;
  /** Also the module tree of the Go recipes with third-party modules (go-recipe-modules.ts). */
  readonly goModuleTree: boolean;
}

export const FULL_SCOPE: ToolchainScope = { testTools: true, goModuleTree: true };

const ALWAYS: readonly BaseImageKey[] = ['stepCa', 'node', 'debian'];

/** What deploying `spec` needs: its technologies' base images, the scripts' host programs. */
export function meshScope(spec: MeshSpec): ToolchainScope {
  const technologies = resolveMesh(spec).workloads.flatMap((w) => (w.technology ? [w.technology] : []));
  return {
    baseImages: new Set([...ALWAYS, ...technologies.flatMap((t) => Object.values(t.image.baseImageArgs))]),
    testTools: false,
    goModuleTree: technologies.some((t) => t.image.goModuleTree === true),
  };
}

export function inScope(scope: ToolchainScope, key: BaseImageKey): boolean {
  return !scope.baseImages || scope.baseImages.has(key);
}
