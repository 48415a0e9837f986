// The one condition wait: what counts as done, what the timeout says, and the pauses it keeps.
import { describe, expect, it } from 'vitest';

import { waitFor } from '../../../common/wait.js';

describe('waitFor', () => {
  it('returns the first answer that is not undefined, null or false, keeping 0 and empty text', async () => {
    const answers: unknown[] = [undefined, null, false, 0];
    await expect(waitFor('a count', () => answers.shift(), { timeoutMs: 5_000, intervalMs: 1 })).resolves.toBe(0);
    const texts: unknown[] = [false, ''];
    await expect(waitFor('a text', () => texts.shift(), { timeoutMs: 5_000, intervalMs: 1 })).resolves.toBe('');
  });

  it('counts a probe that throws as not yet, and names its last error in the timeout', async () => {
    let calls = 0;
    const probe = () => {
      calls += 1;
      throw new Error(`refused ${calls}`);
    };
    const error = await waitFor('the CA', probe, { timeoutMs: 50, intervalMs: 5 }).catch((e: unknown) => e as Error);
    expect(calls).toBeGreaterThan(1);
    expect(error.message).toBe(`timed out after 50 ms waiting for the CA (last probe failed: refused ${calls})`);
  });

  it('says what the last probe answered when the time is up', async () => {
    await expect(waitFor('the port', () => false, { timeoutMs: 20, intervalMs: 5 })).rejects.toThrow(
      'timed out after 20 ms waiting for the port (last probe answered false)',
    );
  });

  it('probes once even with no time at all', async () => {
    await expect(waitFor('x', () => 'ready', { timeoutMs: 0 })).resolves.toBe('ready');
  });

  it('takes its pauses from a list in turn, repeating the last', async () => {
    const at: number[] = [];
    const started = Date.now();
    await waitFor(
      'the fifth probe',
      () => {
        at.push(Date.now() - started);
        return at.length === 5 || undefined;
      },
      { timeoutMs: 10_000, intervalMs: [0, 0, 60] },
    );
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    console.log(`[wait] gaps between probes: ${gaps.join(', ')} ms`);
    // Timers never fire early: the third and fourth gaps are the repeated 60 ms, the first two are not.
    expect(gaps[2]).toBeGreaterThanOrEqual(59);
    expect(gaps[3]).toBeGreaterThanOrEqual(59);
    expect(gaps[0]).toBeLessThan(gaps[2]!);
  });
});
