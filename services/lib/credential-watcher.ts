// Keeps a process's credentials current without restarting it.
//
// Watch the DIRECTORY, not the files: renewers may replace a file (new inode)
// and a watch on the old inode would go quiet. fs.watch can also miss events
// on Docker volumes and bind mounts, so a slow stat() poll backs it up. Events
// are debounced because a renewal changes two files (key, then certificate)
// and other writers (`step ca renew`) rewrite files in place; a load that
// catches a half-written file is rejected (the old credentials stay in use)
// and retried with backoff, even if the writer's last event was coalesced.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import {
  CREDENTIAL_FILES,
  CredentialError,
  type CredentialProblem,
  type Credentials,
  describeCredentials,
  digestOf,
  readCredentialFiles,
  validateCredentials,
} from './credentials.js';
import { type Logger, silentLogger } from './logger.js';
import { PinError, type PinSet, readPinFile } from './root-pins.js';

export interface CredentialWatcherOptions {
  /** Directory holding root.crt, site.crt and site.key. */
  readonly dir: string;
  /** SHA-256 fingerprints of the roots to trust (root-pins.ts), on a volume the renewer cannot write: nothing loads until it exists, root.crt may hold pinned roots only, and a new pin set applies without a restart. @default no pinning */
  readonly pinFile?: string;
  /** Quiet time after the last file event before reading. @default 250 */
  readonly debounceMs?: number;
  /** Fallback stat() poll for missed events. @default 10_000 */
  readonly pollIntervalMs?: number;
  /** Re-checks after a rejected load, for writers still busy. @default [500, 1000, 2000, 4000, 8000] */
  readonly retryDelaysMs?: readonly number[];
  /** @default silent */
  readonly logger?: Logger;
}

export interface CredentialFailure {
  readonly at: Date;
  readonly problem: CredentialProblem;
  readonly message: string;
}

type Events = {
  /** New credentials are in use; `previous` is undefined for the first load. */
  reload: [current: Credentials, previous: Credentials | undefined];
  /** A load was refused; the current credentials (if any) stay in use. */
  rejected: [error: CredentialError];
};

type Outcome = 'loaded' | 'unchanged' | 'waiting' | 'rejected' | 'rejected-again';

export class CredentialWatcher extends EventEmitter<Events> {
  current: Credentials | undefined;
  reloads = 0;
  failedReloads = 0;
  lastReloadAt: Date | undefined;
  /** The last refusal, kept as history (/stats). */
  lastFailure: CredentialFailure | undefined;
  /** The files on disk now are refused (cleared once they load, are put back, or are removed): health describes the files as they are. */
  refusing = false;

  private readonly dir: string;
  private readonly pinFile: string | undefined;
  private readonly debounceMs: number;
  private readonly pollIntervalMs: number;
  private readonly retryDelaysMs: readonly number[];
  private readonly logger: Logger;
  private watchers: FSWatcher[] = [];
  private debounceTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private retryIndex = 0;
  private running: Promise<void> | undefined;
  private rerun = false;
  private stopped = false;
  private lastRejection: string | undefined;
  private waitingLogged = false;
  private pollSignature = '';

  constructor(options: CredentialWatcherOptions) {
    super();
    this.dir = options.dir;
    this.pinFile = options.pinFile;
    this.debounceMs = options.debounceMs ?? 250;
    this.pollIntervalMs = options.pollIntervalMs ?? 10_000;
    this.retryDelaysMs = options.retryDelaysMs ?? [500, 1000, 2000, 4000, 8000];
    this.logger = options.logger ?? silentLogger;
  }

  get state(): 'waiting' | 'loaded' {
    return this.current ? 'loaded' : 'waiting';
  }

  /** Loads whatever is there now (missing files are fine), then starts watching. */
  async start(): Promise<void> {
    if (this.pinFile) this.logger.info('root pinning on', { pinFile: this.pinFile });
    else this.logger.warn('root pinning off: any root in root.crt is trusted (set ROOT_PIN_FILE)');
    // Watch first, so a file written during the initial load is not missed.
    this.startWatching();
    this.pollTimer = setInterval(() => void this.poll(), this.pollIntervalMs).unref();
    await this.check();
  }

  stop(): void {
    this.stopped = true;
    for (const watcher of this.watchers.splice(0)) watcher.close();
    clearTimeout(this.debounceTimer);
    clearTimeout(this.retryTimer);
    clearInterval(this.pollTimer);
  }

  /** Loads now, bypassing the debounce; resolves when that load is done. */
  check(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.rerun = false;
        this.afterLoad(await this.load());
      } while (this.rerun && !this.stopped);
    })()
      // Only a bug (e.g. a throwing 'reload' listener) gets here; never crash the workload over it.
      .catch((error: unknown) => this.logger.error('credential check failed unexpectedly', { error }))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private startWatching(): void {
    const dirs = new Set([this.dir, ...(this.pinFile ? [dirname(this.pinFile)] : [])]);
    for (const dir of dirs) {
      try {
        const watcher = watch(dir, { persistent: false }, () => this.schedule());
        watcher.on('error', (error) => {
          this.logger.warn('directory watch failed; relying on the poll', { dir, error });
          watcher.close();
          this.watchers = this.watchers.filter((w) => w !== watcher);
        });
        this.watchers.push(watcher);
      } catch (error) {
        this.logger.warn('cannot watch the directory; relying on the poll', { dir, error });
      }
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => void this.check(), this.debounceMs).unref();
  }

  /** A changed size or mtime counts as a file event; the debounce applies as usual. */
  private async poll(): Promise<void> {
    const paths = [...Object.values(CREDENTIAL_FILES).map((name) => join(this.dir, name)), ...(this.pinFile ? [this.pinFile] : [])];
    const parts = await Promise.all(
      paths.map(async (path) => {
        const info = await stat(path).catch(() => undefined);
        return info ? `${info.size}:${info.mtimeMs}:${info.ino}` : '-';
      }),
    );
    const signature = parts.join('|');
    if (signature !== this.pollSignature) {
      this.pollSignature = signature;
      this.schedule();
    }
  }

  private afterLoad(outcome: Outcome): void {
    clearTimeout(this.retryTimer);
    if (outcome === 'rejected') this.retryIndex = 0;
    if (outcome !== 'rejected' && outcome !== 'rejected-again') return;
    const delay = this.retryDelaysMs[this.retryIndex++];
    // Retries exhausted: the files are really broken; the next event or poll tries again.
    if (delay === undefined || this.stopped) return;
    this.retryTimer = setTimeout(() => void this.check(), delay).unref();
  }

  private async load(): Promise<Outcome> {
    let files;
    let pins: PinSet | undefined;
    try {
      pins = await this.readPins();
      files = await readCredentialFiles(this.dir);
    } catch (error) {
      if (!(error instanceof CredentialError)) throw error;
      if (error.problem === 'missing' && !this.current) return this.waiting(error);
      return this.reject(error, `${error.problem}:${error.message}`);
    }
    // A new pin set re-validates the same files: it may now refuse them.
    const digest = pins ? `${digestOf(files)}:${createHash('sha256').update(pins.text).digest('hex')}` : digestOf(files);
    if (this.stopped) return 'unchanged';
    if (digest === this.current?.digest) return this.settled('unchanged');
    let credentials: Credentials;
    try {
      credentials = { ...validateCredentials(files, new Date(), pins?.set), digest };
    } catch (error) {
      if (!(error instanceof CredentialError)) throw error;
      // A not-yet-valid certificate can become valid without changing, so it is never "seen already".
      return this.reject(error, error.problem === 'not_yet_valid' ? undefined : digest);
    }
    return this.accept(credentials);
  }

  private async readPins(): Promise<PinSet | undefined> {
    if (!this.pinFile) return undefined;
    try {
      return await readPinFile(this.pinFile);
    } catch (error) {
      if (!(error instanceof PinError)) throw error;
      throw new CredentialError(error.problem, error.message);
    }
  }

  /** Nothing on disk is refused now (accepted, put back, or absent). */
  private settled(outcome: Outcome): Outcome {
    this.refusing = false;
    this.lastRejection = undefined;
    return outcome;
  }

  private waiting(error: CredentialError): Outcome {
    this.settled('waiting');
    if (!this.waitingLogged) {
      this.logger.info('waiting for certificate', { dir: this.dir, reason: error.message });
      this.waitingLogged = true;
    }
    return 'waiting';
  }

  private accept(credentials: Credentials): Outcome {
    const previous = this.current;
    this.current = credentials;
    this.settled('loaded');
    this.lastReloadAt = new Date();
    if (previous) {
      this.reloads += 1;
      this.logger.info('credentials reloaded', {
        ...describeCredentials(credentials),
        previousSerial: previous.serial,
        previousNotAfter: previous.notAfter.toISOString(),
      });
    } else {
      this.logger.info('credentials loaded', describeCredentials(credentials));
    }
    this.emit('reload', credentials, previous);
    return 'loaded';
  }

  /** `key` identifies the rejected content, so a retry over the same bytes is not reported twice. */
  private reject(error: CredentialError, key: string | undefined): Outcome {
    if (key !== undefined && key === this.lastRejection) return 'rejected-again';
    this.lastRejection = key;
    this.refusing = true;
    this.failedReloads += 1;
    this.lastFailure = { at: new Date(), problem: error.problem, message: error.message };
    const fields = {
      problem: error.problem,
      reason: error.message,
      rejectedSerial: error.certificate?.serial,
      rejectedNotAfter: error.certificate?.notAfter.toISOString(),
      currentSerial: this.current?.serial,
      currentNotAfter: this.current?.notAfter.toISOString(),
    };
    this.logger.error(this.current ? 'credentials rejected; keeping the current ones' : 'credentials rejected', fields);
    this.emit('rejected', error);
    return 'rejected';
  }
}

/** The reload settings both roles take, in their own option names. */
export interface ReloadOptions {
  readonly certDir: string;
  /** See CredentialWatcherOptions.pinFile. @default no pinning */
  readonly rootPinFile?: string;
  readonly reloadDebounceMs?: number;
  readonly reloadPollIntervalMs?: number;
  readonly reloadRetryDelaysMs?: readonly number[];
}

/** A watcher for a role's cert directory, logging under `component: credentials`. */
export function watchCredentials(options: ReloadOptions, logger: Logger): CredentialWatcher {
  return new CredentialWatcher({
    dir: options.certDir,
    pinFile: options.rootPinFile,
    debounceMs: options.reloadDebounceMs,
    pollIntervalMs: options.reloadPollIntervalMs,
    retryDelaysMs: options.reloadRetryDelaysMs,
    logger: logger.child({ component: 'credentials' }),
  });
}
