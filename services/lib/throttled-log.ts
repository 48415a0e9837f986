// Log lines for events a peer can cause at will (refused handshakes, malformed
// requests, connections over the cap). One line per event would let anyone
// fill the disk and drown everything else, so: the first event of each kind
// in an interval is logged in full, later ones of that kind are only counted,
// and one summary line per interval reports the counts when anything was held
// back. Lines per interval ≤ distinct kinds (capped) + 1, whatever the rate.
import type { LogFields, Logger } from './logger.js';

export interface ThrottledLogOptions {
  /** The message of each detailed line, e.g. 'tls handshake failed'. */
  readonly msg: string;
  /** The message of the summary line. @default `${msg} (summary)` */
  readonly summaryMsg?: string;
  /** @default 60_000 */
  readonly intervalMs?: number;
  /** Detailed lines per interval, over all kinds. @default 10 */
  readonly maxDetailedPerInterval?: number;
  /** @default 'warn' */
  readonly level?: 'info' | 'warn' | 'error';
  /** Called for every event, logged or not (e.g. to count it in a metric). */
  readonly onRecord?: (kind: string) => void;
}

export class ThrottledLog {
  private readonly counts = new Map<string, number>();
  private detailed = 0;
  private suppressed = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;
  private readonly maxDetailed: number;

  constructor(
    private readonly logger: Logger,
    private readonly options: ThrottledLogOptions,
  ) {
    this.intervalMs = options.intervalMs ?? 60_000;
    this.maxDetailed = options.maxDetailedPerInterval ?? 10;
  }

  /** Counts one event of `kind`; logs it in full if it is the first of its kind this interval. */
  record(kind: string, fields: LogFields = {}): void {
    this.options.onRecord?.(kind);
    const seen = this.counts.get(kind) ?? 0;
    this.counts.set(kind, seen + 1);
    if (seen === 0 && this.detailed < this.maxDetailed) {
      this.detailed += 1;
      this.logger[this.options.level ?? 'warn'](this.options.msg, { kind, ...fields });
    } else {
      this.suppressed += 1;
    }
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs).unref();
  }

  /** Ends the interval: one summary line if events were held back. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.suppressed > 0) {
      this.logger[this.options.level ?? 'warn'](this.options.summaryMsg ?? `${this.options.msg} (summary)`, {
        intervalSeconds: this.intervalMs / 1000,
        counts: Object.fromEntries(this.counts),
        notLoggedIndividually: this.suppressed,
      });
    }
    this.counts.clear();
    this.detailed = 0;
    this.suppressed = 0;
  }
}
