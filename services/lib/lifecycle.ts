// Signal handling for the entry points. Node as PID 1 gets no default SIGTERM
// behaviour from the kernel, so without a handler `docker stop` would wait its
// full timeout and then SIGKILL — dropping in-flight requests.
import { type Env, readLogLevel } from './config.js';
import { createLogger, type LogFields, type Logger } from './logger.js';

export function stopOnSignals(stop: () => Promise<void>, logger: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn('second signal; exiting now', { signal });
      process.exit(1);
    }
    stopping = true;
    logger.info('shutting down', { signal });
    stop().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error('shutdown failed', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** Logs why the process cannot run and exits (2: bad configuration, 1: anything else). */
export function exitWith(logger: Logger, msg: string, error: unknown, code: 1 | 2): never {
  logger.error(msg, { error });
  process.exit(code);
}

/** What an entry point runs: a server or a client of the workload image. */
export interface Workload {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The life of an entry point: builds the workload from the environment
 * (exit 2 with one log line naming the bad variable), stops it on SIGTERM or
 * SIGINT, and starts it (exit 1 when it cannot).
 */
export async function runWorkload<W extends Workload>(env: Env, fields: LogFields, configure: (env: Env, logger: Logger) => W): Promise<W> {
  let configured: { workload: W; logger: Logger };
  try {
    const logger = createLogger({ level: readLogLevel(env), fields });
    configured = { workload: configure(env, logger), logger };
  } catch (error) {
    exitWith(createLogger({ fields }), 'invalid configuration', error, 2);
  }
  const { workload, logger } = configured;
  stopOnSignals(() => workload.stop(), logger);
  try {
    await workload.start();
  } catch (error) {
    exitWith(logger, 'failed to start', error, 1);
  }
  return workload;
}
