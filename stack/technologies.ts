/**
 * What the stack knows about each technology a workload can run: where its
 * image is built from, how it is started and health-checked, which roles it
 * can play, which protocol it speaks and which certificate field it checks
 * for identity. The mesh file names a technology per workload; nothing here
 * knows about a particular workload.
 */
import type { BaseImageKey } from './versions.js';

export type WorkloadRole = 'server' | 'client' | 'both';
/** The certificate field a technology authorises by: the SAN URI (SPIFFE ID), or the DNS name (SAN DNS, or the CN that equals it). */
export type IdentityForm = 'uri' | 'dns';
export type Protocol = 'https' | 'postgres';

/** One image the stack builds: a folder of the project with a Dockerfile whose base images are build args. */
export interface ImageRecipe {
  /** Build context, relative to the project root. */
  readonly contextDir: string;
  /** Build arg name -> base image key (official or stand-in, chosen by the toolchain). */
  readonly baseImageArgs: Readonly<Record<string, BaseImageKey>>;
}

/** What a technology's process needs from its container beyond the common hardening. */
export interface Technology {
  /** Shown by status and the README: `nginx`, `Go`, … */
  readonly label: string;
  readonly image: ImageRecipe;
  readonly roles: readonly WorkloadRole[];
  readonly protocol: Protocol;
  readonly identityForm: IdentityForm;
  /** The container's command for a role. @default the image's own */
  readonly command?: (role: WorkloadRole) => string[];
  /** The Docker health check command. */
  readonly health: readonly string[];
  /** Writable paths besides /tmp: tmpfs mounts (path -> options). @default none */
  readonly tmpfs?: Readonly<Record<string, string>>;
  /** A named volume per workload for its data (path in the container). @default none */
  readonly dataPath?: string;
  /** @default 192 */
  readonly memoryMb?: number;
  /** How the process reports itself: the Node admin port, or the recipe stats file. */
  readonly stats: 'node-admin' | 'stats-file';
}

const NODE_IMAGE: ImageRecipe = { contextDir: 'services/workload', baseImageArgs: { NODE_IMAGE: 'node' } };
const nodeHealth = ['CMD', 'node', '/app/probe.mjs', 'health'];
const recipeHealth = ['CMD', '/usr/local/bin/mtls-health'];

export const TECHNOLOGIES = {
  'node-server': {
    label: 'Node.js', image: NODE_IMAGE, roles: ['server'], protocol: 'https', identityForm: 'uri',
    command: () => ['node', '/app/server.mjs'], health: nodeHealth, stats: 'node-admin',
  },
  'node-client': {
    label: 'Node.js', image: NODE_IMAGE, roles: ['client'], protocol: 'https', identityForm: 'uri',
    command: () => ['node', '/app/client.mjs'], health: nodeHealth, stats: 'node-admin',
  },
  nginx: {
    label: 'nginx', image: { contextDir: 'recipes/nginx', baseImageArgs: { NGINX_IMAGE: 'nginx' } },
    roles: ['server', 'both'], protocol: 'https', identityForm: 'dns', health: recipeHealth, stats: 'stats-file', memoryMb: 64,
  },
  curl: {
    label: 'curl', image: { contextDir: 'recipes/curl', baseImageArgs: { CURL_IMAGE: 'curl' } },
    roles: ['client'], protocol: 'https', identityForm: 'dns', health: recipeHealth, stats: 'stats-file', memoryMb: 32,
  },
  'go-server': {
    label: 'Go', image: { contextDir: 'recipes/go', baseImageArgs: { GOLANG_IMAGE: 'golang', RUNTIME_IMAGE: 'debian' } },
    roles: ['server'], protocol: 'https', identityForm: 'uri', command: () => ['/usr/local/bin/mtls-go', 'server'],
    health: recipeHealth, stats: 'stats-file', memoryMb: 64,
  },
  'go-client': {
    label: 'Go', image: { contextDir: 'recipes/go', baseImageArgs: { GOLANG_IMAGE: 'golang', RUNTIME_IMAGE: 'debian' } },
    roles: ['client'], protocol: 'https', identityForm: 'uri', command: () => ['/usr/local/bin/mtls-go', 'client'],
    health: recipeHealth, stats: 'stats-file', memoryMb: 64,
  },
  'python-server': {
    label: 'Python', image: { contextDir: 'recipes/python', baseImageArgs: { PYTHON_IMAGE: 'python' } },
    roles: ['server'], protocol: 'https', identityForm: 'uri', command: () => ['python3', '-u', '/app/server.py'],
    health: recipeHealth, stats: 'stats-file', memoryMb: 96,
  },
  'python-client': {
    label: 'Python', image: { contextDir: 'recipes/python', baseImageArgs: { PYTHON_IMAGE: 'python' } },
    roles: ['client'], protocol: 'https', identityForm: 'uri', command: () => ['python3', '-u', '/app/client.py'],
    health: recipeHealth, stats: 'stats-file', memoryMb: 96,
  },
  postgres: {
    label: 'PostgreSQL', image: { contextDir: 'recipes/postgres', baseImageArgs: { POSTGRES_IMAGE: 'postgres' } },
    roles: ['server'], protocol: 'postgres', identityForm: 'dns', health: recipeHealth, stats: 'stats-file', memoryMb: 256,
    tmpfs: { '/var/run/postgresql': 'rw,noexec,nosuid,nodev,size=1m,uid=1000,gid=1000' },
    dataPath: '/var/lib/postgresql/data',
  },
  psql: {
    label: 'psql', image: { contextDir: 'recipes/psql', baseImageArgs: { POSTGRES_IMAGE: 'postgres' } },
    roles: ['client'], protocol: 'postgres', identityForm: 'dns', health: recipeHealth, stats: 'stats-file', memoryMb: 64,
    // The postgres image declares VOLUME /var/lib/postgresql/data: a tmpfs keeps
    // Docker from making an anonymous volume for a client that stores nothing.
    tmpfs: { '/var/lib/postgresql/data': 'rw,noexec,nosuid,nodev,size=64k,uid=1000,gid=1000' },
  },
} as const satisfies Record<string, Technology>;

export type TechnologyName = keyof typeof TECHNOLOGIES;
export const TECHNOLOGY_NAMES = Object.keys(TECHNOLOGIES) as TechnologyName[];

export function technology(name: TechnologyName): Technology {
  return TECHNOLOGIES[name];
}
