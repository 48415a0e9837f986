import { afterAll, describe, expect, inject, it } from 'vitest';
import { $ } from 'zx';
import { LABEL } from '../../common/facts.js';
import * as docker from '../../scripts/lib/docker.js';
import { waitForContainers } from '../../scripts/lib/readiness.js';
import { PROJECT } from '../../stack/versions.js';

const ctx = inject('e2e');
const sh = $({ quiet: true, nothrow: true, timeout: '60s' });

// Deploy no longer lets the provider wait for Docker's health status (first
// probed a full interval after start); it probes each container itself.
// Throwaway containers of the stack's own workload image, no network.
describe('deploy waits until every container is ready, by its own health check', { timeout: 120_000 }, () => {
  const names: string[] = [];
  const start = async (suffix: string, healthCmd: string, script: string) => {
    const name = `${ctx.prefix}-readiness-${suffix}`;
    names.push(name);
    const image = await docker.imageOf(ctx.outputs.workloads[0]!.container);
    const out = await sh`docker run -d --name ${name} --network none --label ${`${LABEL.project}=${PROJECT}`} --label ${`${LABEL.prefix}=${ctx.prefix}`} --health-cmd ${healthCmd} --health-interval 60s --health-timeout 2s --entrypoint sh ${image} -c ${script}`;
    expect(out.exitCode, out.stderr).toBe(0);
    return name;
  };
  afterAll(async () => {
    for (const n of names) await sh`docker rm -f ${n}`;
  });

  it('a container whose check passes after 2 s is ready while Docker, probing every 60 s, still says starting', async () => {
    const name = await start('slow', 'test -e /tmp/ready', 'sleep 2; touch /tmp/ready; exec sleep 600');
    await waitForContainers([name], 'under test', 60_000);
    expect((await sh`docker exec ${name} test -e /tmp/ready`).exitCode).toBe(0);
    expect(await docker.health(name)).toBe('starting');
  });

  it('a container that exited fails the wait at once, with its exit code and its last log line', async () => {
    const name = await start('exits', 'true', 'echo "cannot read /etc/app.conf" >&2; exit 3');
    await sh`docker wait ${name}`;
    await expect(waitForContainers([name], 'under test', 60_000)).rejects.toThrow(
      new RegExp(`1 of 1 containers under test are not ready:\\n  ${name}: exited with code 3\\n    cannot read /etc/app.conf`),
    );
  });

  it('a container whose check never passes fails the wait when its time is up, with the check\'s output', async () => {
    const name = await start('never', 'echo "no certificate yet"; exit 1', 'exec sleep 600');
    await expect(waitForContainers([name], 'under test', 3000)).rejects.toThrow(
      `${name}: not ready after 3 s; last: health check \`/bin/sh -c echo "no certificate yet"; exit 1\` exits 1: no certificate yet`,
    );
  });

  it('a container that does not exist fails the wait', async () => {
    await expect(waitForContainers([`${ctx.prefix}-readiness-missing`], 'under test', 3000)).rejects.toThrow(`${ctx.prefix}-readiness-missing: does not exist`);
  });
});
