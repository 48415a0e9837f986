import { describe, expect, it } from 'vitest';

import { NODE_PACKAGES, stagingModules, toolsGo, versionLdflags, wrapperGoMod } from '../../../../scripts/lib/kubernetes/build.js';
import { KUBERNETES_LOCAL } from '../../../../stack/versions.js';

// The shape of kubernetes' own go.mod: staging modules replaced by local directories.
const KUBERNETES_GO_MOD = `module k8s.io/kubernetes

require (
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
\tgithub.com/spf13/cobra v1.10.1
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/client-go => ./staging/src/k8s.io/client-go
\tk8s.io/cri-api => ./staging/src/k8s.io/cri-api
\tgithub.com/example/fork => github.com/example/fork v1.2.3
)
`;

describe('the Kubernetes wrapper module', () => {
  it('finds exactly the staging modules kubernetes replaces with ./staging/src directories', () => {
    expect(stagingModules(KUBERNETES_GO_MOD)).toEqual(['k8s.io/api', 'k8s.io/client-go', 'k8s.io/cri-api']);
    expect(stagingModules('module x\n')).toEqual([]);
  });

  it('replaces each staging module with its published twin of the same release', () => {
    const goMod = wrapperGoMod('example/build', { 'k8s.io/kubernetes': 'v1.37.2' }, ['k8s.io/api', 'k8s.io/client-go'], 'v0.37.2');
    expect(goMod).toContain('require (\n\tk8s.io/kubernetes v1.37.2\n)');
    expect(goMod).toContain('replace (\n\tk8s.io/api => k8s.io/api v0.37.2\n\tk8s.io/client-go => k8s.io/client-go v0.37.2\n)');
    expect(wrapperGoMod('example/node', { a: 'v1' })).not.toContain('replace');
  });

  it('keeps the main packages in a tools.go that only `go mod tidy` reads', () => {
    expect(toolsGo(['k8s.io/kubernetes/cmd/kubelet'])).toBe('//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kubelet"\n)\n');
  });

  it('stamps the release into component-base, so binaries do not report v0.0.0-master', () => {
    expect(versionLdflags('v1.37.2').split(' -X ')).toEqual([
      '-X k8s.io/component-base/version.gitVersion=v1.37.2',
      'k8s.io/component-base/version.gitMajor=1',
      'k8s.io/component-base/version.gitMinor=37',
      'k8s.io/component-base/version.gitTreeState=clean',
    ]);
  });

  it('builds the node from the pinned etcd, containerd and CNI plugins modules, and names etcd etcd', () => {
    const modules = Object.keys(NODE_PACKAGES);
    for (const m of modules) {
      expect(
        [KUBERNETES_LOCAL.etcd.goModule, KUBERNETES_LOCAL.containerd.goModule, KUBERNETES_LOCAL.cniPlugins.goModule].some((root) => m.startsWith(root)),
      ).toBe(true);
    }
    expect(NODE_PACKAGES[KUBERNETES_LOCAL.etcd.goModule]).toBe('etcd');
  });
});
