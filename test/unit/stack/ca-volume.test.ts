// The CA volume holds the CA's keys, config and database. Terraform tracks it
// by its logical id, which cdktf derives from the construct path
// (`ca/steppath`): renaming the construct (or moving it) changes the address,
// and Terraform plans a destroy of the old volume and a create of a new one,
// i.e. a new CA whose root no workload trusts. These tests pin that id.
import { Volume } from '@cdktf/provider-docker/lib/volume/index.js';
import { describe, expect, it } from 'vitest';

import { constructPaths, type DockerVolumeJson, resourcesOf } from '../helpers/cdktf-matchers.js';
import { buildStack } from './fixtures.js';

describe('CA volume construct id', () => {
  const { stack, json, raw, prefix } = buildStack({ namePrefix: 'pin' }, 'pinned-stack');

  it('is a docker_volume named <prefix>-ca', () => {
    expect(raw).toHaveResourceWithProperties(Volume, { name: `${prefix}-ca` });
  });

  it('lives at construct path <stack>/ca/steppath', () => {
    const volumes = resourcesOf<DockerVolumeJson>(json, Volume);
    const caIds = Object.entries(volumes)
      .filter(([, v]) => v.name === `${prefix}-ca`)
      .map(([id]) => id);
    expect(caIds).toHaveLength(1);
    const paths = constructPaths(stack, Volume);
    expect(paths[caIds[0]!]).toBe('pinned-stack/ca/steppath');
  });

  it('keeps the Terraform address docker_volume.ca_steppath_F93DD358', () => {
    // The logical id (and so the state address) does not depend on the stack
    // id or the prefix: only on the construct path below the stack.
    const volumes = resourcesOf<DockerVolumeJson>(json, Volume);
    expect(volumes['ca_steppath_F93DD358']?.name).toBe(`${prefix}-ca`);
    const other = buildStack({ namePrefix: 'other' }, 'another-stack');
    expect(resourcesOf<DockerVolumeJson>(other.json, Volume)['ca_steppath_F93DD358']?.name).toBe('other-ca');
  });

  it('is the volume mounted at the CA container STEPPATH', () => {
    const ca = Object.values(resourcesOf<{ name: string; volumes?: { volume_name?: string; container_path: string }[] }>(json, 'docker_container')).find(
      (c) => c.name === `${prefix}-ca`,
    );
    expect(ca?.volumes).toEqual([{ volume_name: '${docker_volume.ca_steppath_F93DD358.name}', container_path: '/home/step' }]);
  });
});
