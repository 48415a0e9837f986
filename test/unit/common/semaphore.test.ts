import { setImmediate as tick } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { mapLimited, Semaphore } from '../../../common/semaphore.js';

describe('Semaphore', () => {
  it('never runs more than its slots at once, and runs every task', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running += 1;
      peak = Math.max(peak, running);
      await tick();
      await tick();
      running -= 1;
      return n * 10;
    });
    expect(out).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(peak).toBe(3);
  });

  it('frees the slot of a task that throws, and passes the error on', async () => {
    const slots = new Semaphore(1);
    await expect(slots.with(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(slots.with(() => Promise.resolve('next'))).resolves.toBe('next');
  });

  it('refuses a size that would run nothing', () => {
    expect(() => new Semaphore(0)).toThrow('a semaphore needs at least one slot, got 0');
    expect(() => new Semaphore(1.5)).toThrow(RangeError);
  });
});
