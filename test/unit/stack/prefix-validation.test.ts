// Each construct validates its namePrefix with the shared rule, not only the
// stack: a construct used on its own cannot name a resource `../x-ca`.
import { Testing } from 'cdktf';
import { describe, expect, it } from 'vitest';

import { MtlsWorkload } from '../../../stack/mtls-workload.js';
import { Mesh } from '../../../stack/networks.js';
import { StepCa } from '../../../stack/step-ca.js';

const RULE = 'namePrefix must be 2-24 lower-case letters, digits or dashes, starting with a letter, got "../x"';

describe('namePrefix validation in every construct', () => {
  it('Mesh', () => {
    expect(() => Testing.synthScope((scope) => void new Mesh(scope, 'mesh', { namePrefix: '../x' }))).toThrow(RULE);
  });

  it('StepCa', () => {
    expect(() =>
      Testing.synthScope((scope) => {
        const mesh = new Mesh(scope, 'mesh', { namePrefix: 'good' });
        new StepCa(scope, 'ca', { namePrefix: '../x', mesh, image: 'ca:test' });
      }),
    ).toThrow(RULE);
  });

  it('MtlsWorkload', () => {
    expect(() =>
      Testing.synthScope((scope) => {
        const mesh = new Mesh(scope, 'mesh', { namePrefix: 'good' });
        new MtlsWorkload(scope, 'client', {
          namePrefix: '../x',
          name: 'client',
          role: 'client',
          technology: 'node-client',
          identity: { dnsName: 'client.mesh.internal' },
          mesh,
          appImage: 'app:test',
          renewerImage: 'renewer:test',
          caUrl: 'https://ca.mesh.internal:9000',
        });
      }),
    ).toThrow(RULE);
  });
});
