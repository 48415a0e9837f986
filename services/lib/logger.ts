// JSON-lines logger: one object per line on stdout, `{"ts","level","msg",...}`.
// Container log drivers and `docker logs | jq` need nothing more, so there is
// no dependency. Callers pass structured fields, never key material.

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (e.g. `{ component: 'credentials' }`). */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  /** @default 'info' */
  readonly level?: LogLevel;
  /** Receives each line without the trailing newline. @default write to process.stdout */
  readonly write?: (line: string) => void;
  /** Fields added to every line. @default none */
  readonly fields?: LogFields;
}

export function isLogLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

// Errors do not serialise with JSON.stringify; keep their message and code only
// (stacks are noise in a service log and may carry paths).
function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code;
    return code === undefined ? { message: value.message } : { message: value.message, code };
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const threshold = LOG_LEVELS.indexOf(options.level ?? 'info');
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const base = options.fields ?? {};

  const log = (level: LogLevel, msg: string, fields: LogFields = {}): void => {
    if (LOG_LEVELS.indexOf(level) < threshold) return;
    write(JSON.stringify({ ts: new Date().toISOString(), level, msg, ...base, ...fields }, replacer));
  };

  return {
    debug: (msg, fields) => log('debug', msg, fields),
    info: (msg, fields) => log('info', msg, fields),
    warn: (msg, fields) => log('warn', msg, fields),
    error: (msg, fields) => log('error', msg, fields),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

/** For tests and library users who do not want output. */
export const silentLogger: Logger = createLogger({ write: () => undefined });
