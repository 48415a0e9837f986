// A small vitest adapter over cdktf's testing matchers, plus typed accessors
// for the synthesized JSON. Keys are snake_case, as Terraform sees them.
//
//   import { synthesize, expectResource } from './cdktf-matchers.js';
//   expect(synth.raw).toHaveResourceWithProperties(Volume, { name: 'x-ca' });
//
// Importing this module registers the matchers on vitest's `expect`.
import { type TerraformStack, Testing } from 'cdktf';
import { getToHaveProviderWithProperties, getToHaveResourceWithProperties, type TerraformConstructor } from 'cdktf/lib/testing/matchers.js';
import { expect } from 'vitest';

type Props = Record<string, unknown>;

interface AsymmetricLike {
  asymmetricMatch(other: unknown): boolean;
}
const isAsymmetric = (v: unknown): v is AsymmetricLike =>
  typeof v === 'object' && v !== null && typeof (v as Partial<AsymmetricLike>).asymmetricMatch === 'function';

/**
 * Partial deep match: every expected key must match, extra received keys are
 * fine, arrays match element by element (same length) and vitest asymmetric
 * matchers (`expect.stringContaining`, `expect.arrayContaining`, …) work at
 * any depth. cdktf's default evaluation ignores asymmetric matchers.
 */
export function matchesPartially(expected: unknown, received: unknown): boolean {
  if (isAsymmetric(expected)) return expected.asymmetricMatch(received);
  if (Array.isArray(expected)) {
    return Array.isArray(received) && expected.length === received.length && expected.every((e, i) => matchesPartially(e, received[i]));
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof received !== 'object' || received === null || Array.isArray(received)) return false;
    const r = received as Props;
    return Object.entries(expected).every(([k, v]) => k in r && matchesPartially(v, r[k]));
  }
  return Object.is(expected, received);
}

const passEvaluation = (items: unknown, props: Props): boolean => Object.values(items as Props).some((item) => matchesPartially(props, item));

const toHaveResourceWithPropertiesImpl = getToHaveResourceWithProperties(passEvaluation);
const toHaveProviderWithPropertiesImpl = getToHaveProviderWithProperties(passEvaluation);

type ResourceType = TerraformConstructor | string;
const asType = (t: ResourceType): TerraformConstructor => (typeof t === 'string' ? { tfResourceType: t } : t);

interface CdktfMatchers<R = unknown> {
  /** The synthesized JSON has a resource of this type whose config contains `properties`. */
  toHaveResourceWithProperties(type: ResourceType, properties?: Props): R;
  toHaveResource(type: ResourceType): R;
  toHaveProviderWithProperties(type: ResourceType, properties?: Props): R;
}

declare module 'vitest' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Assertion<T = any> extends CdktfMatchers<T> {}
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface AsymmetricMatchersContaining extends CdktfMatchers {}
}

expect.extend({
  toHaveResourceWithProperties(received: string, type: ResourceType, properties: Props = {}) {
    const r = toHaveResourceWithPropertiesImpl(received, asType(type), properties);
    return { pass: r.pass, message: () => r.message };
  },
  toHaveResource(received: string, type: ResourceType) {
    const r = toHaveResourceWithPropertiesImpl(received, asType(type), {});
    return { pass: r.pass, message: () => r.message };
  },
  toHaveProviderWithProperties(received: string, type: ResourceType, properties: Props = {}) {
    const r = toHaveProviderWithPropertiesImpl(received, asType(type), properties);
    return { pass: r.pass, message: () => r.message };
  },
});

// --- Typed access to the synthesized JSON --------------------------------

export interface LabelBlock {
  readonly label: string;
  readonly value: string;
}

export interface SynthJson {
  readonly terraform?: {
    readonly required_providers?: Record<string, { readonly source?: string; readonly version?: string }>;
    readonly backend?: Record<string, Props>;
  };
  readonly provider?: Record<string, Props[]>;
  readonly resource?: Record<string, Record<string, Props>>;
  readonly output?: Record<string, { readonly value: unknown }>;
}

export interface Synthesized {
  /** `Testing.synth(stack)`: the JSON string, without cdktf's `//` metadata. */
  readonly raw: string;
  readonly json: SynthJson;
}

export function synthesize(stack: TerraformStack): Synthesized {
  const raw = Testing.synth(stack);
  return { raw, json: JSON.parse(raw) as SynthJson };
}

/** Resources of one type, by logical id. `T` describes the snake_case config. */
export function resourcesOf<T = Props>(json: SynthJson, type: ResourceType): Record<string, T> {
  return (json.resource?.[asType(type).tfResourceType] ?? {}) as Record<string, T>;
}

/** Resources of one type as a list (logical ids dropped). */
export function listOf<T = Props>(json: SynthJson, type: ResourceType): T[] {
  return Object.values(resourcesOf<T>(json, type));
}

/**
 * Construct paths (`<stack id>/<construct>/<id>`) of a type's resources, by
 * logical id. `Testing.synth` strips this metadata, so it is read from
 * `toTerraform()`, which is what `cdktf synth` writes.
 */
export function constructPaths(stack: TerraformStack, type: ResourceType): Record<string, string> {
  const tf = stack.toTerraform() as { resource?: Record<string, Record<string, { '//'?: { metadata?: { path?: string } } }>> };
  const byId = tf.resource?.[asType(type).tfResourceType] ?? {};
  return Object.fromEntries(Object.entries(byId).map(([id, r]) => [id, r['//']?.metadata?.path ?? '']));
}

/** Label blocks as a plain record. */
export function labelsOf(resource: { readonly labels?: readonly LabelBlock[] }): Record<string, string> {
  return Object.fromEntries((resource.labels ?? []).map((l) => [l.label, l.value]));
}

/** `KEY=value` env entries as a record. */
export function envOf(resource: { readonly env?: readonly string[] }): Record<string, string> {
  return Object.fromEntries(
    (resource.env ?? []).map((e) => {
      const i = e.indexOf('=');
      return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)];
    }),
  );
}

// Shapes of the docker provider's resources as synthesized (only the fields
// the tests read).

export interface DockerContainerJson {
  readonly name: string;
  readonly image: string;
  readonly hostname?: string;
  readonly user?: string;
  readonly capabilities?: { readonly drop?: readonly string[]; readonly add?: readonly string[] };
  readonly security_opts?: readonly string[];
  readonly read_only?: boolean;
  readonly restart?: string;
  readonly init?: boolean;
  readonly privileged?: boolean;
  readonly labels?: readonly LabelBlock[];
  readonly env?: readonly string[];
  readonly ports?: ReadonlyArray<{ readonly internal: number; readonly external?: number; readonly ip?: string; readonly protocol?: string }>;
  readonly networks_advanced?: ReadonlyArray<{ readonly name: string; readonly aliases?: readonly string[] }>;
  readonly volumes?: ReadonlyArray<{ readonly volume_name?: string; readonly container_path: string; readonly read_only?: boolean }>;
  readonly network_mode?: string;
  readonly command?: readonly string[];
  readonly depends_on?: readonly string[];
  readonly must_run?: boolean;
  readonly attach?: boolean;
  readonly memory?: number;
  readonly memory_swap?: number;
}

export interface DockerNetworkJson {
  readonly name: string;
  readonly driver?: string;
  readonly internal?: boolean;
  readonly labels?: readonly LabelBlock[];
}

export interface DockerVolumeJson {
  readonly name: string;
  readonly labels?: readonly LabelBlock[];
}

export interface DockerImageJson {
  readonly name: string;
  readonly build?: {
    readonly context?: string;
    readonly dockerfile?: string;
    readonly build_args?: Record<string, string>;
    readonly label?: Record<string, string>;
  };
}
