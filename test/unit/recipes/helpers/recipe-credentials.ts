// What the renewer and the trust volume give a recipe: $CERT_DIR with
// root.crt, site.crt (leaf + intermediate), site.key, and $ROOT_PIN_FILE with
// the root's SHA-256, made from the in-process test PKI in a temp directory.
import { createHash, X509Certificate } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { type Leaf, makeTempDir, writeCredentials } from '../../../helpers/pki.js';

export interface RecipeFiles {
  /** The temp directory holding everything (stats files can go here too). */
  readonly dir: string;
  readonly certDir: string;
  readonly pinFile: string;
  remove(): Promise<void>;
}

export function rootPin(rootPem: string): string {
  return createHash('sha256').update(new X509Certificate(rootPem).raw).digest('hex');
}

export async function recipeFiles(name: string, rootPem: string, leaf: Leaf): Promise<RecipeFiles> {
  const temp = await makeTempDir(name);
  const certDir = join(temp.path, 'step');
  await mkdir(certDir);
  await writeCredentials(certDir, rootPem, leaf);
  const pinFile = join(temp.path, 'root-fingerprints');
  await writeFile(pinFile, `# the test root\n${rootPin(rootPem)}\n`);
  return { dir: temp.path, certDir, pinFile, remove: () => temp.remove() };
}
