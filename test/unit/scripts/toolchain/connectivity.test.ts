// MTLS_OFFLINE decides on its own; the resolver must not even be asked then.
import { lookup } from 'node:dns/promises';

import { beforeEach, describe, expect, it, vi } from 'vitest';

import { detectMode } from '../../../../scripts/lib/toolchain/connectivity.js';

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
    await expect(detectMode({ MTLS_OFFLINE: value })).resolves.toEqual({ mode: 'offline', why: 'MTLS_OFFLINE=1', providers: 'mirror' });
    expect(lookup).not.toHaveBeenCalled();
  });

  it.each(['0', 'false'])('MTLS_OFFLINE=%s means connected, without a DNS lookup', async (value) => {
    await expect(detectMode({ MTLS_OFFLINE: value })).resolves.toEqual({ mode: 'connected', why: 'MTLS_OFFLINE=0', providers: 'registry' });
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

  it('MTLS_PROVIDER_MIRROR=1 keeps the provider on the mirror in connected mode', async () => {
    await expect(detectMode({ MTLS_OFFLINE: '0', MTLS_PROVIDER_MIRROR: '1' })).resolves.toEqual({
      mode: 'connected',
      why: 'MTLS_OFFLINE=0; provider from the mirror (MTLS_PROVIDER_MIRROR=1)',
      providers: 'mirror',
    });
  });

  it('names that do not resolve, no proxy: offline, saying which name and how to override', async () => {
    vi.mocked(lookup).mockRejectedValueOnce(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }));
    await expect(detectMode({})).resolves.toEqual({
      mode: 'offline',
      why: 'registry-1.docker.io does not resolve (ENOTFOUND) and no proxy is set (set MTLS_OFFLINE=0 if the registries are reachable anyway)',
      providers: 'mirror',
    });
  });

  // On a proxy-only network the host resolves nothing but the proxy reaches
  // the registries; going offline there would demand root on Debian.
  it('names that do not resolve behind a proxy: connected through the proxy, and it says so', async () => {
    vi.mocked(lookup).mockRejectedValueOnce(Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' }));
    const d = await detectMode({ HTTPS_PROXY: 'http://proxy.corp:3128' });
    expect(d.mode).toBe('connected');
    expect(d.providers).toBe('registry');
    expect(d.why).toBe(
      'registry-1.docker.io does not resolve here (EAI_AGAIN) but HTTPS_PROXY is set: using the registries through the proxy (set MTLS_OFFLINE=1 to build everything locally instead)',
    );
  });

  it('both names resolve: connected, provider from the registry', async () => {
    vi.mocked(lookup).mockResolvedValue({ address: '192.0.2.1', family: 4 });
    try {
      await expect(detectMode({})).resolves.toEqual({
        mode: 'connected',
        why: 'registry-1.docker.io and registry.terraform.io resolve',
        providers: 'registry',
      });
    } finally {
      vi.mocked(lookup).mockReset();
    }
  });
});
