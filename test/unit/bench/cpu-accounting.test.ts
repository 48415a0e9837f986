// B4's CPU accounting: /proc parsing, and the children's CPU time it relies on.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { describeCpu } from '../../../bench/b4-handshakes.js';
import { parseChildrenSeconds, parseProcStat } from '../../../bench/lib/cpu-accounting.js';

describe('parseProcStat', () => {
  it('counts everything but idle and iowait as busy', () => {
    expect(parseProcStat('cpu  100 5 50 800 20 0 10 15 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n')).toEqual({ busy: 180, total: 1000 });
  });

  it('refuses a file without the aggregate line', () => {
    expect(() => parseProcStat('cpu0 1 2 3 4 5 6 7 8\n')).toThrow(/no aggregate cpu line/);
  });
});

describe('parseChildrenSeconds', () => {
  it('reads cutime + cstime after a command that holds spaces and parentheses', () => {
    const stat = '4242 (node (x) y) S 1 2 3 4 5 6 7 8 9 10 300 40 120 30 20 0 1 0 5 6 7';
    expect(parseChildrenSeconds(stat)).toBe(1.5);
  });

  it.runIf(process.platform === 'linux')('sees the CPU time of a child this process waited for', () => {
    const before = parseChildrenSeconds(readFileSync('/proc/self/stat', 'utf8'));
    // The child spins until it has used 300 ms of CPU itself: on a busy machine 300 ms of wall clock can be less.
    spawnSync(process.execPath, ['-e', 'const t = process.cpuUsage(); for (;;) { const u = process.cpuUsage(t); if (u.user + u.system >= 300_000) break; }']);
    const after = parseChildrenSeconds(readFileSync('/proc/self/stat', 'utf8'));
    expect(after - before).toBeGreaterThanOrEqual(0.2);
  });
});

describe('describeCpu', () => {
  it('reports the median of each figure, and n/a for what could not be read', () => {
    expect(
      describeCpu([
        { machineBusy: 0.9, clientCores: 1, serverCores: 0.8 },
        { machineBusy: 0.99, clientCores: 1.1, serverCores: 0.9 },
        { machineBusy: 0.95, clientCores: 0.9, serverCores: 1 },
      ]),
    ).toBe('95% / 1 / 0.9');
    expect(describeCpu([{ machineBusy: 0.5, clientCores: 0.5 }])).toBe('50% / 0.5 / n/a');
    expect(describeCpu([undefined])).toBe('n/a');
  });
});
