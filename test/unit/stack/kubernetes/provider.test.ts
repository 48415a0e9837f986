// The kubectl provider's constructs (stack/kubernetes/provider.ts) as
// Terraform reads them, and the mirror the toolchain builds it into.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { TerraformStack, Testing } from 'cdktf';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fs } from 'zx';

import { type CachePaths, cachePaths } from '../../../../scripts/lib/toolchain/cache.js';
import { MIRRORED_PROVIDERS, providerMirrorFile, writeCliConfig } from '../../../../scripts/lib/toolchain/terraform.js';
import { KubectlManifest, KubectlProvider, rawYaml } from '../../../../stack/kubernetes/provider.js';
import { DOCKER_PROVIDER, KUBECTL_PROVIDER } from '../../../../stack/versions.js';
import { synthesize } from '../../helpers/cdktf-matchers.js';

function synth(build: (stack: TerraformStack) => void) {
  const stack = new TerraformStack(Testing.app(), 'prov');
  build(stack);
  return synthesize(stack);
}

describe('KubectlProvider', () => {
  it('requires gavinbunney/kubectl in the range versions.ts pins, which the mirror build satisfies', () => {
    const { json } = synth((s) => new KubectlProvider(s, 'kubectl'));
    expect(json.terraform?.required_providers?.['kubectl']).toEqual({ source: 'gavinbunney/kubectl', version: KUBECTL_PROVIDER.constraint });
    expect(KUBECTL_PROVIDER.constraint).toBe('~> 1.19');
    expect(KUBECTL_PROVIDER.mirrorVersion).toBe('1.19.0');
    expect(KUBECTL_PROVIDER.goModuleVersion).toBe(`v${KUBECTL_PROVIDER.mirrorVersion}`);
  });

  it('writes the provider schema names, and leaves out what is unset', () => {
    const all = synth(
      (s) => new KubectlProvider(s, 'kubectl', { configPath: '/k/admin.kubeconfig', configContext: 'local', loadConfigFile: true, applyRetryCount: 3 }),
    );
    expect(all.json.provider?.['kubectl']).toEqual([
      { config_path: '/k/admin.kubeconfig', config_context: 'local', load_config_file: true, apply_retry_count: 3 },
    ]);
    expect(synth((s) => new KubectlProvider(s, 'kubectl')).json.provider?.['kubectl']).toEqual([{}]);
  });
});

describe('KubectlManifest', () => {
  const { json } = synth((s) => {
    const p = new KubectlProvider(s, 'kubectl');
    const first = new KubectlManifest(s, 'ns', { provider: p, yamlBody: '{"kind":"Namespace"}', wait: true });
    new KubectlManifest(s, 'job', {
      yamlBody: '{"kind":"Job"}',
      serverSideApply: true,
      forceConflicts: true,
      forceNew: true,
      waitForRollout: false,
      sensitiveFields: ['data'],
      dependsOn: [first],
    });
  });
  const manifests = json.resource?.['kubectl_manifest'] ?? {};

  it('is kubectl_manifest with the attribute names of its schema', () => {
    expect(manifests['job']).toEqual({
      yaml_body: '{"kind":"Job"}',
      server_side_apply: true,
      force_conflicts: true,
      force_new: true,
      wait_for_rollout: false,
      sensitive_fields: ['data'],
      depends_on: ['kubectl_manifest.ns'],
    });
  });

  it('leaves unset attributes to the provider defaults and names its provider', () => {
    expect(manifests['ns']).toEqual({ yaml_body: '{"kind":"Namespace"}', wait: true, provider: 'kubectl' });
  });
});

describe('rawYaml', () => {
  it('escapes both of Terraform template sequences and nothing else', () => {
    expect(rawYaml('echo ${HOME} %{if x} $HOME {a} 100%')).toBe('echo $${HOME} %%{if x} $HOME {a} 100%');
  });

  it('reaches the configuration escaped once (cdktf adds no escaping of its own)', () => {
    const { json } = synth((s) => new KubectlManifest(s, 'm', { yamlBody: rawYaml('{"args":["${X}"]}') }));
    expect(json.resource?.['kubectl_manifest']?.['m']?.['yaml_body']).toBe('{"args":["$${X}"]}');
  });
});

describe('the provider mirror', () => {
  let dir: string;
  let paths: CachePaths;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'mtls-kubectl-mirror-'));
    paths = cachePaths(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('holds both providers in the registry layout, each under its own binary name', () => {
    expect(MIRRORED_PROVIDERS).toEqual([DOCKER_PROVIDER, KUBECTL_PROVIDER]);
    expect(providerMirrorFile(paths, 'registry.terraform.io', 'linux_amd64', KUBECTL_PROVIDER)).toBe(
      path.join(dir, 'terraform', 'mirror', 'registry.terraform.io', 'gavinbunney', 'kubectl', '1.19.0', 'linux_amd64', 'terraform-provider-kubectl_v1.19.0'),
    );
    expect(path.basename(providerMirrorFile(paths, 'registry.opentofu.org', 'linux_amd64'))).toBe(
      `terraform-provider-docker_v${DOCKER_PROVIDER.mirrorVersion}`,
    );
  });

  it('offline, names the kubectl provider once the mirror holds it (built on demand)', async () => {
    expect(await fs.readFile(await writeCliConfig(paths, { offline: true }), 'utf8')).not.toContain('gavinbunney');
    await fs.mkdirp(path.dirname(providerMirrorFile(paths, 'registry.terraform.io', 'linux_amd64', KUBECTL_PROVIDER)));
    const text = await fs.readFile(await writeCliConfig(paths, { offline: true }), 'utf8');
    expect(text).toContain(
      'include = ["registry.terraform.io/kreuzwerker/docker", "registry.opentofu.org/kreuzwerker/docker", ' +
        '"registry.terraform.io/gavinbunney/kubectl", "registry.opentofu.org/gavinbunney/kubectl"]',
    );
    expect(await fs.readFile(await writeCliConfig(paths, { offline: false }), 'utf8')).not.toContain('gavinbunney');
  });
});
