/**
 * The pure half of the registry mirror that stands in for Docker Hub when
 * the connected path is tested: which names it serves, where, and the edits
 * it makes to the engine's daemon.json (additive, and undone exactly).
 */
import { BASE_IMAGE_KEYS, LOCAL_IMAGES, OFFICIAL_IMAGES } from '../../../stack/versions.js';

/** Loopback only: the mirror is never reachable from another host. */
export const MIRROR_HOST = '127.0.0.1';
export const DEFAULT_MIRROR_PORT = 5000;

export const mirrorUrl = (port: number) => `http://${MIRROR_HOST}:${port}`;

/** Each official image and the local stand-in published under its name. */
export const SERVED_IMAGES = BASE_IMAGE_KEYS.map((k) => ({ official: OFFICIAL_IMAGES[k], standIn: LOCAL_IMAGES[k] }));

/**
 * The repository path and tag a Docker Hub name has on a registry: official
 * images live under library/ (`node:24` → `library/node`, tag `24`).
 */
export function registryPath(ref: string): { repository: string; tag: string } {
  const at = ref.lastIndexOf(':');
  const slash = ref.lastIndexOf('/');
  const [name, tag] = at > slash ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, 'latest'];
  if (/^[^/]+\.[^/]+\//.test(name) || name.startsWith('localhost/')) throw new Error(`${ref} names a registry; only Docker Hub names are mirrored`);
  if (!/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(name) || !/^[\w][\w.-]{0,127}$/.test(tag)) {
    throw new Error(`"${ref}" is not a valid image reference`);
  }
  return { repository: name.includes('/') ? name : `library/${name}`, tag };
}

/**
 * distribution's configuration: filesystem storage, loopback listener, no
 * auth. `readOnly` (maintenance mode) registers no write method: every push
 * and delete answers 405 (`Allow: GET, HEAD`). With no auth on loopback,
 * that is what keeps another local user from replacing an image the engine
 * will pull; only seeding runs without it.
 */
export function registryConfig(opts: { port: number; storageDir: string; readOnly: boolean }): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(opts.storageDir)}`,
    '  maintenance:',
    '    readonly:',
    `      enabled: ${opts.readOnly}`,
    'http:',
    `  addr: ${MIRROR_HOST}:${opts.port}`,
    '',
  ].join('\n');
}

export type DaemonConfig = Record<string, unknown> & { 'registry-mirrors'?: string[] };

/** Adds the mirror to daemon.json's registry-mirrors, keeping every other setting. */
export function withMirror(config: DaemonConfig, url: string): DaemonConfig {
  const mirrors = Array.isArray(config['registry-mirrors']) ? config['registry-mirrors'] : [];
  if (mirrors.includes(url)) return config;
  return { ...config, 'registry-mirrors': [...mirrors, url] };
}

/**
 * Removes only what withMirror added. The list stays, even empty: dockerd's
 * reload only touches registry-mirrors when the file sets it, so an absent
 * key would leave the mirror in the running engine.
 */
export function withoutMirror(config: DaemonConfig, url: string): DaemonConfig {
  const mirrors = Array.isArray(config['registry-mirrors']) ? config['registry-mirrors'] : undefined;
  // No list in the file (say, deleted by hand) while the engine may still use the mirror: set an empty one.
  if (!mirrors) return { ...config, 'registry-mirrors': [] };
  if (!mirrors.includes(url)) return config;
  return { ...config, 'registry-mirrors': mirrors.filter((m) => m !== url) };
}

/** True when nothing but an empty mirror list is left (the file can go once the engine has reloaded). */
export function isEmptyConfig(config: DaemonConfig): boolean {
  const keys = Object.keys(config);
  return keys.every((k) => k === 'registry-mirrors' && Array.isArray(config[k]) && config[k].length === 0);
}

/** Parses daemon.json text; an absent file is an empty config, anything but an object is refused. */
export function parseDaemonConfig(text: string | undefined, file: string): DaemonConfig {
  if (text === undefined || text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not valid JSON (${(err as Error).message}); fix it before adding a registry mirror`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${file} is not a JSON object`);
  return parsed as DaemonConfig;
}
