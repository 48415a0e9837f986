/**
 * Go-style durations as step-ca writes them in its claims ("90s", "5m",
 * "1h30m"). Parsed here so the stack can validate claims before deploying.
 */
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600 };

export function parseDuration(text: string): number {
  const match = /^(?:\d+[hms])+$/.exec(text);
  if (!match) throw new Error(`invalid duration "${text}": use Go syntax such as 90s, 5m or 1h30m`);
  let seconds = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([hms])/g)) seconds += Number(n) * UNIT_SECONDS[unit!]!;
  if (seconds <= 0) throw new Error(`invalid duration "${text}": must be positive`);
  return seconds;
}
