import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { $ } from 'zx';

import { type ImageArchive, openImageArchive } from '../../../scripts/lib/docker/image-archive.js';

/** `docker save`s an image to a temporary file, opens it, removes it after. */
export async function withSavedImage<T>(image: string, use: (archive: ImageArchive) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mtls-image-'));
  try {
    const file = path.join(dir, 'image.tar');
    await $({ quiet: true, timeout: '180s' })`docker save -o ${file} ${image}`;
    return await use(await openImageArchive(file));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
