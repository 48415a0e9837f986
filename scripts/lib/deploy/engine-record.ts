import path from 'node:path';

import { fs } from 'zx';

import { IAC_ENGINE_OUTPUT, IAC_ENGINES, type IacEngine, type Target } from '../../../stack/names.js';
import { UserError } from '../cli/ui.js';

/**
 * Which engine manages a stack, as its Terraform state records it: the
 * output `iac_engine` (written by main.ts from MTLS_IAC) and the state's own
 * `terraform_version` (OpenTofu writes its version under the same key).
 */
export interface EngineRecord {
  /** undefined: the state predates the record, or was written by hand. */
  readonly engine?: IacEngine;
  readonly version?: string;
  readonly resources: number;
  /** Where its resources are: Kubernetes objects (kubectl_*) or Docker's (docker_*); undefined when it has neither. */
  readonly target?: Target;
}

/** Reads the record out of a state document; undefined when there is nothing to protect. */
export function engineRecordOf(state: unknown): EngineRecord | undefined {
  if (typeof state !== 'object' || state === null) return undefined;
  const s = state as { terraform_version?: unknown; outputs?: Record<string, { value?: unknown }>; resources?: unknown[] };
  const resources = Array.isArray(s.resources) ? s.resources.length : 0;
  const types = Array.isArray(s.resources)
    ? s.resources.map((r) => (r as { type?: unknown } | null)?.type).filter((t): t is string => typeof t === 'string')
    : [];
  const target: Target | undefined = types.some((t) => t.startsWith('kubectl_'))
    ? 'kubernetes'
    : types.some((t) => t.startsWith('docker_'))
      ? 'docker'
      : undefined;
  const recorded = s.outputs?.[IAC_ENGINE_OUTPUT]?.value;
  const engine = (IAC_ENGINES as readonly unknown[]).includes(recorded) ? (recorded as IacEngine) : undefined;
  // A destroyed stack keeps an empty state: no resources, no outputs, no engine.
  if (resources === 0 && engine === undefined) return undefined;
  return { engine, version: typeof s.terraform_version === 'string' ? s.terraform_version : undefined, resources, ...(target ? { target } : {}) };
}

export async function readEngineRecord(stateFile: string): Promise<EngineRecord | undefined> {
  if (!(await fs.pathExists(stateFile))) return undefined;
  let state: unknown;
  try {
    state = await fs.readJson(stateFile);
  } catch (err) {
    throw new UserError(
      `${stateFile} is not valid JSON (${(err as Error).message}); restore it from ${path.basename(stateFile)}.backup or remove the stack by label.`,
    );
  }
  return engineRecordOf(state);
}

/**
 * Refuses to run `using` on a stack another engine manages, unless the switch
 * is explicitly allowed (MTLS_IAC_SWITCH=1). Their state formats are
 * compatible today; the refusal is there so that a switch is never a surprise.
 */
export function checkEngine(
  record: EngineRecord | undefined,
  using: { engine: IacEngine; version: string },
  opts: { prefix: string; stateFile: string; allowSwitch: boolean },
): { switched: boolean } {
  if (!record?.engine || record.engine === using.engine) return { switched: false };
  if (opts.allowSwitch) return { switched: true };
  const by = record.version ? ` ${record.version}` : '';
  throw new UserError(
    `stack "${opts.prefix}" is managed by ${record.engine}${by} (recorded in ${opts.stateFile}), but this run uses ${using.engine} ${using.version}. ` +
      `Refusing to switch engines silently: run with MTLS_IAC=${record.engine} to keep ${record.engine}, ` +
      `or switch this stack on purpose with MTLS_IAC=${using.engine} MTLS_IAC_SWITCH=1 (see the README, "Switching a stack to the other engine").`,
  );
}
