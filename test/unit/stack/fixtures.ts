// Builds an MtlsStack the way main.ts does, without importing main.ts (which
// reads the environment and calls app.synth()).
import path from 'node:path';

import { Testing } from 'cdktf';

import type { MeshSpec } from '../../../stack/mesh-spec.js';
import { MtlsStack, type MtlsStackProps } from '../../../stack/mtls-stack.js';
import { BASE_IMAGE_KEYS, type BaseImages } from '../../../stack/versions.js';
import { synthesize, type Synthesized } from '../helpers/cdktf-matchers.js';

/** The repository root: ServiceImage hashes images/step-ca and services/workload under it. */
export const PROJECT_DIR = path.resolve(import.meta.dirname, '../../..');

export const STEP_CA_BASE = 'registry.example/stepCa:test-base';
export const NODE_BASE = 'registry.example/node:test-base';
/** A distinct stand-in name per base image, so a test can tell which one a build got. */
export const BASE_IMAGES = Object.fromEntries(BASE_IMAGE_KEYS.map((k) => [k, `registry.example/${k}:test-base`])) as unknown as BaseImages;

/** The Node reference pair alone, with one operator identity: what most stack tests need. */
export const NODE_PAIR: MeshSpec = {
  domain: 'mesh.internal',
  operators: ['ops'],
  workloads: [
    { name: 'server', runs: 'node-server', role: 'server', port: 8443, hostPort: 8443, allow: ['client', 'ops'] },
    { name: 'client', runs: 'node-client', role: 'client', calls: 'server' },
  ],
};

export interface Built extends Synthesized {
  readonly stack: MtlsStack;
  readonly prefix: string;
}

export function baseProps(overrides: Partial<MtlsStackProps> = {}): MtlsStackProps {
  return {
    namePrefix: 'utest',
    projectDir: PROJECT_DIR,
    mesh: NODE_PAIR,
    baseImages: BASE_IMAGES,
    ...overrides,
  };
}

/** A fresh app and stack (stack id = prefix, as in main.ts), synthesized. */
export function buildStack(overrides: Partial<MtlsStackProps> = {}, stackId?: string): Built {
  const props = baseProps(overrides);
  const stack = new MtlsStack(Testing.app(), stackId ?? props.namePrefix, props);
  return { stack, prefix: props.namePrefix, ...synthesize(stack) };
}

/** `${docker_network.mesh_A3114631.name}` -> `mesh_A3114631`. */
export function referencedId(expr: string, type: string): string | undefined {
  return new RegExp(`^\\$\\{${type}\\.([^.}]+)\\.[a-z_]+\\}$`).exec(expr)?.[1];
}
