import { attachedContainers, labelledObjects, removeLabelled } from '../docker/labelled.js';
import type { TerraformCli } from '../toolchain/engine.js';
import { cdktf, removeLocalState, type StackSettings } from './stack-instance.js';

/** What taking a stack down left behind. */
export interface Teardown {
  /** Objects of the stack still on the engine (`kind name`): a real failure. */
  readonly left: readonly string[];
  /** Networks no container is attached to that the engine still refuses to remove ("active endpoints"). */
  readonly phantomNetworks: readonly string[];
  /** Why `cdktf destroy` failed, when it did (the rest was then removed by label). */
  readonly destroyError?: string;
}

/**
 * Takes a throw-away stack down (the test suite's, the benchmarks'): `cdktf
 * destroy` when cdktf deployed it, then whatever is left by label, then the
 * local state. Docker 20.10 can keep a phantom endpoint on a network after an
 * engine restart: no container is attached, yet removal is refused until the
 * engine restarts. That network is the engine's state, not something of ours
 * left running, so it is reported apart from real leftovers.
 */
export async function destroyStack(settings: StackSettings, opts: { readonly viaCdktf: boolean; readonly engine?: TerraformCli }): Promise<Teardown> {
  let destroyError: string | undefined;
  if (opts.viaCdktf) {
    await cdktf('destroy', settings, { quiet: true, ...(opts.engine ? { engine: opts.engine } : {}) }).catch((err: Error) => {
      destroyError = err.message;
    });
  }
  await removeLabelled(settings.prefix).catch(() => undefined);
  await removeLocalState(settings.prefix);
  const objects = (await labelledObjects()).filter((o) => o.prefix === settings.prefix && o.kind !== 'image');
  const phantom = await Promise.all(objects.map(async (o) => o.kind === 'network' && (await attachedContainers(o.name)) === 0));
  return {
    left: objects.filter((_, i) => !phantom[i]).map((o) => `${o.kind} ${o.name}`),
    phantomNetworks: objects.filter((_, i) => phantom[i]).map((o) => o.name),
    ...(destroyError ? { destroyError } : {}),
  };
}

/** Warning lines for what a teardown tolerated (a phantom network; a destroy that label removal finished). */
export function teardownWarnings(prefix: string, t: Teardown): string[] {
  return [
    ...t.phantomNetworks.map(
      (n) => `network ${n} has no container attached but the engine still refuses to remove it ("active endpoints"); an engine restart clears it`,
    ),
    ...(t.destroyError
      ? [`cdktf destroy of ${prefix} failed, and removing by label finished what it could: ${t.destroyError.split('\n').slice(-3).join(' ')}`]
      : []),
  ];
}
