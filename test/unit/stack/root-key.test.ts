// The root key is kept out of the serving CA: `step ca init` runs in a
// short-lived init container that moves the key into its own volume, and the
// CA container never mounts that volume. The volume is stateful (it holds the
// only copy of the root key), so its construct id is pinned like the CA's.
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { describe, expect, it } from 'vitest';

import { ROOT_KEY_DIR } from '../../../stack/step-ca.js';
import { constructPaths, type DockerContainerJson, type DockerVolumeJson, envOf, listOf, resourcesOf } from '../helpers/cdktf-matchers.js';
import { buildStack } from './fixtures.js';

const { stack, json, prefix } = buildStack({ namePrefix: 'rk' }, 'rk-stack');
const containers = listOf<DockerContainerJson>(json, Container);
const volumes = resourcesOf<DockerVolumeJson>(json, Volume);
const ROOT_KEY_ID = 'ca_root-key_965420CC';
const rootKeyRef = '${docker_volume.' + ROOT_KEY_ID + '.name}';
const caRef = '${docker_volume.ca_steppath_F93DD358.name}';
const container = (name: string) => {
  const c = containers.find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name}`);
  return c;
};

describe('root-key volume', () => {
  it(`is <prefix>-ca-root-key at construct path <stack>/ca/root-key, address docker_volume.${ROOT_KEY_ID}`, () => {
    expect(volumes[ROOT_KEY_ID]?.name).toBe(`${prefix}-ca-root-key`);
    expect(constructPaths(stack, Volume)[ROOT_KEY_ID]).toBe('rk-stack/ca/root-key');
    expect(stack.ca.rootKeyVolumeName).toBe(`${prefix}-ca-root-key`);
  });

  it('is mounted by no long-running container, the CA included', () => {
    for (const c of containers.filter((x) => x.name !== `${prefix}-ca-init`)) {
      expect(
        (c.volumes ?? []).map((v) => v.volume_name),
        c.name,
      ).not.toContain(rootKeyRef);
    }
    expect(container(`${prefix}-ca`).volumes).toEqual([{ volume_name: caRef, container_path: '/home/step' }]);
  });

  it('is mounted, with the CA volume, only by the init container, which has no network and runs once', () => {
    const init = container(`${prefix}-ca-init`);
    expect(init.volumes).toEqual([
      { volume_name: caRef, container_path: '/home/step' },
      { volume_name: rootKeyRef, container_path: ROOT_KEY_DIR },
    ]);
    expect(init.command).toEqual(['init']);
    expect(envOf(init)['MTLS_CA_ROOT_KEY_DIR']).toBe(ROOT_KEY_DIR);
    expect(init.network_mode).toBe('none');
    expect(init.must_run).toBe(false);
    expect(init.attach).toBe(true);
    expect(init.restart).toBe('on-failure');
  });

  it('is initialised before the CA starts, and only the init step gets the init env', () => {
    const ca = container(`${prefix}-ca`);
    expect(ca.depends_on).toEqual([expect.stringMatching(/^docker_container\.ca_init_[0-9A-F]{8}$/)]);
    expect(Object.keys(envOf(ca)).filter((k) => k.startsWith('DOCKER_STEPCA_INIT_'))).toEqual([]);
    expect(envOf(ca)['MTLS_CA_PROVISIONER_NAME']).toBe('admin');
  });
});
