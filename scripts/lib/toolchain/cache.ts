import os from 'node:os';
import path from 'node:path';

import { readSetting } from '../../../settings.js';
import { PROJECT } from '../../../stack/versions.js';

/**
 * The one directory the project writes outside its checkout: built binaries,
 * the Terraform provider mirror, Go's module and build caches, the dockerd
 * log. Shared by every clone on the machine, so a fresh clone starts warm.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const dir = readSetting('cacheDir', env);
  if (dir) return path.resolve(dir);
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, PROJECT);
}

export const cachePaths = (root = cacheDir()) => ({
  root,
  bin: path.join(root, 'bin'),
  goModCache: path.join(root, 'go', 'mod'),
  goBuildCache: path.join(root, 'go', 'build'),
  terraformMirror: path.join(root, 'terraform', 'mirror'),
  terraformCliConfig: path.join(root, 'terraform', 'cli.tfrc'),
  terraformPluginCache: path.join(root, 'terraform', 'plugin-cache'),
  imageContexts: path.join(root, 'image-contexts'),
  dockerdLog: path.join(root, 'docker', 'dockerd.log'),
  dockerdPid: path.join(root, 'docker', 'dockerd.pid'),
  logs: path.join(root, 'logs'),
  /** What the last toolchain run resolved; read by the other scripts. */
  resolved: path.join(root, 'toolchain.json'),
});

export type CachePaths = ReturnType<typeof cachePaths>;
