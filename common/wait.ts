/**
 * The one way the project waits: on a condition, polled until it holds or a
 * deadline passes. Scripts, benchmarks and tests all wait through here, so a
 * timeout always says what was awaited, for how long, and what the last probe
 * saw. No imports beyond Node's, so anything may depend on this module.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** How long the condition may take before the wait fails. */
  readonly timeoutMs: number;
  /** Pause between probes; a list gives the pauses in turn, its last repeating (fast while a thing starts, then steady). @default 250 */
  readonly intervalMs?: number | readonly number[];
}

/** A probe's answer that means "not yet". */
type NotYet = undefined | null | false;

/**
 * Polls `probe` until it returns a value other than undefined, null or false,
 * and returns that value. A probe that throws counts as "not yet"; its error
 * is named in the timeout's message. The probe runs at least once.
 */
export async function waitFor<T>(what: string, probe: () => T | NotYet | Promise<T | NotYet>, opts: WaitOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  const pauses = typeof opts.intervalMs === 'object' ? opts.intervalMs : [opts.intervalMs ?? 250];
  let last: string | undefined;
  for (let attempt = 0; ; attempt += 1) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
      last = `answered ${String(value)}`;
    } catch (error) {
      last = `failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what} (last probe ${last})`);
    await sleep(Math.min(pauses[Math.min(attempt, pauses.length - 1)] ?? 250, left));
  }
}

export { sleep };
