// Builds an MtlsStack the way main.ts does, without importing main.ts (which
// reads the environment and calls app.synth()).
import path from 'node:path';
import { Testing } from 'cdktf';
import { MtlsStack, type MtlsStackProps } from '../../../stack/mtls-stack.js';
import { synthesize, type Synthesized } from '../helpers/cdktf-matchers.js';

/** The repository root: ServiceImage hashes services/step-ca and services/workload under it. */
export const PROJECT_DIR = path.resolve(import.meta.dirname, '../../..');

export const STEP_CA_BASE = 'registry.example/step-ca:test-base';
export const NODE_BASE = 'registry.example/node:test-base';

export interface Built extends Synthesized {
  readonly stack: MtlsStack;
  readonly prefix: string;
}

export function baseProps(overrides: Partial<MtlsStackProps> = {}): MtlsStackProps {
  return {
    namePrefix: 'utest',
    projectDir: PROJECT_DIR,
    stepCaBaseImage: STEP_CA_BASE,
    nodeBaseImage: NODE_BASE,
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
