// The base image of each Dockerfile: the toolchain's choice, where one the
// user set wins. The CDKTF app is handed these (toolchainEnv), and the
// Kubernetes target builds its images from the same ones, so the image a
// stack names is the image the deploy built.
import { describe, expect, it } from 'vitest';

import { effectiveBaseImages } from '../../../../scripts/lib/toolchain/index.js';
import { readSettings } from '../../../../settings.js';
import { LOCAL_IMAGES } from '../../../../stack/versions.js';

describe('effectiveBaseImages', () => {
  it("is the toolchain's choice, with each one the user set in its place", () => {
    const settings = readSettings({ MTLS_NODE_BASE_IMAGE: 'registry.example/node:mine' });
    expect(effectiveBaseImages({ baseImages: LOCAL_IMAGES }, settings)).toEqual({ ...LOCAL_IMAGES, node: 'registry.example/node:mine' });
    expect(effectiveBaseImages({ baseImages: LOCAL_IMAGES }, readSettings({}))).toEqual(LOCAL_IMAGES);
  });
});
