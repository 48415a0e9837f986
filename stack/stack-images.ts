import path from 'node:path';

import { Image } from '@cdktf/provider-docker/lib/image/index.js';
import type { Construct } from 'constructs';

import { ServiceImage } from './service-image.js';
import { baseImageBuildArgs, imageFolder, type ImageRecipe, projectImageName } from './technology.js';
import type { BaseImages } from './versions.js';

export interface StackImagesProps {
  readonly namePrefix: string;
  readonly projectDir: string;
  readonly baseImages: BaseImages;
  /** stackLabels: the Dockerfiles apply them. */
  readonly labels: Record<string, string>;
}

/**
 * The images of one stack, each made once however many workloads run it:
 * the project's own (built from a folder, `<prefix>-<folder>:local`) and
 * images the mesh names (used as they are).
 */
export class StackImages {
  private readonly built = new Map<string, string>();

  constructor(
    private readonly scope: Construct,
    private readonly props: StackImagesProps,
  ) {}

  /** The image id of a folder of the project, built from the stack's base images. */
  project(recipe: ImageRecipe): string {
    const dir = imageFolder(recipe);
    const existing = this.built.get(dir);
    if (existing) return existing;
    const folder = path.basename(dir);
    const contextDir = path.join(this.props.projectDir, recipe.contextDir);
    const buildArgs = baseImageBuildArgs(recipe, this.props.baseImages);
    // Construct ids are resource addresses: the CA's image keeps the id it had
    // before the mesh became data, so existing stacks plan no replacement.
    const id = folder === 'step-ca' ? 'ca-image' : `${folder}-image`;
    const image = new ServiceImage(this.scope, id, {
      name: projectImageName(this.props.namePrefix, recipe),
      contextDir,
      dockerfile: recipe.dockerfile,
      hashDirs: recipe.sources?.map((source) => path.join(contextDir, source)),
      buildArgs,
      labels: this.props.labels,
    });
    this.built.set(dir, image.imageId);
    return image.imageId;
  }

  /** An image the user names: pulled if missing, kept when the stack goes. */
  external(ref: string): string {
    const existing = this.built.get(ref);
    if (existing) return existing;
    const image = new Image(this.scope, `external-${ref.replace(/[^A-Za-z0-9]+/g, '-')}`, { name: ref, keepLocally: true });
    this.built.set(ref, image.imageId);
    return image.imageId;
  }
}
