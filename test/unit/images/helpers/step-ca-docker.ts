/**
 * The CA's entrypoint (images/step-ca/entrypoint.sh) in the CA's base image
 * (the official one, or the toolchain's stand-in), mounted from the project
 * with its shell library, on a throw-away CA volume: for the tests of what
 * the entrypoint applies to a real step-ca (the ACME provisioner).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';

import { LOCAL_IMAGES, OFFICIAL_IMAGES } from '../../../../stack/versions.js';

const root = path.resolve(import.meta.dirname, '../../../..');

const present = (ref: string) => spawnSync('docker', ['image', 'inspect', ref], { stdio: 'ignore' }).status === 0;

/** The step-ca base image there is; fails with how to get one. */
export function stepCaImage(): string {
  const image = [OFFICIAL_IMAGES.stepCa, LOCAL_IMAGES.stepCa].find(present);
  if (!image) throw new Error(`no step-ca image (${OFFICIAL_IMAGES.stepCa} or ${LOCAL_IMAGES.stepCa}): run \`npx tsx scripts/toolchain.ts\``);
  return image;
}

/** `docker run` arguments after `run`: the CA's user, the volume, the entrypoint and `args` for it. */
export function caRunArgs(image: string, volume: string, env: Record<string, string>, args: readonly string[]): string[] {
  return [
    ...['--user', '1000:1000', '-e', 'STEPPATH=/home/step', ...Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`])],
    ...['-v', `${volume}:/home/step`, '-v', `${root}/images/step-ca/entrypoint.sh:/entrypoint.sh:ro`],
    ...['-v', `${root}/recipes/lib/mtls-common.sh:/usr/local/bin/mtls-common.sh:ro`, '--entrypoint', 'bash', image, '/entrypoint.sh', ...args],
  ];
}

/** A new CA volume (uid 1000's, as images/step-ca/Dockerfile makes it), initialised for `dnsNames`. */
export function initCaVolume(image: string, volume: string, dnsNames: string): void {
  execFileSync('docker', ['volume', 'create', volume]);
  execFileSync('docker', ['run', '--rm', '--user', '0', '-v', `${volume}:/home/step`, '--entrypoint', 'chown', image, '1000:1000', '/home/step']);
  const env = { DOCKER_STEPCA_INIT_NAME: 'Unit', DOCKER_STEPCA_INIT_DNS_NAMES: dnsNames, MTLS_CA_ROOT_KEY_DIR: '/tmp' };
  const r = spawnSync('docker', ['run', '--rm', '--network', 'none', ...caRunArgs(image, volume, env, ['init'])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`CA init failed: ${r.stdout}${r.stderr}`);
}
