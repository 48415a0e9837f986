import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { Construct } from 'constructs';

import { LABEL } from './labels.js';

export interface ServiceImageProps {
  /** Image name, including the stack prefix so two stacks never share one. */
  readonly name: string;
  /** Absolute path of the build context (a folder of the project). */
  readonly contextDir: string;
  /** Relative to contextDir. @default 'Dockerfile' */
  readonly dockerfile?: string;
  /** Absolute folders inside the context that the image is made from: their contents are the content hash. @default [contextDir] */
  readonly hashDirs?: readonly string[];
  /** Base images and other build args (official images or locally built ones). */
  readonly buildArgs?: Record<string, string>;
  /** Project and prefix labels (stackLabels); the Dockerfile applies them. */
  readonly labels?: Record<string, string>;
}

/**
 * A docker_image built from one of the project's Dockerfiles. A content hash
 * of the build context is a trigger, so editing a service rebuilds its image
 * on the next deploy and an unchanged tree plans no change.
 */
export class ServiceImage extends Construct {
  public readonly imageId: string;
  public readonly name: string;
  public readonly contentHash: string;

  constructor(scope: Construct, id: string, props: ServiceImageProps) {
    super(scope, id);
    if (!path.isAbsolute(props.contextDir)) throw new Error(`contextDir must be absolute, got "${props.contextDir}"`);
    this.name = props.name;
    this.contentHash = props.hashDirs ? hashTrees(props.contextDir, props.hashDirs) : hashTree(props.contextDir);
    const buildArgs = { ...props.buildArgs, ...labelArgs(props.labels ?? {}), MTLS_CONTENT_HASH: this.contentHash };
    const image = new Image(this, 'image', {
      name: props.name,
      keepLocally: false,
      buildAttribute: {
        context: props.contextDir,
        dockerfile: props.dockerfile ?? 'Dockerfile',
        buildArgs,
        // Intermediate containers of a failed build are not left behind.
        forceRemove: true,
        remove: true,
      },
      triggers: { contentHash: this.contentHash, ...props.buildArgs },
    });
    this.imageId = image.imageId;
  }
}

/**
 * The Dockerfiles turn these build args into LABELs: the provider's classic
 * builder drops build labels, and leftovers must be findable by label.
 */
function labelArgs(labels: Record<string, string>): Record<string, string> {
  return {
    MTLS_PROJECT: labels[LABEL.project] ?? '',
    MTLS_PREFIX: labels[LABEL.prefix] ?? '',
  };
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
