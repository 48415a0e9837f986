// The stack's state records which engine applied it; the other engine is
// refused on that stack unless the switch is explicitly allowed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { UserError } from '../../../../scripts/lib/cli/ui.js';
import { checkEngine, engineRecordOf, readEngineRecord } from '../../../../scripts/lib/deploy/engine-record.js';

const state = (engine: unknown, resources = 3, version = '1.11.4') => ({
  version: 4,
  terraform_version: version,
  outputs: engine === undefined ? {} : { iac_engine: { value: engine, type: 'string' } },
  resources: Array.from({ length: resources }, (_, i) => ({ type: 'docker_container', name: `c${i}` })),
});

describe('engineRecordOf', () => {
  it('reads the recorded engine and the version that wrote the state', () => {
    expect(engineRecordOf(state('tofu', 3, '1.10.10'))).toEqual({ engine: 'tofu', version: '1.10.10', resources: 3, target: 'docker' });
  });

  it("says which target the stack's resources are on: Kubernetes objects, Docker's, or neither", () => {
    const on = (...types: unknown[]) => ({ ...state('terraform', 0), resources: types.map((type) => ({ type })) });
    expect(engineRecordOf(on('terraform_data', 'kubectl_manifest'))?.target).toBe('kubernetes');
    expect(engineRecordOf(on('docker_network', 'docker_container'))?.target).toBe('docker');
    expect(engineRecordOf(on('terraform_data', 7, null))?.target).toBeUndefined();
  });

  it('has no record for a destroyed stack (no resources, no outputs) or for no state at all', () => {
    expect(engineRecordOf(state(undefined, 0))).toBeUndefined();
    expect(engineRecordOf(null)).toBeUndefined();
    expect(engineRecordOf('not a state')).toBeUndefined();
  });

  it('keeps resources without a recorded engine as "not recorded" (a state from before the record)', () => {
    expect(engineRecordOf(state(undefined, 2))).toEqual({ engine: undefined, version: '1.11.4', resources: 2, target: 'docker' });
  });

  it('ignores a recorded value that is not an engine', () => {
    expect(engineRecordOf(state('pulumi'))?.engine).toBeUndefined();
  });
});

describe('checkEngine', () => {
  const opts = { prefix: 'blue', stateFile: '.state/blue/terraform.tfstate', allowSwitch: false };

  it('lets the recording engine, and any engine on an unrecorded or absent state, run', () => {
    expect(checkEngine(engineRecordOf(state('terraform')), { engine: 'terraform', version: '1.11.4' }, opts)).toEqual({ switched: false });
    expect(checkEngine(engineRecordOf(state(undefined)), { engine: 'tofu', version: '1.10.10' }, opts)).toEqual({ switched: false });
    expect(checkEngine(undefined, { engine: 'tofu', version: '1.10.10' }, opts)).toEqual({ switched: false });
  });

  it('refuses the other engine with a message naming both engines, the state and the way out', () => {
    const attempt = () => checkEngine(engineRecordOf(state('terraform')), { engine: 'tofu', version: '1.10.10' }, opts);
    expect(attempt).toThrow(UserError);
    expect(attempt).toThrow(
      'stack "blue" is managed by terraform 1.11.4 (recorded in .state/blue/terraform.tfstate), but this run uses tofu 1.10.10. ' +
        'Refusing to switch engines silently: run with MTLS_IAC=terraform to keep terraform, or switch this stack on purpose with MTLS_IAC=tofu MTLS_IAC_SWITCH=1',
    );
  });

  it('lets the other engine take over when the switch is allowed', () => {
    expect(checkEngine(engineRecordOf(state('tofu')), { engine: 'terraform', version: '1.11.4' }, { ...opts, allowSwitch: true })).toEqual({ switched: true });
  });
});

describe('readEngineRecord', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'engine-record-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a state file, and has nothing for a missing one', async () => {
    const file = path.join(dir, 'terraform.tfstate');
    expect(await readEngineRecord(file)).toBeUndefined();
    await writeFile(file, JSON.stringify(state('tofu', 1, '1.10.10')));
    expect(await readEngineRecord(file)).toEqual({ engine: 'tofu', version: '1.10.10', resources: 1, target: 'docker' });
  });

  it('says which file is broken instead of guessing', async () => {
    const file = path.join(dir, 'terraform.tfstate');
    await writeFile(file, '{"version": 4, "outp');
    await expect(readEngineRecord(file)).rejects.toThrow(`${file} is not valid JSON`);
  });
});
