// When a failed request is tried again. Before the first success a server
// that cannot be reached is most likely still starting: its name does not
// resolve yet, or nothing listens. After it, a refused connection is a failure
// unless the caller asked for a budget to ride out outages. A TLS or identity
// failure is never retried: waiting does not heal it.
import { backoffDelay } from '../lib/backoff.js';
import { classifyRequestFailure } from '../lib/tls-errors.js';
import { type Failure, unreachable } from './request.js';

export interface RetryPolicy {
  /** Until the first success: how long one request may retry an unreachable server. */
  readonly startupBudgetMs: number;
  /** After it: how long one request may retry connection errors and timeouts. */
  readonly budgetMs: number;
  /** First delay; doubles up to maxDelayMs (with jitter). */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export interface RetryState {
  /** Retries of this request so far. */
  readonly retries: number;
  /** Since its first attempt. */
  readonly elapsedMs: number;
  /** Whether any request has succeeded since the client started. */
  readonly succeededBefore: boolean;
}

export interface Retry {
  readonly delayMs: number;
  /** A start-up retry: the server has never answered yet. */
  readonly startup: boolean;
}

/** The next retry of a failed request, or undefined when it counts as failed. */
export function nextRetry(failure: Failure, state: RetryState, policy: RetryPolicy): Retry | undefined {
  const delayMs = backoffDelay(state.retries + 1, { initialMs: policy.initialDelayMs, maxMs: policy.maxDelayMs });
  if (!state.succeededBefore && unreachable(failure)) {
    return state.elapsedMs + delayMs <= policy.startupBudgetMs ? { delayMs, startup: true } : undefined;
  }
  // The server may close an idle keep-alive connection just as we reuse it:
  // Node's documented remedy is to retry at once on a fresh one.
  if (state.retries === 0 && failure.reusedSocket && failure.error.code === 'ECONNRESET') return { delayMs: 0, startup: false };
  const reason = classifyRequestFailure(failure.error);
  if (reason !== 'connection' && reason !== 'timeout') return undefined;
  return state.elapsedMs + delayMs <= policy.budgetMs ? { delayMs, startup: false } : undefined;
}
