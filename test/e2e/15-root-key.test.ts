import { describe, expect, inject, it } from 'vitest';
import { $ } from 'zx';

import { LABEL, ROOT_KEY_DIR } from '../../common/facts.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { PROJECT } from '../../stack/versions.js';

const ctx = inject('e2e');
const sh = $({ quiet: true, nothrow: true, timeout: '60s' });

// A compromise of the running CA must not be a compromise of the root: the
// root key lives in a volume only the (exited) init container mounts.
describe('the root key is not in the running CA', { timeout: 120_000 }, () => {
  const ca = () => ctx.outputs.ca_container;
  const rootKeyVolume = () => `${ctx.prefix}-ca-root-key`;

  it('no file reachable in the CA container is the root key; the only private key there is the intermediate', async () => {
    const scan = await docker.exec(ca(), [
      'sh',
      '-c',
      'find / \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o -type f -size -64k -print 2>/dev/null | xargs grep -l "PRIVATE KEY-----" 2>/dev/null; ' +
        'find / \\( -path /proc -o -path /sys \\) -prune -o -name "root_ca_key*" -print 2>/dev/null; true',
    ]);
    expect(scan.stdout.trim().split('\n')).toEqual(['/home/step/secrets/intermediate_ca_key']);
  });

  it('the CA mounts only its own volume; the init container mounted both and exited 0', async () => {
    const mounts = JSON.parse((await sh`docker inspect -f ${'{{json .Mounts}}'} ${ca()}`).stdout) as { Name: string; Destination: string }[];
    expect(mounts.map((m) => [m.Name, m.Destination])).toEqual([[`${ctx.prefix}-ca`, '/home/step']]);
    const init = `${ctx.prefix}-ca-init`;
    expect((await sh`docker inspect -f ${'{{.State.Status}} {{.State.ExitCode}}'} ${init}`).stdout.trim()).toBe('exited 0');
    const initMounts = JSON.parse((await sh`docker inspect -f ${'{{json .Mounts}}'} ${init}`).stdout) as { Name: string }[];
    expect(initMounts.map((m) => m.Name).sort()).toEqual([`${ctx.prefix}-ca`, rootKeyVolume()].sort());
    expect(await docker.logs(init)).toContain('root key moved out of the CA volume into the root-key volume');
  });

  it('the root-key volume keeps the root key (0600), and it is the key of the root the workloads trust', async () => {
    // A throwaway container of the same image with both volumes read-only and
    // no network: what a future intermediate rotation will do.
    const image = (await sh`docker inspect -f ${'{{.Config.Image}}'} ${ca()}`).stdout.trim();
    const run = (args: string[]) =>
      sh`docker run --rm --network none --read-only --user 1000:1000 --label ${`${LABEL.project}=${PROJECT}`} --label ${`${LABEL.prefix}=${ctx.prefix}`} -v ${`${ctx.prefix}-ca`}:/home/step:ro -v ${`${rootKeyVolume()}`}:${ROOT_KEY_DIR}:ro --entrypoint ${args[0]!} ${image} ${args.slice(1)}`;
    const mode = await run(['stat', '-c', '%a %u', `${ROOT_KEY_DIR}/root_ca_key`]);
    expect(mode.stdout.trim(), mode.stderr).toBe('600 1000');
    const fromKey = await run(['step', 'crypto', 'key', 'public', `${ROOT_KEY_DIR}/root_ca_key`, '--password-file', '/home/step/secrets/password']);
    expect(fromKey.exitCode, fromKey.stderr).toBe(0);
    const fromRoot = await docker.execOk(ca(), ['step', 'certificate', 'key', '/home/step/certs/root_ca.crt']);
    expect(fromKey.stdout.trim()).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(fromKey.stdout.trim()).toBe(fromRoot.trim());
    // ... and the root the workloads trust is that root.
    const fingerprint = await docker.execOk(ca(), ['step', 'certificate', 'fingerprint', '/home/step/certs/root_ca.crt']);
    expect(fingerprint.trim()).toBe(ctx.fingerprint);
  });
});
