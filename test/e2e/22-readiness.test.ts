import { afterAll, describe, expect, inject, it } from 'vitest';
import { $ } from 'zx';

import { LABEL } from '../../common/facts.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { health, healthNow, waitForContainers } from '../../scripts/lib/workloads/readiness.js';
import { PROJECT } from '../../stack/versions.js';

const ctx = inject('e2e');
const sh = $({ quiet: true, nothrow: true, timeout: '60s' });

// Deploy and enrollment run each container's own health check instead of
// waiting for Docker's status (first probed a full interval after start).
// Throwaway containers of the stack's own workload image, no network.
describe("deploy and enrollment wait on each container's own health check", { timeout: 120_000 }, () => {
  const names: string[] = [];
  const start = async (suffix: string, healthCmd: string, script: string) => {
    const name = `${ctx.prefix}-readiness-${suffix}`;
    names.push(name);
    const image = await docker.imageOf(ctx.outputs.workloads[0]!.container);
    const out =
      await sh`docker run -d --name ${name} --network none --label ${`${LABEL.project}=${PROJECT}`} --label ${`${LABEL.prefix}=${ctx.prefix}`} --health-cmd ${healthCmd} --health-interval 60s --health-timeout 2s --entrypoint sh ${image} -c ${script}`;
    expect(out.exitCode, out.stderr).toBe(0);
    return name;
  };
  afterAll(async () => {
    for (const n of names) await sh`docker rm -f ${n}`;
  });

  it('a container whose check passes after 2 s is ready while Docker, probing every 60 s, still says starting', async () => {
    const name = await start('slow', 'test -e /tmp/ready', 'sleep 2; touch /tmp/ready; exec sleep 600');
    await waitForContainers([name], 'under test', { timeoutMs: 60_000 });
    expect((await sh`docker exec ${name} test -e /tmp/ready`).exitCode).toBe(0);
    expect(await docker.health(name)).toBe('starting');
  });

  it('a container that exited fails the wait at once, with its exit code and its last log line', async () => {
    const name = await start('exits', 'true', 'echo "cannot read /etc/app.conf" >&2; exit 3');
    await sh`docker wait ${name}`;
    await expect(waitForContainers([name], 'under test', { timeoutMs: 60_000 })).rejects.toThrow(
      new RegExp(`1 of 1 containers under test are not ready:\\n  ${name}: exited with code 3\\n    cannot read /etc/app.conf`),
    );
  });

  it("a container whose check never passes fails the wait when its time is up, with the check's output", async () => {
    const name = await start('never', 'echo "no certificate yet"; exit 1', 'exec sleep 600');
    await expect(waitForContainers([name], 'under test', { timeoutMs: 3000 })).rejects.toThrow(
      `${name}: not ready after 3 s; last: health check \`/bin/sh -c echo "no certificate yet"; exit 1\` exits 1: no certificate yet`,
    );
  });

  it('a container waiting for enrollment is up but not ready; a starting one is neither', async () => {
    const waiting = await start('waiting', 'echo "waiting: for the first certificate"; exit 1', 'exec sleep 600');
    const starting = await start('starting', 'echo "starting: initdb running"; exit 1', 'exec sleep 600');
    await waitForContainers([waiting], 'under test', { want: 'up', timeoutMs: 10_000 });
    await expect(waitForContainers([waiting], 'under test', { want: 'ready', timeoutMs: 2000 })).rejects.toThrow(
      `${waiting}: not ready after 2 s; last: health check`,
    );
    await expect(waitForContainers([starting], 'under test', { want: 'up', timeoutMs: 2000 })).rejects.toThrow(
      `1 of 1 containers under test are not up:\n  ${starting}: not up after 2 s; last: health check \`/bin/sh -c echo "starting: initdb running"; exit 1\` exits 1: starting: initdb running`,
    );
    expect(await health(waiting)).toBe('starting');
    expect((await healthNow(starting)).phase).toBe('starting');
  });

  it('a container that does not exist fails the wait', async () => {
    await expect(waitForContainers([`${ctx.prefix}-readiness-missing`], 'under test', { timeoutMs: 3000 })).rejects.toThrow(
      `${ctx.prefix}-readiness-missing: does not exist`,
    );
  });
});
