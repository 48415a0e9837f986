import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { Construct } from 'constructs';

export interface ServiceImageProps {
  /** Image name, including the stack prefix so two stacks never share one. */
  readonly name: string;
  /** Absolute path of the build context (a folder under services/). */
  readonly contextDir: string;
  /** @default 'Dockerfile' */
  readonly dockerfile?: string;
  /** Base images and other build args (official images or locally built ones). */
  readonly buildArgs?: Record<string, string>;
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
    this.contentHash = hashTree(props.contextDir);
    const image = new Image(this, 'image', {
      name: props.name,
      keepLocally: false,
      buildAttribute: {
        context: props.contextDir,
        dockerfile: props.dockerfile ?? 'Dockerfile',
        buildArgs: props.buildArgs,
        label: { ...props.labels, 'io.mtls-reference.content-hash': this.contentHash },
        // Intermediate containers of a failed build are not left behind.
        forceRemove: true,
        remove: true,
      },
      triggers: { contentHash: this.contentHash, ...props.buildArgs },
    });
    this.imageId = image.imageId;
  }
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
