// What a toolchain run makes present: a command that deploys one mesh gets
// that mesh's base images and the scripts' own host programs, not the images
// and packages of every technology the test suite runs.
import { describe, expect, it } from 'vitest';

import { DEFAULT_MESH } from '../../../../mesh.js';
import { CATALOG_MESH } from '../../../../meshes/catalog.js';
import { HOST_TOOLS } from '../../../../scripts/lib/toolchain/host-tools.js';
import { FULL_SCOPE, inScope, meshScope } from '../../../../scripts/lib/toolchain/scope.js';
import { BASE_IMAGE_KEYS } from '../../../../stack/versions.js';

describe('toolchain scope', () => {
  it("the default mesh: the CA's, Node's and Debian's images and its five recipes' bases, no test tools, no Go module tree", () => {
    const scope = meshScope(DEFAULT_MESH);
    expect([...scope.baseImages!].sort()).toEqual(['curl', 'debian', 'golang', 'nginx', 'node', 'postgres', 'python', 'stepCa']);
    expect([scope.testTools, scope.goModuleTree]).toEqual([false, false]);
    expect(inScope(scope, 'caddy')).toBe(false);
  });

  it('the catalog mesh needs every base image and the Go module tree (its gRPC workloads)', () => {
    const scope = meshScope(CATALOG_MESH);
    expect([...scope.baseImages!].sort()).toEqual([...BASE_IMAGE_KEYS].sort());
    expect(scope.goModuleTree).toBe(true);
  });

  it('a mesh of custom images needs the CA, Node and Debian only', () => {
    const scope = meshScope({
      domain: 'mesh.internal',
      workloads: [
        { name: 'api', runs: { image: 'example/api:1', identityForm: 'uri', protocol: 'https' }, role: 'server', port: 8443, allow: ['app'] },
        { name: 'app', runs: { image: 'example/app:1', identityForm: 'uri', protocol: 'https' }, role: 'client', calls: 'api' },
      ],
    });
    expect([...scope.baseImages!].sort()).toEqual(['debian', 'node', 'stepCa']);
  });

  it('the full scope (tests, benchmarks) has everything', () => {
    expect(BASE_IMAGE_KEYS.every((k) => inScope(FULL_SCOPE, k))).toBe(true);
    expect([FULL_SCOPE.testTools, FULL_SCOPE.goModuleTree]).toEqual([true, true]);
  });

  it('the scripts themselves need openssl alone on the host; every other host tool is for the tests', () => {
    expect(HOST_TOOLS.filter((t) => !('tests' in t)).map((t) => t.command)).toEqual(['openssl']);
  });
});
