// Signal handling for the entry points. Node as PID 1 gets no default SIGTERM
// behaviour from the kernel, so without a handler `docker stop` would wait its
// full timeout and then SIGKILL — dropping in-flight requests.
import type { Logger } from './logger.js';

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
