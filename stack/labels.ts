import { LABEL, PROJECT } from '../common/facts.js';
import { validatePrefix } from './names.js';

/**
 * Labels on every resource the stack creates (names in common/facts.ts): they
 * let scripts find a stack's workloads and let setup code find (and remove)
 * leftovers of earlier runs.
 */
export { LABEL };
export type Role = 'ca' | 'ca-init' | 'server' | 'client' | 'both' | 'renewer';

/**
 * Every construct labels its resources with its prefix through this function,
 * so this is also where each of them (CA, workload, mesh, stack) validates
 * its `namePrefix` with the one rule in names.ts.
 */
export function stackLabels(prefix: string): Record<string, string> {
  validatePrefix(prefix, 'namePrefix');
  return { [LABEL.project]: PROJECT, [LABEL.prefix]: prefix };
}

export function baseLabels(prefix: string, role: Role, extra: Record<string, string> = {}): Record<string, string> {
  return { ...stackLabels(prefix), [LABEL.role]: role, ...extra };
}

/** In the shape the docker provider wants for containers, networks and volumes. */
export function labelBlocks(labels: Record<string, string>): Array<{ label: string; value: string }> {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([label, value]) => ({ label, value }));
}

/**
 * The Dockerfiles turn these build args into LABELs: the provider's classic
 * builder drops build labels, and leftovers must be findable by label.
 */
export function labelArgs(labels: Record<string, string>): Record<string, string> {
  return {
    MTLS_PROJECT: labels[LABEL.project] ?? '',
    MTLS_PREFIX: labels[LABEL.prefix] ?? '',
  };
}
