// Env parsing helpers. Only the entry points (`*/main.ts`) read the
// environment; they turn it into typed options with these functions, so the
// rest of the code never sees a string where it expects a number.
import { isLogLevel, type LogLevel } from './logger.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** A configuration mistake: the entry point prints it and exits with status 2. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

export function readString(env: Env, name: string, fallback?: string): string {
  const value = raw(env, name) ?? fallback;
  if (value === undefined) throw new ConfigError(`${name} is required`);
  return value;
}

export function readOptionalString(env: Env, name: string): string | undefined {
  return raw(env, name);
}

export interface IntegerBounds {
  readonly min?: number;
  readonly max?: number;
}

export function readInteger(env: Env, name: string, fallback: number, bounds: IntegerBounds = {}): number {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = bounds;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

export function readPositiveNumber(env: Env, name: string, fallback: number): number {
  const text = raw(env, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) {
    throw new ConfigError(`${name} must be a positive number, got ${JSON.stringify(text)}`);
  }
  return value;
}

export function readPort(env: Env, name: string, fallback: number): number {
  return readInteger(env, name, fallback, { min: 0, max: 65535 });
}

/** Comma-separated, blanks dropped; at least one entry. */
export function readList(env: Env, name: string): string[] {
  const items = readString(env, name)
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');
  if (items.length === 0) throw new ConfigError(`${name} must list at least one entry`);
  return items;
}

export function readUrl(env: Env, name: string): URL {
  const text = readString(env, name);
  try {
    return new URL(text);
  } catch {
    throw new ConfigError(`${name} must be an absolute URL, got ${JSON.stringify(text)}`);
  }
}

export function readLogLevel(env: Env, name = 'LOG_LEVEL'): LogLevel {
  const text = readString(env, name, 'info').toLowerCase();
  if (!isLogLevel(text)) throw new ConfigError(`${name} must be one of debug, info, warn, error, got ${JSON.stringify(text)}`);
  return text;
}
