// MTLS_OFFLINE decides on its own; the resolver must not even be asked then.
import { lookup } from 'node:dns/promises';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { detectMode } from '../../../scripts/lib/toolchain/connectivity.js';

vi.mock('node:dns/promises', () => ({
  lookup: vi.fn(async () => {
    throw new Error('no DNS in unit tests');
  }),
}));

beforeEach(() => {
  vi.mocked(lookup).mockClear();
});

describe('detectMode', () => {
  it.each(['1', 'true'])('MTLS_OFFLINE=%s means offline, without a DNS lookup', async (value) => {
    await expect(detectMode({ MTLS_OFFLINE: value })).resolves.toEqual({ mode: 'offline', why: 'MTLS_OFFLINE=1' });
    expect(lookup).not.toHaveBeenCalled();
  });

  it.each(['0', 'false'])('MTLS_OFFLINE=%s means connected, without a DNS lookup', async (value) => {
    await expect(detectMode({ MTLS_OFFLINE: value })).resolves.toEqual({ mode: 'connected', why: 'MTLS_OFFLINE=0' });
    expect(lookup).not.toHaveBeenCalled();
  });

  it('reads the environment it is given, not process.env', async () => {
    vi.stubEnv('MTLS_OFFLINE', '0');
    try {
      await expect(detectMode({ MTLS_OFFLINE: '1' })).resolves.toMatchObject({ mode: 'offline' });
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
