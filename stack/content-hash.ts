/**
 * What an image is made from, hashed: the files of the folders it is built
 * from, in a stable order. The Docker stack's images rebuild when it changes
 * (service-image.ts); the Kubernetes target tags its images with it.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** What an image is made from, hashed: the folders of its context it names, or the whole context. */
export function contentHash(contextDir: string, hashDirs?: readonly string[]): string {
  return hashDirs ? hashTrees(contextDir, hashDirs) : hashTree(contextDir);
}

/** One hash over several folders of a context: each folder's path in it and its hashTree. */
export function hashTrees(contextDir: string, dirs: readonly string[]): string {
  const h = createHash('sha256');
  for (const dir of [...dirs].sort()) {
    if (!statSync(dir).isDirectory()) throw new Error(`hashDirs: "${dir}" is not a folder`);
    h.update(path.relative(contextDir, dir)).update('\0').update(hashTree(dir)).update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

/** sha256 over relative paths and contents, in a stable order. */
export function hashTree(dir: string): string {
  const h = createHash('sha256');
  const walk = (rel: string) => {
    for (const entry of readdirSync(path.join(dir, rel)).sort()) {
      const relPath = path.join(rel, entry);
      const abs = path.join(dir, relPath);
      if (statSync(abs).isDirectory()) walk(relPath);
      else h.update(relPath).update('\0').update(readFileSync(abs)).update('\0');
    }
  };
  walk('');
  return h.digest('hex').slice(0, 16);
}
