/**
 * Names that come from the command line or the environment: the stack prefix
 * and the IaC engine. One rule each, shared by main.ts, the scripts and the
 * constructs. No imports: anything may depend on this module.
 *
 * A prefix names Docker objects (`<prefix>-ca`) and local directories
 * (`.state/<prefix>`, `cdktf.out/<prefix>`), so it must be a plain name: a
 * value such as `../x` would otherwise read and write outside `.state/`.
 */
import path from 'node:path';

export const DEFAULT_PREFIX = 'mtls';

const PREFIX_RULE = /^[a-z][a-z0-9-]{1,23}$/;
const PREFIX_RULE_TEXT = '2-24 lower-case letters, digits or dashes, starting with a letter';

/** The prefix if it is valid; otherwise an error that names where it came from and shows the value. */
export function validatePrefix(value: string, source = 'namePrefix'): string {
  if (!PREFIX_RULE.test(value)) throw new Error(`${source} must be ${PREFIX_RULE_TEXT}, got ${JSON.stringify(value)}`);
  return value;
}

/** The infrastructure-as-code engines the project runs under cdktf. */
export const IAC_ENGINES = ['terraform', 'tofu'] as const;
export type IacEngine = (typeof IAC_ENGINES)[number];

/** The stack output that records, in the state, which engine applied it. */
export const IAC_ENGINE_OUTPUT = 'iac_engine';

/** Where a stack runs: a Docker engine, or a Kubernetes cluster (the toolchain's local one). */
export const TARGETS = ['docker', 'kubernetes'] as const;
export type Target = (typeof TARGETS)[number];

/** MTLS_TARGET: undefined when unset or empty, else one of TARGETS. */
export function parseTarget(value: string | undefined, source = 'MTLS_TARGET'): Target | undefined {
  if (value === undefined || value === '') return undefined;
  if ((TARGETS as readonly string[]).includes(value)) return value as Target;
  throw new Error(`${source} must be ${TARGETS.join(' or ')}, got ${JSON.stringify(value)}`);
}

/** MTLS_IAC (or a flag that sets it): undefined when unset or empty, else one of IAC_ENGINES. */
export function parseIacEngine(value: string | undefined, source = 'MTLS_IAC'): IacEngine | undefined {
  if (value === undefined || value === '') return undefined;
  if ((IAC_ENGINES as readonly string[]).includes(value)) return value as IacEngine;
  throw new Error(`${source} must be ${IAC_ENGINES.join(' or ')}, got ${JSON.stringify(value)}`);
}

/**
 * MTLS_HOST_PORTS: `name=port,name=port` (host ports by workload name, over
 * the mesh's own). Undefined when unset or empty.
 */
export function parseHostPorts(value: string | undefined, source = 'MTLS_HOST_PORTS'): Record<string, number> | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const ports: Record<string, number> = {};
  for (const item of value.split(',')) {
    const m = /^\s*([a-z][a-z0-9-]*)=(\d{1,5})\s*$/.exec(item);
    if (!m) throw new Error(`${source} must be name=port pairs separated by commas, got ${JSON.stringify(item)}`);
    ports[m[1]!] = Number(m[2]);
  }
  return ports;
}

/** Where a stack's Terraform state lives: `.state/<prefix>/terraform.tfstate` in the project (the scripts' stackDirs reads the same). */
export function stateFileOf(projectDir: string, prefix: string): string {
  return path.join(projectDir, '.state', prefix, 'terraform.tfstate');
}
