import path from 'node:path';

import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import { Construct } from 'constructs';

import { contentHash } from './content-hash.js';
import { labelArgs } from './labels.js';

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
    this.contentHash = contentHash(props.contextDir, props.hashDirs);
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
