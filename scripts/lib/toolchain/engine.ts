import type { IacEngine } from '../../../stack/names.js';
import { MIN_OPENTOFU_VERSION, MIN_TERRAFORM_VERSION } from '../../../stack/versions.js';
import { UserError } from '../cli/ui.js';
import { compareVersions } from './versions.js';

/** The IaC engine handed to cdktf (TERRAFORM_BINARY_NAME). */
export interface TerraformCli {
  /** Absolute path or bare command name handed to cdktf as TERRAFORM_BINARY_NAME. */
  readonly binary: string;
  readonly flavour: IacEngine;
  readonly version: string;
  readonly built: boolean;
  /** Why this engine: `MTLS_IAC=tofu`, `tofu on PATH`, … */
  readonly chosenBy?: string;
}

/** Versions of the engines found on PATH (undefined: absent or not runnable). */
export interface EnginesOnPath {
  readonly terraform?: string;
  readonly tofu?: string;
}

export interface EngineChoice {
  readonly engine: IacEngine;
  /** The PATH's binary; otherwise the OpenTofu the toolchain builds and caches. */
  readonly fromPath: boolean;
  readonly why: string;
}

const MIN_VERSION: Record<IacEngine, string> = { terraform: MIN_TERRAFORM_VERSION, tofu: MIN_OPENTOFU_VERSION };

/** An engine on PATH that is new enough, else undefined. */
export function usable(engine: IacEngine, onPath: EnginesOnPath): string | undefined {
  const v = onPath[engine];
  return v !== undefined && compareVersions(v, MIN_VERSION[engine]) >= 0 ? v : undefined;
}

/**
 * Which engine runs the stack. `requested` is MTLS_IAC (already validated).
 * With nothing requested: `tofu` on PATH, then `terraform` on PATH, else the
 * OpenTofu the toolchain builds from the Go module proxy. Terraform is never
 * built (its licence does not allow redistribution), so asking for it without
 * one on PATH is an error that says what to do.
 */
export function chooseEngine(requested: IacEngine | undefined, onPath: EnginesOnPath): EngineChoice {
  const tofu = usable('tofu', onPath);
  const terraform = usable('terraform', onPath);
  if (requested === 'terraform') {
    if (terraform) return { engine: 'terraform', fromPath: true, why: 'MTLS_IAC=terraform' };
    const found = onPath.terraform ? ` (found ${onPath.terraform})` : '';
    throw new UserError(
      `MTLS_IAC=terraform, but no terraform >= ${MIN_TERRAFORM_VERSION} is on PATH${found}. Install Terraform, or use OpenTofu: MTLS_IAC=tofu (the toolchain builds it when it is not on PATH).`,
    );
  }
  if (requested === 'tofu') return { engine: 'tofu', fromPath: Boolean(tofu), why: 'MTLS_IAC=tofu' };
  if (tofu) return { engine: 'tofu', fromPath: true, why: 'tofu on PATH; MTLS_IAC unset' };
  if (terraform) return { engine: 'terraform', fromPath: true, why: 'terraform on PATH, no tofu; MTLS_IAC unset' };
  return { engine: 'tofu', fromPath: false, why: `neither tofu nor terraform >= ${MIN_TERRAFORM_VERSION} on PATH; MTLS_IAC unset` };
}

/** The engine that is not `engine`. */
export function otherEngine(engine: IacEngine): IacEngine {
  return engine === 'tofu' ? 'terraform' : 'tofu';
}
