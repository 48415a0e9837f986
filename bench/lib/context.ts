import type { Ui } from '../../scripts/lib/cli/ui.js';
import type { StackSettings } from '../../scripts/lib/deploy/stack-instance.js';
import type { Stack } from '../../scripts/lib/workloads/handles.js';
import type { HostIdentity } from './load-identity.js';

/** What every benchmark gets: the deployed bench stack and the host's credentials. */
export interface BenchContext {
  readonly smoke: boolean;
  /** Rounds per compared pair (alternated); 1 in smoke mode. */
  readonly rounds: number;
  /** Length of the B7 soak (--minutes; 2 in smoke mode). */
  readonly soakMinutes: number;
  readonly ui: Ui;
  readonly settings: StackSettings;
  readonly stack: Stack;
  readonly rootPem: string;
  /** spiffe://mesh.internal/operator: allow-listed by the bench stack's server. */
  readonly operator: HostIdentity;
  /** Scratch directory under bench/tmp (git-ignored), removed at the end. */
  readonly scratch: string;
  /** Seconds the benchmark has taken so far, for progress lines. */
  readonly elapsed: () => string;
}

/** The last limit of a benchmark made of timed runs: how many, how long (a smoke run measures nothing). */
export function timedRunsLimit(ctx: Pick<BenchContext, 'smoke' | 'rounds'>, seconds: number): string {
  return ctx.smoke ? `Smoke: ${seconds} s runs, not a measurement.` : `${ctx.rounds} rounds of ${seconds} s.`;
}

export type BenchId = 'b1' | 'b2' | 'b3' | 'b4' | 'b5' | 'b6' | 'b7' | 'b8' | 'b9' | 'b10' | 'b11';

/** One benchmark's outcome: rows for the markdown table, everything else for results.json. */
export interface BenchResult {
  readonly id: BenchId;
  readonly title: string;
  /** How it was measured, exactly enough to repeat it. */
  readonly method: string;
  /** What limits the figures. */
  readonly limits: readonly string[];
  /**
   * `before`: the value of the same metric in the results this run replaced (see `replaced`);
   * `formerly`: the metric's name there, when the figure is the same but its name changed.
   */
  readonly rows: ReadonlyArray<{ readonly metric: string; readonly value: string; readonly before?: string; readonly formerly?: string }>;
  readonly data: Record<string, unknown>;
  /** Checks that failed (the run exits non-zero if any benchmark has one). */
  readonly problems: readonly string[];
  /** Markdown after the limits (e.g. a profile's top frames). */
  readonly details?: readonly string[];
  /** When it finished and on which source (stamped by the runner; a merged report mixes runs). */
  readonly measuredAt?: string;
  readonly commit?: string;
  /** When and on which commit the results this run replaced were measured (the rows' `before`). */
  readonly replaced?: { readonly measuredAt: string; readonly commit: string };
}
