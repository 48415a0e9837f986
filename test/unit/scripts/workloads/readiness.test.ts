// Deploy's readiness check, from `docker inspect` alone: what it does next
// about a container. The wait itself runs against real containers in e2e 22.
import { describe, expect, it } from 'vitest';

import { type ContainerState, parseContainerState } from '../../../../scripts/lib/docker/commands.js';
import { healthArgv, verdict } from '../../../../scripts/lib/workloads/readiness.js';

const running = (over: Partial<ContainerState> = {}): ContainerState => ({
  status: 'running',
  exitCode: 0,
  restartCount: 0,
  health: 'starting',
  healthTest: ['CMD', 'step', 'ca', 'health'],
  healthTimeoutMs: 3000,
  ...over,
});

describe('verdict', () => {
  it("probes a running container whose check Docker has not passed yet, with the check's own command and timeout", () => {
    expect(verdict(running())).toEqual({ kind: 'probe', test: ['step', 'ca', 'health'], timeoutMs: 3000 });
    expect(verdict(running({ health: 'unhealthy' }))).toMatchObject({ kind: 'probe' });
  });

  it('is ready when Docker already says healthy, or when the container has no health check', () => {
    expect(verdict(running({ health: 'healthy' }))).toEqual({ kind: 'ready' });
    const { health: _h, healthTest: _t, ...bare } = running();
    expect(verdict(bare as ContainerState)).toEqual({ kind: 'ready' });
    expect(verdict(running({ healthTest: ['NONE'] }))).toEqual({ kind: 'ready' });
  });

  it('fails at once for a container that exited or does not exist', () => {
    expect(verdict(running({ status: 'exited', exitCode: 3 }))).toEqual({ kind: 'failed', why: 'exited with code 3' });
    expect(verdict(running({ status: 'dead', exitCode: 137 }))).toEqual({ kind: 'failed', why: 'dead with code 137' });
    expect(verdict(undefined)).toEqual({ kind: 'failed', why: 'does not exist' });
  });

  it('waits, saying why, while a container is created or restarting', () => {
    expect(verdict(running({ status: 'created' }))).toEqual({ kind: 'wait', why: 'created' });
    expect(verdict(running({ status: 'restarting', restartCount: 2 }))).toEqual({ kind: 'wait', why: 'restarting (restarted 2×)' });
  });

  it('refuses a health test it cannot run', () => {
    expect(verdict(running({ healthTest: ['CMD-SHELL', 'a', 'b'] }))).toEqual({
      kind: 'failed',
      why: 'health check ["CMD-SHELL","a","b"] is neither CMD nor CMD-SHELL',
    });
  });
});

describe('healthArgv', () => {
  it('runs CMD as given and CMD-SHELL through /bin/sh -c', () => {
    expect(healthArgv(['CMD', '/usr/local/bin/mtls-health'])).toEqual(['/usr/local/bin/mtls-health']);
    expect(healthArgv(['CMD-SHELL', 'curl -f localhost || exit 1'])).toEqual(['/bin/sh', '-c', 'curl -f localhost || exit 1']);
    expect(healthArgv(['CMD'])).toBeUndefined();
    expect(healthArgv(['NONE'])).toBeUndefined();
    expect(healthArgv([])).toBeUndefined();
  });
});

describe('parseContainerState', () => {
  it('reads state, health, the check and its timeout (ns) from one inspect line', () => {
    const state = JSON.stringify({ Status: 'running', ExitCode: 0, Health: { Status: 'starting', FailingStreak: 0 } });
    const check = JSON.stringify({ Test: ['CMD', 'node', '/app/probe.mjs', 'health'], Interval: 5e9, Timeout: 3e9 });
    expect(parseContainerState(`${state}\t${check}\t1\n`)).toEqual({
      status: 'running',
      exitCode: 0,
      restartCount: 1,
      health: 'starting',
      healthTest: ['CMD', 'node', '/app/probe.mjs', 'health'],
      healthTimeoutMs: 3000,
    });
  });

  it('a container without a health check has neither health nor a test', () => {
    expect(parseContainerState(`${JSON.stringify({ Status: 'exited', ExitCode: 2 })}\tnull\t0`)).toEqual({
      status: 'exited',
      exitCode: 2,
      restartCount: 0,
      healthTimeoutMs: 0,
    });
  });
});
