// Leftover selection for the e2e suite: a stack is removed only when the run
// that labelled it is gone; another live suite's stacks and unlabelled
// (a person's) stacks are kept.
import { spawn } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { imageObject, parseLabelledLines } from '../../../../scripts/lib/docker/labelled.js';
import { type LabelledObject, ownerValue, parseOwner, processRunning, selectLeftovers } from '../../../../scripts/lib/docker/ownership.js';

const HOST = 'ci-runner-1';
const alive = new Set([4242]);
const opts = { stem: 'e2e', host: HOST, isRunning: (pid: number) => alive.has(pid) };
const objects = (prefix: string, owner?: string): LabelledObject[] => [
  { kind: 'container', name: `${prefix}-ca`, prefix, owner },
  { kind: 'volume', name: `${prefix}-ca`, prefix, owner },
  { kind: 'network', name: `${prefix}-mesh`, prefix, owner },
  { kind: 'image', name: `${prefix}-workload:local`, prefix },
];

describe('selectLeftovers', () => {
  it('removes a stack whose owning run has ended, and keeps the stacks of a run that is still going', () => {
    const dead = ownerValue({ host: HOST, pid: 1111, run: 'abc' });
    const live = ownerValue({ host: HOST, pid: 4242, run: 'def' });
    const decisions = selectLeftovers([...objects('e2eaaaa', dead), ...objects('e2ebbbb', live)], opts);
    expect(decisions).toEqual([
      { prefix: 'e2eaaaa', remove: true, why: `owner ${dead} is gone` },
      { prefix: 'e2ebbbb', remove: false, why: 'owner process 4242 is still running' },
    ]);
  });

  it('never touches a stack without an owner label, even with the e2e stem (a hand-deployed stack)', () => {
    expect(selectLeftovers(objects('e2emine'), opts)).toEqual([{ prefix: 'e2emine', remove: false, why: 'no owner label: not made by a test run' }]);
  });

  it('ignores prefixes without the stem, whatever their owner', () => {
    expect(selectLeftovers(objects('mtls', ownerValue({ host: HOST, pid: 1111, run: 'x' })), opts)).toEqual([]);
  });

  it('keeps a stack owned by a run on another host: its liveness cannot be known here', () => {
    const [d] = selectLeftovers(objects('e2ecccc', ownerValue({ host: 'laptop', pid: 1111, run: 'x' })), opts);
    expect(d).toEqual({ prefix: 'e2ecccc', remove: false, why: 'owned by a run on host laptop' });
  });

  it('keeps a stack with an unreadable owner label', () => {
    const [d] = selectLeftovers(objects('e2edddd', 'somebody'), opts);
    expect(d).toEqual({ prefix: 'e2edddd', remove: false, why: 'unreadable owner label "somebody"' });
  });

  it('keeps a stack when any of its owners is alive (two runs labelled one prefix)', () => {
    const mixed = [
      ...objects('e2eeeee', ownerValue({ host: HOST, pid: 1111, run: 'a' })),
      { kind: 'container' as const, name: 'e2eeeee-x', prefix: 'e2eeeee', owner: ownerValue({ host: HOST, pid: 4242, run: 'b' }) },
    ];
    expect(selectLeftovers(mixed, opts)[0]?.remove).toBe(false);
  });
});

describe('owner labels', () => {
  it('round-trip host, pid and run id; odd host characters become dashes', () => {
    const value = ownerValue({ host: 'my host_1.local', pid: 987, run: 'mq1x' });
    expect(value).toBe('my-host-1.local/987/mq1x');
    expect(parseOwner(value)).toEqual({ host: 'my-host-1.local', pid: 987, run: 'mq1x' });
  });

  it.each(['', 'host', 'host/0/run', 'host/-1/run', 'host/12/', 'a/b/c/d', 'host/12/run x'])('refuses %j', (bad) => {
    expect(parseOwner(bad)).toBeUndefined();
  });
});

describe('processRunning', () => {
  it('is true for this process and false for a child that has exited', async () => {
    expect(processRunning(process.pid)).toBe(true);
    const child = spawn(process.execPath, ['-e', '0']);
    const pid = child.pid!;
    await new Promise((resolve) => child.on('exit', resolve));
    expect(processRunning(pid)).toBe(false);
  });
});

describe('reading labelled objects from docker output', () => {
  it('parses name, prefix and owner; an empty owner is no owner; lines without a prefix are skipped', () => {
    const out = 'e2eab-ca\te2eab\thost/12/run\ne2ecd-ca\te2ecd\t\nstray\t\t\n\n';
    expect(parseLabelledLines('container', out)).toEqual([
      { kind: 'container', name: 'e2eab-ca', prefix: 'e2eab', owner: 'host/12/run' },
      { kind: 'container', name: 'e2ecd-ca', prefix: 'e2ecd', owner: undefined },
    ]);
  });

  it("takes an image's prefix from its name", () => {
    expect(imageObject('e2eab-step-ca:local')).toEqual({ kind: 'image', name: 'e2eab-step-ca:local', prefix: 'e2eab' });
    expect(imageObject('e2e-x-workload:local').prefix).toBe('e2e-x');
  });
});
