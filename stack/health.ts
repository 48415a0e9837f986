/**
 * A container health check as the stack declares it. Every container that
 * `apply` waits on gets `startInterval`: during its start period Docker (25+,
 * API 1.44) probes every second, so `apply` moves on as soon as the container
 * answers instead of after a whole `interval`; older engines ignore the field
 * and probe after `interval`, as before. Afterwards `interval` keeps the
 * probes cheap.
 */
export function healthcheck(test: readonly string[], timing: { interval: string; timeout: string; startPeriod: string; retries: number }) {
  return { test: [...test], ...timing, startInterval: '1s' };
}
