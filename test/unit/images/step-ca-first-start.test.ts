// The CA's entrypoint says in its log whether a start is the first since the
// CA's initialisation (images/step-ca/entrypoint.sh, announce_start), and
// revoke and root retirement read that line (scripts/lib/ca/log.ts): the log
// of a first start holds every certificate; the log of a container started
// later on the same volume (recreated, a pod replaced) does not. Real step-ca
// of the CA's base image, on a throw-away volume.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';
import { issuedFromCaLog } from '../../../scripts/lib/ca/log.js';
import { caRunArgs, initCaVolume, stepCaImage } from './helpers/step-ca-docker.js';

const volume = `mtls-unit-first-start-${randomBytes(4).toString('hex')}`;
const containers: string[] = [];
let image = '';

const docker = (...args: string[]) => spawnSync('docker', args, { encoding: 'utf8' });

/** Starts the CA serving on the volume, waits until step-ca says it serves, and returns its log (`docker logs --timestamps`) after stopping it. */
async function serveOnce(): Promise<string> {
  const name = `${volume}-${containers.length}`;
  containers.push(name);
  const run = docker('run', '-d', '--name', name, '--network', 'none', ...caRunArgs(image, volume, {}, []));
  expect(run.status, run.stderr).toBe(0);
  await waitFor('step-ca to serve', () => /Serving HTTPS on/.test(docker('logs', name).stderr + docker('logs', name).stdout), {
    timeoutMs: 30_000,
    intervalMs: 200,
  });
  docker('stop', '--time', '5', name);
  const logs = docker('logs', '--timestamps', name);
  return logs.stdout + logs.stderr;
}

beforeAll(() => {
  image = stepCaImage();
  initCaVolume(image, volume, 'ca.mesh.internal');
}, 120_000);

afterAll(() => {
  for (const c of containers) docker('rm', '-f', c);
  docker('volume', 'rm', '-f', volume);
});

describe("the CA's log says whether it holds the CA's whole life", { timeout: 90_000 }, () => {
  it('a command run on the volume (rotation, inspection) leaves the first start to the CA', () => {
    const r = docker('run', '--rm', '--network', 'none', ...caRunArgs(image, volume, {}, ['sh', '-c', 'test -e /home/step/.never-served && echo kept']));
    expect(r.stdout.trim(), r.stderr).toBe('kept');
  });

  it('the first start after init: the log holds it, and so everything the CA issues', async () => {
    expect(issuedFromCaLog(await serveOnce()).fromFirstStart).toBe(true);
  });

  it('a later container on the same volume: "started again", and its log does not vouch for what came before', async () => {
    const log = await serveOnce();
    expect(log).toMatch(/"msg":"started again: certificates issued before this start are not in this log"/);
    expect(issuedFromCaLog(log).fromFirstStart).toBe(false);
  });
});
