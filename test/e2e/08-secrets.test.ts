import path from 'node:path';

import { beforeAll, describe, expect, inject, it } from 'vitest';
import { fs, glob } from 'zx';

import { stackDirs } from '../../scripts/lib/deploy/stack-instance.js';
import * as docker from '../../scripts/lib/docker/commands.js';
import { scanLayers } from '../../scripts/lib/docker/image-archive.js';
import { FILES } from '../../scripts/lib/workloads/handles.js';
import { imageFolder, TECHNOLOGIES, type TechnologyName } from '../../stack/technologies.js';
import { useSharedStack } from './helpers/fixtures.js';
import { withSavedImage } from './helpers/images.js';

const ctx = inject('e2e');
/** A PEM private key with a body, in any of the usual encodings. */
const PEM_KEY = /-----BEGIN (?:EC |RSA |ENCRYPTED |OPENSSH )?PRIVATE KEY-----\s*[A-Za-z0-9+/]/;

describe('secret hygiene', { timeout: 300_000 }, () => {
  const shared = useSharedStack();
  let passwords: string[];

  beforeAll(async () => {
    // Read inside the test process only, to search for them; never printed.
    passwords = await Promise.all(
      ['password', 'provisioner_password'].map(async (f) => (await docker.readFile(shared.stack.ca.container, `/home/step/secrets/${f}`))!.trim()),
    );
    for (const p of passwords) expect(p.length).toBeGreaterThanOrEqual(32);
  });

  const clean = (text: string, where: string) => {
    expect(PEM_KEY.test(text), `PEM private key in ${where}`).toBe(false);
    for (const p of passwords) expect(text.includes(p), `CA password in ${where}`).toBe(false);
  };

  it('keys in the volumes exist and are mode 0600', async () => {
    expect(shared.stack.workloads.map((w) => w.name).sort()).toEqual(ctx.outputs.workloads.map((w) => w.name).sort());
    expect(shared.stack.workloads.length).toBeGreaterThan(0);
    for (const w of shared.stack.workloads) {
      expect(await docker.fileMode(w.renewer, FILES.key), w.name).toBe('600');
      expect(PEM_KEY.test((await docker.readFile(w.renewer, FILES.key)) ?? ''), `${w.name} key is a PEM key`).toBe(true);
    }
    const secrets = await docker.exec(shared.stack.ca.container, ['sh', '-c', 'stat -c "%a %n" /home/step/secrets/*']);
    const lines = secrets.stdout.trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3); // intermediate key and two passwords; the root key is kept elsewhere (15-root-key)
    for (const line of lines) expect(line, line).toMatch(/^600 /);
  });

  it('the Terraform state holds no key and no password', async () => {
    const state = await fs.readFile(path.join(stackDirs(ctx.prefix).stateDir, 'terraform.tfstate'), 'utf8');
    expect(state).toContain(shared.stack.ca.container); // it is the real state
    clean(state, 'terraform state');
  });

  it('the host state dir holds the root and no key', async () => {
    const files = await glob('**/*', { cwd: stackDirs(ctx.prefix).stateDir, absolute: true, onlyFiles: true });
    expect(files.some((f) => f.endsWith('root_ca.crt'))).toBe(true);
    for (const f of files) clean(await fs.readFile(f, 'utf8'), f);
  });

  it('container logs hold no key and no password', async () => {
    const containers = await docker.listLabelled('container', ctx.prefix);
    // The CA and every app and renewer: an empty or partial list would make this test prove nothing.
    expect(containers).toEqual(expect.arrayContaining([shared.stack.ca.container, ...shared.stack.workloads.flatMap((w) => [w.container, w.renewer])]));
    expect(shared.stack.workloads.length).toBeGreaterThan(0);
    for (const c of containers) clean(await docker.logs(c), `logs of ${c}`);
  });

  it("the images the stack built hold none of the system's keys and no CA password", async () => {
    // Base OS libraries embed PEM test keys (libgnutls does), so a generic
    // PEM search would flag Debian itself: look for THIS system's secrets,
    // by the body of every key in the CA and workload volumes.
    const keyFiles = await docker.exec(shared.stack.ca.container, ['sh', '-c', 'cat /home/step/secrets/*_key']);
    const workloadKeys = await Promise.all(shared.stack.workloads.map((w) => docker.readFile(w.renewer, FILES.key)));
    const bodies = [keyFiles.stdout, ...workloadKeys.map((k) => k ?? '')].flatMap((pem) => pem.split('\n')).filter((line) => /^[A-Za-z0-9+/]{40,}$/.test(line));
    expect(bodies.length).toBeGreaterThanOrEqual(4);
    const images = await docker.listLabelled('image', ctx.prefix);
    // The CA's image and one per folder the mesh's technologies build from.
    const folders = new Set(ctx.outputs.workloads.map((w) => imageFolder(TECHNOLOGIES[w.technology as TechnologyName].image)));
    expect(images.length).toBe(folders.size + 1);
    // Every layer of the saved image (either docker save layout), streamed
    // and decompressed in this process; the needles never leave it.
    const needles = [...bodies, ...passwords];
    for (const image of images) {
      await withSavedImage(image, async (archive) => {
        const r = await scanLayers(archive, needles);
        expect(archive.layers.length, `layers of ${image}`).toBeGreaterThan(1);
        expect(r.bytes, `bytes scanned in ${image}`).toBeGreaterThan(10_000_000);
        expect(r.layersWithMatch.filter((n) => n > 0).length, `this system's keys or CA password in ${image}`).toBe(0);
      });
    }
  });
});
