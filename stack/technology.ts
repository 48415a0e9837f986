/**
 * What a technology is to the stack: the types every technology entry
 * (stack/technologies.ts) fills in, the image recipes they share, and the
 * health-check schedule of every container.
 */
import path from 'node:path';

import type { BaseImageKey, BaseImages } from './versions.js';

export type WorkloadRole = 'server' | 'client' | 'both';
/** The certificate field a technology authorises by: the SAN URI (SPIFFE ID), or the DNS name (SAN DNS, or the CN that equals it). */
export type IdentityForm = 'uri' | 'dns';
/** What a server speaks: the e2e callers, the mesh file's check and openssl's lines all read this one list. */
export const PROTOCOLS = ['https', 'postgres', 'mysql', 'redis', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
/** The protocols whose TLS starts inside the protocol (STARTTLS), by openssl s_client's `-starttls` name; the rest speak TLS from the first byte. */
export const STARTTLS: Readonly<Partial<Record<Protocol, string>>> = { postgres: 'postgres', mysql: 'mysql' };

/** One image the stack builds: a folder of the project with a Dockerfile whose base images are build args. */
export interface ImageRecipe {
  /** Build context, relative to the project root. */
  readonly contextDir: string;
  /** The Dockerfile, relative to contextDir; its folder names the image (imageFolder). @default 'Dockerfile' */
  readonly dockerfile?: string;
  /** The folders of the context the image is made from, relative to it: a change in one rebuilds the image. @default the whole context */
  readonly sources?: readonly string[];
  /** Build arg name -> base image key (official or stand-in, chosen by the toolchain). */
  readonly baseImageArgs: Readonly<Record<string, BaseImageKey>>;
  /** Its build reads the module tree the toolchain fills from the Go module proxy (scripts/lib/toolchain/go-recipe-modules.ts). */
  readonly goModuleTree?: boolean;
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
  /**
   * Where the certificate the app serves comes from. With 'acme' the app
   * obtains it itself from the CA's ACME provisioner (its DNS name only);
   * the renewer still enrols and keeps root.crt, the trust the app verifies
   * callers with, through every root rotation. @default 'renewer'
   */
  readonly servedCertificate?: 'renewer' | 'acme';
}

/** The build args that name a recipe's base images, as the toolchain chose them (official or stand-in). */
export function baseImageBuildArgs(recipe: ImageRecipe, baseImages: BaseImages): Record<string, string> {
  return Object.fromEntries(Object.entries(recipe.baseImageArgs).map(([arg, key]) => [arg, baseImages[key]]));
}

/** The repository a stack gives one of the project's images: `<prefix>-<folder>` (the same on both targets). */
export function projectImageRepository(prefix: string, recipe: ImageRecipe): string {
  return `${prefix}-${path.posix.basename(imageFolder(recipe))}`;
}

/** The name the Docker stack gives one of the project's images: `<prefix>-<folder>:local` (a content-hash trigger rebuilds it). */
export function projectImageName(prefix: string, recipe: ImageRecipe): string {
  return `${projectImageRepository(prefix, recipe)}:local`;
}

/** The folder of an image's Dockerfile, relative to the project root: one image per folder, named after it. */
export function imageFolder(recipe: ImageRecipe): string {
  return path.posix.join(recipe.contextDir, path.posix.dirname(recipe.dockerfile ?? 'Dockerfile'));
}

export const NODE_IMAGE: ImageRecipe = { contextDir: 'services/workload', baseImageArgs: { NODE_IMAGE: 'node' } };
/** The step image: step-ca itself, its init and rotation jobs, and every workload's renewer. */
export const STEP_CA_IMAGE: ImageRecipe = {
  contextDir: '.',
  dockerfile: 'images/step-ca/Dockerfile',
  sources: ['images/step-ca', 'recipes/lib'],
  baseImageArgs: { STEP_CA_IMAGE: 'stepCa' },
};
/**
 * The shell recipes (nginx, curl, PostgreSQL, psql) copy the one trust-file
 * tool they share (recipes/lib/mtls-trust) into their images, so they build
 * with recipes/ as the context and their own folder's Dockerfile.
 */
export function shellRecipe(folder: string, baseImageArgs: ImageRecipe['baseImageArgs']): ImageRecipe {
  return { contextDir: 'recipes', dockerfile: `${folder}/Dockerfile`, sources: [folder, 'lib'], baseImageArgs };
}
/**
 * Every technology's check is `/usr/local/bin/mtls-health` in its image: bash
 * reading state the process already keeps (a stats file, or the Node admin
 * port's /healthz), one line in the stack's vocabulary (ready / waiting /
 * starting / unhealthy), bounded well inside HEALTH_CHECK.timeout.
 */
export const mtlsHealth = ['CMD', '/usr/local/bin/mtls-health'];

/**
 * Docker's schedule for every health check of the stack: apps, renewers and
 * the CA. Deploy and enrollment do not wait on it (they run each container's
 * check themselves, scripts/lib/workloads/readiness.ts), so the interval only sets how
 * soon Docker's own status notices a failure, and its cost is paid by every
 * container, all the time.
 *
 * Measured on a 2-core Docker 20.10 host: one health exec costs about 40 ms of
 * CPU in dockerd, containerd, the shim and runc, whatever the check runs (20
 * containers checking `true` every second: 1 114 execs in 60 s took 37-44 ms
 * each over the same containers without a check). The checks themselves cost
 * ~4 ms (bash reading state). The default mesh has 21 checks (the CA, 10 apps,
 * 10 renewers): every 5 s that is 21/5 × ~44 ms ≈ 18 % of a core; every 30 s
 * ≈ 3 % (bench B10 read 4.8 % for the engine's processes in all); every 60 s
 * ≈ 1.5 %, which leaves the rest of the 5 % budget for the stack at rest to
 * the renewers, the CA and the servers. Docker then calls a container
 * unhealthy within 3 minutes of its first failed check. The timeout is far
 * above the checks' own bounds (2-3 s), so one never outlives it. Durations
 * are written as the provider reads them back from Docker (Go's `1m0s`), or
 * every plan would show them changed.
 */
export const HEALTH_CHECK = { interval: '1m0s', timeout: '5s', startPeriod: '1m0s', retries: 3 } as const;
