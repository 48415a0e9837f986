// Every container runs unprivileged and hardened, and is labelled so scripts
// can find a stack's workloads.
import { Container } from '@cdktf/provider-docker/lib/container/index.js';
import { describe, expect, it } from 'vitest';

import { healthArgv } from '../../../scripts/lib/workloads/readiness.js';
import { LABEL } from '../../../stack/labels.js';
import { HEALTH_CHECK } from '../../../stack/technologies.js';
import { PROJECT } from '../../../stack/versions.js';
import { type DockerContainerJson, envOf, labelsOf, listOf, resourcesOf } from '../helpers/cdktf-matchers.js';
import { buildStack } from './fixtures.js';

const { json, raw, prefix, stack } = buildStack({ namePrefix: 'hard', caPort: 19000, hostPorts: { server: 18443 } });
const containers = listOf<DockerContainerJson>(json, Container);
const byName = (name: string): DockerContainerJson => {
  const c = containers.find((x) => x.name === name);
  if (!c) throw new Error(`no container named ${name}; have ${containers.map((x) => x.name).join(', ')}`);
  return c;
};

const EXPECTED_ROLES: Record<string, string> = {
  [`${prefix}-ca-init`]: 'ca-init',
  [`${prefix}-ca`]: 'ca',
  [`${prefix}-server`]: 'server',
  [`${prefix}-server-renewer`]: 'renewer',
  [`${prefix}-client`]: 'client',
  [`${prefix}-client-renewer`]: 'renewer',
};

describe('containers', () => {
  it('are the CA (and its init step), the server, the client and their renewers', () => {
    expect(containers.map((c) => c.name).sort()).toEqual(Object.keys(EXPECTED_ROLES).sort());
  });

  describe.each(Object.keys(EXPECTED_ROLES))('%s', (name) => {
    const c = byName(name);

    it('runs as the unprivileged user 1000:1000', () => {
      expect(c.user).toBe('1000:1000');
      expect(c.privileged ?? false).toBe(false);
    });

    it('drops all capabilities and cannot gain privileges', () => {
      expect(c.capabilities?.drop).toContain('ALL');
      expect(c.capabilities?.add ?? []).toEqual([]);
      expect(c.security_opts).toContain('no-new-privileges:true');
    });

    it('has a read-only root filesystem, a restart policy and an init process', () => {
      expect(c.read_only).toBe(true);
      expect(['always', 'unless-stopped', 'on-failure']).toContain(c.restart);
      expect(c.init).toBe(true);
    });

    it('is labelled with project, prefix and role', () => {
      expect(labelsOf(c)).toMatchObject({
        [LABEL.project]: PROJECT,
        [LABEL.prefix]: prefix,
        [LABEL.role]: EXPECTED_ROLES[name],
      });
    });

    it('is named under the prefix', () => {
      expect(c.name.startsWith(`${prefix}-`)).toBe(true);
    });

    it('publishes ports on 127.0.0.1 only', () => {
      for (const p of c.ports ?? []) expect(p.ip).toBe('127.0.0.1');
    });
  });

  it('publish exactly the CA (9000) and the server (8443), on the configured host ports', () => {
    const published = containers
      .filter((c) => (c.ports ?? []).length > 0)
      .map((c) => ({ name: c.name, ports: c.ports }))
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(published).toEqual([
      { name: `${prefix}-ca`, ports: [{ internal: 9000, external: 19000, ip: '127.0.0.1', protocol: 'tcp' }] },
      { name: `${prefix}-server`, ports: [{ internal: 8443, external: 18443, ip: '127.0.0.1', protocol: 'tcp' }] },
    ]);
    expect(stack.ca.hostCaUrl).toBe('https://127.0.0.1:19000');
  });

  it('default to host ports 9000 (CA) and 8443 (server)', () => {
    const d = buildStack({ namePrefix: 'dflt' });
    expect(d.raw).toHaveResourceWithProperties(Container, {
      name: 'dflt-ca',
      ports: [{ internal: 9000, external: 9000, ip: '127.0.0.1', protocol: 'tcp' }],
    });
    expect(d.raw).toHaveResourceWithProperties(Container, {
      name: 'dflt-server',
      ports: [{ internal: 8443, external: 8443, ip: '127.0.0.1', protocol: 'tcp' }],
    });
  });

  it('the matcher adapter fails on a property no container has', () => {
    expect(raw).not.toHaveResourceWithProperties(Container, { name: `${prefix}-ca`, user: 'root' });
    expect(raw).toHaveResourceWithProperties(Container, { name: `${prefix}-ca-init`, env: expect.arrayContaining(['DOCKER_STEPCA_INIT_ADDRESS=:9000']) });
  });

  it('renewers reach the CA at its mesh URL and share the workload cert volume', () => {
    const all = resourcesOf<DockerContainerJson>(json, Container);
    for (const w of ['server', 'client']) {
      const renewer = byName(`${prefix}-${w}-renewer`);
      const app = byName(`${prefix}-${w}`);
      expect(envOf(renewer)['CA_URL']).toBe(stack.ca.caUrl);
      expect(stack.ca.caUrl).toBe('https://ca.mesh.internal:9000');
      // The app mounts the certs read-only; only the renewer writes them.
      expect(app.volumes).toEqual([
        expect.objectContaining({ container_path: '/var/run/step', read_only: true }),
        expect.objectContaining({ container_path: '/var/run/mtls-trust', read_only: true }),
      ]);
      expect(renewer.volumes?.[0]?.volume_name).toBe(app.volumes?.[0]?.volume_name);
      expect(renewer.volumes?.[0]?.read_only ?? false).toBe(false);
    }
    expect(Object.keys(all)).toHaveLength(6);
  });
});

describe('health gating of apply', () => {
  it('apply waits on no health check, and every long-running container has one deploy can run itself', () => {
    type Health = { wait?: boolean; healthcheck?: { test: string[]; interval: string; timeout: string; start_period: string; retries: number } };
    // The provider's wait is Docker's first probe, a full interval after start; deploy probes at once (readiness.ts).
    expect(containers.filter((c) => (c as Health).wait === true).map((c) => c.name)).toEqual([]);
    const probed = containers.filter((c) => !c.name.endsWith('-ca-init'));
    expect(probed.map((c) => c.name).sort()).toEqual(
      Object.keys(EXPECTED_ROLES)
        .filter((n) => !n.endsWith('-ca-init'))
        .sort(),
    );
    for (const c of probed) {
      const h = (c as Health).healthcheck;
      expect(healthArgv(h?.test ?? []), c.name).toBeDefined();
      // Every 60 s: a Docker health exec costs ~40 ms of daemon CPU (HEALTH_CHECK in stack/technologies.ts).
      expect({ name: c.name, interval: h?.interval, timeout: h?.timeout, startPeriod: h?.start_period, retries: h?.retries }).toEqual({
        name: c.name,
        interval: HEALTH_CHECK.interval,
        timeout: HEALTH_CHECK.timeout,
        startPeriod: HEALTH_CHECK.startPeriod,
        retries: HEALTH_CHECK.retries,
      });
    }
    expect(HEALTH_CHECK).toEqual({ interval: '1m0s', timeout: '5s', startPeriod: '1m0s', retries: 3 });
  });

  it("each check is the one-line command of its container: the app's mtls-health, the renewer's state reader, the CA's entrypoint", () => {
    type Health = { healthcheck?: { test: string[] } };
    expect((byName(`${prefix}-server`) as Health).healthcheck?.test).toEqual(['CMD', '/usr/local/bin/mtls-health']);
    expect((byName(`${prefix}-server-renewer`) as Health).healthcheck?.test).toEqual(['CMD', '/usr/local/bin/mtls-renewer', 'health']);
    expect((byName(`${prefix}-ca`) as Health).healthcheck?.test).toEqual(['CMD', '/bin/bash', '/entrypoint.sh', 'health', 'https://127.0.0.1:9000']);
  });
});
