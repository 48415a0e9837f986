// What the stack was built from, checked on the real images and containers:
// the CA's base image (official smallstep/step-ca, or the stand-in for it)
// gives step-ca the upstream file capability; the CA image the stack built
// has it removed, and the CA container runs with every capability dropped.
// In connected mode the bases came from a registry under their official
// names; workloads run the Node LTS either way.
import { describe, expect, inject, it } from 'vitest';
import { $ } from 'zx';

import * as docker from '../../scripts/lib/docker/commands.js';
import { finalEntry } from '../../scripts/lib/docker/image-archive.js';
import { TECHNOLOGIES, type Technology } from '../../stack/technologies.js';
import { NODE_IMAGE } from '../../stack/technology.js';
import { LOCAL_IMAGES, NODE_RUNTIME, OFFICIAL_IMAGES } from '../../stack/versions.js';
import { useSharedStack } from './helpers/fixtures.js';
import { withSavedImage } from './helpers/images.js';

const ctx = inject('e2e');
const STEP_CA = '/usr/local/bin/step-ca';
const CAP_NET_BIND_SERVICE = 10;
const inspect = $({ quiet: true, timeout: '30s' });

/** Permitted capability bits of a security.capability xattr (vfs_cap_data, little endian). */
function permittedCaps(xattr: Buffer): number {
  return xattr.readUInt32LE(4);
}

async function stepCaCapability(image: string): Promise<Buffer | undefined> {
  return withSavedImage(image, async (archive) => {
    const entry = await finalEntry(archive, STEP_CA);
    expect(entry, `${STEP_CA} in ${image}`).toBeDefined();
    expect(entry!.size, `${STEP_CA} in ${image} is the binary`).toBeGreaterThan(10_000_000);
    return entry!.xattrs['security.capability'];
  });
}

describe('base images and the CA under cap_drop ALL', { timeout: 300_000 }, () => {
  const shared = useSharedStack();

  it('the bases are the official names when connected, the local stand-ins offline', () => {
    expect(ctx.baseImages).toEqual(ctx.mode === 'connected' ? OFFICIAL_IMAGES : LOCAL_IMAGES);
  });

  it('connected: each base was pulled by its official name; offline: built by the toolchain', async () => {
    for (const ref of Object.values(ctx.baseImages)) {
      const out = await inspect`docker image inspect --format ${'{{json .RepoDigests}} {{json .Config.Labels}}'} ${ref}`;
      const [digests, labels] = out.stdout
        .trim()
        .split(' ')
        .map((j) => JSON.parse(j) as unknown) as [string[] | null, Record<string, string> | null];
      if (ctx.mode === 'connected') {
        // Only a pull by that name records <name>@sha256:… (a build, tag or push to another name does not).
        const repo = ref.slice(0, ref.lastIndexOf(':'));
        expect(digests ?? [], ref).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${repo}@sha256:[0-9a-f]{64}$`))]));
      } else {
        // A stand-in carries the toolchain's inputs label; the Debian base (imported by
        // mmdebstrap, no Dockerfile) carries the title the import gave it.
        const byToolchain = /^[0-9a-f]{16}$/.test(labels?.['io.mtls-reference.inputs'] ?? '') || labels?.['org.opencontainers.image.title'] === ref;
        expect(byToolchain, `${ref} was built or imported by the toolchain: ${JSON.stringify(labels)}`).toBe(true);
      }
    }
  });

  it('the CA base image gives step-ca the upstream file capability cap_net_bind_service', async () => {
    const cap = await stepCaCapability(ctx.baseImages.stepCa);
    expect(cap, `security.capability of ${STEP_CA} in ${ctx.baseImages.stepCa}`).toBeDefined();
    expect(permittedCaps(cap!) & (1 << CAP_NET_BIND_SERVICE)).not.toBe(0);
  });

  it('the CA image the stack built has no file capability on step-ca', async () => {
    const images = await docker.listLabelled('image', ctx.prefix);
    const caImage = images.find((i) => i.startsWith(`${ctx.prefix}-step-ca:`));
    expect(caImage, `CA image among ${images.join(', ')}`).toBeDefined();
    expect(await stepCaCapability(caImage!)).toBeUndefined();
  });

  it('the CA container runs step-ca with every capability dropped, no new privileges, uid 1000', async () => {
    const out =
      await inspect`docker inspect --format ${'{{json .HostConfig.CapDrop}} {{json .HostConfig.SecurityOpt}} {{.Config.User}} {{.State.Running}} {{.RestartCount}}'} ${shared.stack.ca.container}`;
    const [capDrop, securityOpt, user, running, restarts] = out.stdout.trim().split(' ');
    expect(JSON.parse(capDrop!)).toEqual(['ALL']);
    expect(JSON.parse(securityOpt!)).toContain('no-new-privileges:true');
    expect(user).toBe('1000:1000');
    expect(running).toBe('true');
    expect(restarts).toBe('0');
    // The process itself: step-ca, with an empty effective and bounding set.
    const status = await docker.execOk(shared.stack.ca.container, [
      'sh',
      '-c',
      'for p in /proc/[0-9]*; do if [ "$(cat $p/comm)" = step-ca ]; then grep -E "^Cap(Eff|Bnd)" $p/status; fi; done',
    ]);
    expect(status.trim().split('\n').sort()).toEqual(['CapBnd:\t0000000000000000', 'CapEff:\t0000000000000000']);
  });

  it(`the Node workloads run Node ${NODE_RUNTIME.version}, the pinned release`, async () => {
    // Every technology built on the project's Node image (the reference pair, Express, axios), not node_exporter.
    const node = shared.stack.workloads.filter((w) => (TECHNOLOGIES as Record<string, Technology>)[w.technology]?.image === NODE_IMAGE);
    expect(node.length).toBeGreaterThanOrEqual(2);
    expect(node.map((w) => w.technology)).toEqual(expect.arrayContaining(['node-server', 'node-client']));
    for (const w of node) {
      expect((await docker.execOk(w.container, ['node', '--version'])).trim(), w.name).toBe(`v${NODE_RUNTIME.version}`);
    }
  });
});
