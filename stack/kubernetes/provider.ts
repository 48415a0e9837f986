/**
 * Minimal typed CDKTF constructs for the gavinbunney/kubectl provider
 * (stack/versions.ts KUBECTL_PROVIDER): no prebuilt @cdktf package exists for
 * it, and the stack uses one resource of it. Attribute names as in the
 * provider's schema at v1.19.0 (kubernetes/provider.go,
 * kubernetes/resource_kubectl_manifest.go; docs/index.md,
 * docs/resources/kubectl_manifest.md).
 */
import { type TerraformMetaArguments, TerraformProvider, TerraformResource } from 'cdktf';
import type { Construct } from 'constructs';

import { KUBECTL_PROVIDER } from '../versions.js';

export interface KubectlProviderConfig {
  /** A kubeconfig file (a path: no credential reaches the configuration). @default KUBECONFIG or ~/.kube/config */
  readonly configPath?: string;
  /** A context of that file. @default its current context */
  readonly configContext?: string;
  /** @default true: read the kubeconfig */
  readonly loadConfigFile?: boolean;
  /** Attempts of each create or update. @default 1 */
  readonly applyRetryCount?: number;
}

/** Drops unset attributes: Terraform then applies the provider's own defaults. */
const defined = (o: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** `cdktf synth --hcl`'s form of the same attributes (strings, numbers, booleans and string lists only). */
function hclAttributes(attrs: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(attrs).map(([k, value]) => [
      k,
      Array.isArray(value)
        ? { value, isBlock: false, type: 'list', storageClassType: 'stringList' }
        : { value, isBlock: false, type: 'simple', storageClassType: typeof value },
    ]),
  );
}

export class KubectlProvider extends TerraformProvider {
  static readonly tfResourceType = 'kubectl';

  constructor(
    scope: Construct,
    id: string,
    private readonly config: KubectlProviderConfig = {},
  ) {
    super(scope, id, {
      terraformResourceType: KubectlProvider.tfResourceType,
      terraformProviderSource: KUBECTL_PROVIDER.source,
      terraformGeneratorMetadata: { providerName: 'kubectl', providerVersionConstraint: KUBECTL_PROVIDER.constraint },
    });
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    const c = this.config;
    return defined({
      config_path: c.configPath,
      config_context: c.configContext,
      load_config_file: c.loadConfigFile,
      apply_retry_count: c.applyRetryCount,
    });
  }

  protected override synthesizeHclAttributes(): Record<string, unknown> {
    return hclAttributes(this.synthesizeAttributes());
  }
}

export interface KubectlManifestConfig extends TerraformMetaArguments {
  /** One object, as YAML or JSON (JSON is YAML). Interpolation is the caller's business: see rawYaml. */
  readonly yamlBody: string;
  /** Server-side apply instead of kubectl's client-side merge. @default false */
  readonly serverSideApply?: boolean;
  /** With server-side apply: take fields another manager owns. @default false */
  readonly forceConflicts?: boolean;
  /** Delete and create again when the body changes (objects whose spec is immutable, such as Jobs). @default false */
  readonly forceNew?: boolean;
  /** On destroy, wait until the object is gone (foreground deletion; polled every 10 s). @default false */
  readonly wait?: boolean;
  /** Wait until a Deployment (or APIService) has rolled out. @default true */
  readonly waitForRollout?: boolean;
  /** Fields (dot syntax) hidden in the plan's output. @default ['data'] for a Secret */
  readonly sensitiveFields?: readonly string[];
}

/** `kubectl_manifest`: one Kubernetes object, created, updated in place and deleted with the stack. */
export class KubectlManifest extends TerraformResource {
  static readonly tfResourceType = 'kubectl_manifest';

  constructor(
    scope: Construct,
    id: string,
    private readonly config: KubectlManifestConfig,
  ) {
    super(scope, id, {
      terraformResourceType: KubectlManifest.tfResourceType,
      terraformGeneratorMetadata: { providerName: 'kubectl', providerVersionConstraint: KUBECTL_PROVIDER.constraint },
      provider: config.provider,
      dependsOn: config.dependsOn,
      count: config.count,
      lifecycle: config.lifecycle,
      provisioners: config.provisioners,
      connection: config.connection,
      forEach: config.forEach,
    });
  }

  /** The object's uid, known after apply. */
  get uid(): string {
    return this.getStringAttribute('uid');
  }

  protected override synthesizeAttributes(): Record<string, unknown> {
    const c = this.config;
    return defined({
      yaml_body: c.yamlBody,
      server_side_apply: c.serverSideApply,
      force_conflicts: c.forceConflicts,
      force_new: c.forceNew,
      wait: c.wait,
      wait_for_rollout: c.waitForRollout,
      sensitive_fields: c.sensitiveFields,
    });
  }

  protected override synthesizeHclAttributes(): Record<string, unknown> {
    return hclAttributes(this.synthesizeAttributes());
  }
}

/**
 * Terraform reads `${…}` and `%{…}` in any string as a template: a body
 * (a shell line, say) passes through as written only with each escaped.
 */
export function rawYaml(text: string): string {
  return text.replace(/([$%])\{/g, (_, sigil: string) => `${sigil}${sigil}{`);
}
