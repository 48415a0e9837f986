import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fs } from 'zx';

import { KUBELET_TUNABLES, restoreTunables, savedTunables, saveTunables } from '../../../../scripts/lib/kubernetes/host-state.js';
import { clusterLayout } from '../../../../scripts/lib/kubernetes/layout.js';

describe('the kernel tunables the kubelet sets', () => {
  let root: string;
  let procSys: string;
  const set = (key: string, value: string) => writeFile(path.join(procSys, key), `${value}\n`);
  const get = async (key: string) => (await readFile(path.join(procSys, key), 'utf8')).trim();

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'k8s-tunables-'));
    procSys = path.join(root, 'proc-sys');
    for (const key of KUBELET_TUNABLES) {
      await fs.mkdirp(path.dirname(path.join(procSys, key)));
      await set(key, '0');
    }
  });
  afterEach(async () => rm(root, { recursive: true, force: true }));

  it('are written back as the host had them before the first kubelet start, once', async () => {
    const layout = clusterLayout({ root });
    await saveTunables(layout, procSys);
    await set('kernel/panic', '10');
    await set('vm/overcommit_memory', '1');
    // A second `up` while the kubelet's values are in place must not record those.
    await saveTunables(layout, procSys);
    expect((await restoreTunables(layout, procSys)).sort()).toEqual(['kernel/panic', 'vm/overcommit_memory']);
    expect(await get('kernel/panic')).toBe('0');
    expect(await get('vm/overcommit_memory')).toBe('0');
    expect(await restoreTunables(layout, procSys)).toEqual([]);
  });

  it("are read as recorded while the cluster is up (the kubelet's values are in /proc/sys then), and not at all once it is down", async () => {
    const layout = clusterLayout({ root });
    expect(await savedTunables(layout)).toBeUndefined();
    await saveTunables(layout, procSys);
    await set('kernel/panic', '10');
    const recorded = await savedTunables(layout);
    expect(recorded?.['kernel/panic']).toBe('0');
    expect(Object.keys(recorded ?? {}).sort()).toEqual([...KUBELET_TUNABLES].sort());
    await restoreTunables(layout, procSys);
    expect(await savedTunables(layout)).toBeUndefined();
  });
});
