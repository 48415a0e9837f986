// B7's full-GC probe against a real Node process: the same script the soak
// runs inside each app container, run here against a child of the test.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promisify } from 'node:util';

import { afterEach, describe, expect, it } from 'vitest';

import { COLLECT_GARBAGE_SCRIPT } from '../../../bench/lib/full-gc.js';

const run = promisify(execFile);
// The containers run Node 24 (WebSocket is global); older hosts need the flag.
const websocketFlag = Number(process.versions.node.split('.')[0]) < 22 ? ['--experimental-websocket'] : [];
const collect = (pid: number) =>
  run(process.execPath, [...websocketFlag, '--input-type=module', '-e', COLLECT_GARBAGE_SCRIPT, String(pid)], { timeout: 20_000 });

describe('COLLECT_GARBAGE_SCRIPT', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
  });

  it('opens the inspector of a running Node process and makes it run a full mark-compact', async () => {
    child = spawn(process.execPath, ['--trace-gc', '-e', "console.log('ready'); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    while (!out.includes('ready')) await once(child.stdout!, 'data');
    expect(out).not.toContain('Mark-Compact');
    await collect(child.pid!);
    // The answer comes after the collection, and the child's trace says which.
    await expect.poll(() => out, { timeout: 5_000 }).toMatch(/Mark-Compact.*low memory notification/);
    expect(child.exitCode).toBeNull();
  });

  it('fails with the reason for a process that is gone', async () => {
    child = spawn(process.execPath, ['-e', '']);
    await once(child, 'exit');
    const pid = child.pid!;
    await expect(collect(pid)).rejects.toMatchObject({ stderr: expect.stringContaining('full-gc: kill ESRCH') });
  });

  it('refuses a pid that is not a positive integer before signalling anything', async () => {
    await expect(collect(0)).rejects.toMatchObject({ stderr: expect.stringContaining('full-gc: usage: <pid>') });
  });
});
