// The start-up contract every client recipe keeps (recipes/README.md,
// "Start-up"), as one set of tests each shell recipe's file runs against its
// own loop and server: a server that starts after the client is waited for
// (start-up retries, not failures); once a call has succeeded, a refused
// connection is a failed call at once; a spent budget is one failed call with
// the real error; a bad budget value stops the loop with a clear error.
import { delimiter, join } from 'node:path';
import { setTimeout } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { expect, it } from 'vitest';

import { waitFor } from '../../../../common/wait.js';
import { freePort, within } from '../../services/helpers/harness.js';
import type { RecipeFiles } from './recipe-credentials.js';
import { type RecipeProcess, runRecipe } from './recipe-process.js';

let runs = 0;
/** recipes/lib: the shell recipes find their trust-file tool (mtls-trust) on PATH, as in their images. */
const RECIPES_LIB = fileURLToPath(new URL('../../../../recipes/lib', import.meta.url));

/**
 * A client recipe's loop run on the host against 127.0.0.1:port, calling every
 * 100 ms and checking the server's DNS name, with its own stats file; `extra`
 * adds what the recipe needs besides the contract's environment.
 */
export function runClientRecipe(
  script: string,
  files: RecipeFiles,
  opts: { port: number; serverIdentity: string; startupRetryBudgetMs: string; extra?: Record<string, string> },
): RecipeProcess {
  const statsFile = join(files.dir, `stats-${++runs}.json`);
  const env = {
    ...opts.extra,
    PATH: [RECIPES_LIB, process.env['PATH'] ?? '/usr/bin:/bin'].join(delimiter),
    CERT_DIR: files.certDir,
    ROOT_PIN_FILE: files.pinFile,
    STATS_FILE: statsFile,
    TARGET_HOST: '127.0.0.1',
    TARGET_PORT: String(opts.port),
    EXPECTED_SERVER_IDENTITY: opts.serverIdentity,
    REQUEST_INTERVAL_MS: '100',
    STARTUP_RETRY_BUDGET_MS: opts.startupRetryBudgetMs,
  };
  return runRecipe(script, env, statsFile);
}

export interface StartupSubject {
  /** The recipe's loop calling 127.0.0.1:port every 100 ms with this STARTUP_RETRY_BUDGET_MS. */
  client(port: number, startupRetryBudgetMs: string): RecipeProcess;
  /** A server on the port; stop() closes its listener (connections are then refused). */
  server(port: number): Promise<{ stop(): Promise<void> }>;
  /** The log message of the first success, which carries `startupRetries`. */
  readonly firstSuccessLog: string;
  /** The recipe's lastError for a refused connection. */
  readonly refused: RegExp;
  /** How the loop stops on a bad STARTUP_RETRY_BUDGET_MS: its exit code, and what its first log line holds. */
  readonly badConfig: { readonly exitCode: number; readonly log: Record<string, unknown> };
  /** More checks on the first successful calls (e.g. what the server saw). */
  afterFirstSuccess?(recipe: RecipeProcess): void;
}

/** Generous against a busy machine, and far below the 20 s budget the tests give: "at once", not "after the budget". */
const AT_ONCE_MS = 10_000;

export function startupContract(subject: () => StartupSubject): void {
  it('waits for a server that starts after it: start-up retries, no failed call', async () => {
    const s = subject();
    const port = await freePort();
    const recipe = s.client(port, '20000');
    await waitFor('start-up retries while nothing listens', async () => (await recipe.stats()).requests.startupRetries >= 2, within(10_000));
    await s.server(port);
    await waitFor('successful calls', async () => (await recipe.stats()).requests.ok >= 2, within(10_000));
    const stats = await recipe.stats();
    expect(stats.requests, recipe.output()).toMatchObject({ failed: 0, retries: 0 });
    expect(stats.requests.startupRetries).toBeGreaterThanOrEqual(2);
    expect(recipe.logs.filter((line) => line.msg === 'server not answering yet; retrying (start-up)')).toHaveLength(1);
    const first = recipe.logs.filter((line) => line.msg === s.firstSuccessLog);
    expect(first, recipe.output()).toHaveLength(1);
    expect(Number(first[0]?.['startupRetries'])).toBeGreaterThanOrEqual(2);
    s.afterFirstSuccess?.(recipe);
  });

  it('after a success, counts a refused connection as a failed call at once', async () => {
    const s = subject();
    const port = await freePort();
    const server = await s.server(port);
    const recipe = s.client(port, '20000');
    await waitFor('a successful call', async () => (await recipe.stats()).requests.ok >= 1, within(10_000));
    await server.stop();
    const stoppedAt = Date.now();
    await waitFor('a failed call', async () => (await recipe.stats()).requests.failed >= 1, within(AT_ONCE_MS + 5_000));
    const took = Date.now() - stoppedAt;
    process.stderr.write(`[startup contract] a refused call after a success failed ${took} ms after the listener closed\n`);
    expect(took).toBeLessThan(AT_ONCE_MS);
    // A call in flight as the listener closed may have met a reset and
    // retried; the next one meets only refusals: no retry at all.
    const { retries } = (await recipe.stats()).requests;
    await waitFor('a second failed call', async () => (await recipe.stats()).requests.failed >= 2, within(AT_ONCE_MS));
    const stats = await recipe.stats();
    expect(stats.requests, recipe.output()).toMatchObject({ retries, startupRetries: 0 });
    expect(stats.lastError).toMatch(s.refused);
  });

  it('counts one failed call, with the real error, once a call has spent its start-up budget', async () => {
    const s = subject();
    const recipe = s.client(await freePort(), '1000'); // retries after 0.2 and 0.4 s; 0.8 s more would overrun it
    await waitFor('a failed call', async () => (await recipe.stats()).requests.failed >= 1, within(10_000));
    const stats = await recipe.stats();
    expect(stats.requests.ok).toBe(0);
    expect(stats.requests.startupRetries).toBeGreaterThanOrEqual(2);
    expect(stats.lastError).toMatch(s.refused);
  });

  it('refuses a STARTUP_RETRY_BUDGET_MS that is not a number of milliseconds', async () => {
    const s = subject();
    for (const value of ['-1', 'soon', '1.5', '86400001']) {
      const recipe = s.client(1, value);
      // A loop that accepted the value would run until stopped.
      expect(await Promise.race([recipe.exited(), setTimeout(5_000, 'still running')]), recipe.output()).toBe(s.badConfig.exitCode);
      expect(recipe.logs[0]).toMatchObject({ level: 'error', ...s.badConfig.log });
    }
  });
}
