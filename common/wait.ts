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
  /** Pause between probes. @default 250 */
  readonly intervalMs?: number;
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
  let last: string | undefined;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value;
      last = `answered ${String(value)}`;
    } catch (error) {
      last = `failed: ${error instanceof Error ? error.message : String(error)}`;
    }
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`timed out after ${opts.timeoutMs} ms waiting for ${what} (last probe ${last})`);
    await sleep(Math.min(opts.intervalMs ?? 250, left));
  }
}

export { sleep };
