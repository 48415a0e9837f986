// The job behind `rotate-ca root …`: what it may touch, and that nothing
// secret travels in its argv (the script goes on stdin).
import { describe, expect, it } from 'vitest';

import { type RootJob, rootJobArgs, ROTATE_ROOT_SCRIPT } from '../../../../scripts/lib/ca-rotation/root-job.js';

const job = (phase: RootJob['phase'], over: Partial<RootJob> = {}): RootJob => ({
  name: 'pp-ca-rotate-root',
  prefix: 'pp',
  image: 'pp-step-ca:local',
  caVolume: 'pp-ca',
  rootKeyVolume: 'pp-ca-root-key',
  phase,
  rootSubject: 'Reference Root CA 2026-12-01',
  intermediateSubject: 'Reference Intermediate CA 2026-12-01',
  notAfter: '2036-12-01T00:00:00Z',
  ...over,
});

describe('rootJobArgs', () => {
  it.each(['prepare', 'activate', 'retire'] as const)('%s: no network, no capabilities, read-only, uid 1000, the CA volume', (phase) => {
    const { flags, args } = rootJobArgs(job(phase));
    const joined = flags.join(' ');
    expect(joined).toContain('--network none');
    expect(joined).toContain('--cap-drop ALL');
    expect(joined).toContain('--read-only');
    expect(joined).toContain('--user 1000:1000');
    expect(joined).toContain('-v pp-ca:/home/step');
    expect(args.slice(0, 3)).toEqual(['-s', '--', phase]);
    expect([...flags, ...args].some((a) => /password|BEGIN|PRIVATE/i.test(a))).toBe(false);
  });

  it('mounts the root-key volume for prepare and retire only', () => {
    expect(rootJobArgs(job('prepare')).flags).toContain('pp-ca-root-key:/var/lib/step-ca-root');
    expect(rootJobArgs(job('retire')).flags).toContain('pp-ca-root-key:/var/lib/step-ca-root');
    expect(rootJobArgs(job('activate')).flags.join(' ')).not.toContain('root-key');
    expect(() => rootJobArgs(job('prepare', { rootKeyVolume: undefined }))).toThrow('rotate-ca root prepare needs the root-key volume');
  });

  it('refuses subjects and dates that could break out of the script arguments', () => {
    expect(() => rootJobArgs(job('prepare', { rootSubject: 'x"; rm -rf / #' }))).toThrow(/a subject must be/);
    expect(() => rootJobArgs(job('prepare', { notAfter: 'tomorrow' }))).toThrow(/notAfter must be RFC 3339/);
  });

  it('the script edits ca.json only by replacing its exact root line, with step reading every password from a file', () => {
    expect(ROTATE_ROOT_SCRIPT).toContain('set_root_line "$single_root_line" "$both_roots_line"');
    expect(ROTATE_ROOT_SCRIPT).toContain('set_root_line "$both_roots_line" "$single_root_line"');
    expect(ROTATE_ROOT_SCRIPT).toMatch(/--password-file "\$pw"/);
    expect(ROTATE_ROOT_SCRIPT).not.toMatch(/echo[^\n]*\$pw/);
  });
});
