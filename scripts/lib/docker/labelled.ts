import { $ } from 'zx';

import { LABEL } from '../../../common/facts.js';
import { waitFor } from '../../../common/wait.js';
import { UserError } from '../cli/ui.js';
import type { LabelledObject } from './ownership.js';

/** The project's objects on the engine, found by label: listed, and removed with a stack's leftovers. */
const run = $({ quiet: true, nothrow: true, timeout: '60s' });

export type ObjectKind = 'container' | 'network' | 'volume' | 'image';

/** Names of every object of a kind carrying this project's label (optionally one prefix's). */
export async function listLabelled(kind: ObjectKind, prefix?: string): Promise<string[]> {
  const filters = ['--filter', `label=${LABEL.project}`, ...(prefix ? ['--filter', `label=${LABEL.prefix}=${prefix}`] : [])];
  const format = kind === 'image' ? '{{.Repository}}:{{.Tag}}' : kind === 'container' ? '{{.Names}}' : '{{.Name}}';
  const cmd = kind === 'container' ? ['ps', '-a'] : kind === 'image' ? ['image', 'ls'] : [kind, 'ls'];
  const out = await run`docker ${cmd} ${filters} --format ${format}`;
  if (out.exitCode !== 0) throw new UserError(`docker ${cmd.join(' ')} failed: ${out.stderr.trim()}`);
  return out.stdout
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * `docker network rm`, waiting out endpoints the engine has not released yet
 * (it can hold a removed container's endpoint for a while, e.g. after an
 * engine restart): retried while Docker says "active endpoints", up to
 * `timeoutMs`. True once the network is gone.
 */
export async function removeNetwork(name: string, timeoutMs = 90_000): Promise<boolean> {
  const started = Date.now();
  const outcome = await waitFor(
    `docker network rm ${name}`,
    async () => {
      const out = await run`docker network rm ${name}`;
      if (out.exitCode === 0 || /no such network|not found/i.test(out.stderr)) return 'removed';
      if (!/active endpoints/i.test(out.stderr)) return 'refused';
      // No container attached and still refused: a phantom endpoint that only an engine restart clears.
      if (Date.now() - started > 10_000 && (await attachedContainers(name)) === 0) return 'refused';
      return undefined;
    },
    { timeoutMs, intervalMs: 1000 },
  ).catch(() => 'refused');
  return outcome === 'removed';
}

/** How many containers the engine lists on a network (-1 when it cannot be inspected). */
export async function attachedContainers(network: string): Promise<number> {
  const out = await run`docker network inspect --format ${'{{len .Containers}}'} ${network}`;
  return out.exitCode === 0 ? Number(out.stdout.trim()) : -1;
}

/** Removes every object of this project for a prefix (leftovers of an earlier run). */
export async function removeLabelled(prefix: string): Promise<string[]> {
  const removed: string[] = [];
  for (const c of await listLabelled('container', prefix)) {
    if ((await run`docker rm -f -v ${c}`).exitCode === 0) removed.push(`container ${c}`);
  }
  for (const n of await listLabelled('network', prefix)) {
    if (await removeNetwork(n)) removed.push(`network ${n}`);
  }
  for (const v of await listLabelled('volume', prefix)) {
    if ((await run`docker volume rm -f ${v}`).exitCode === 0) removed.push(`volume ${v}`);
  }
  for (const i of await listLabelled('image', prefix)) {
    if ((await run`docker image rm -f ${i}`).exitCode === 0) removed.push(`image ${i}`);
  }
  return removed;
}

/**
 * Every container, network and volume of the project with its prefix and
 * owner labels, and every image (whose prefix is in its name: `docker image
 * ls` cannot format labels, and images carry no owner).
 */
export async function labelledObjects(): Promise<LabelledObject[]> {
  const objects: LabelledObject[] = [];
  const fields = `\t{{.Label "${LABEL.prefix}"}}\t{{.Label "${LABEL.owner}"}}`;
  for (const kind of ['container', 'network', 'volume'] as const) {
    const cmd = kind === 'container' ? ['ps', '-a'] : [kind, 'ls'];
    const out = await run`docker ${cmd} --filter ${`label=${LABEL.project}`} --format ${`{{${kind === 'container' ? '.Names' : '.Name'}}}${fields}`}`;
    if (out.exitCode !== 0) throw new UserError(`docker ${cmd.join(' ')} failed: ${out.stderr.trim()}`);
    objects.push(...parseLabelledLines(kind, out.stdout));
  }
  for (const image of await listLabelled('image')) objects.push(imageObject(image));
  return objects;
}

/** `name<TAB>prefix<TAB>owner` lines, as labelledObjects formats them; lines without a prefix are skipped. */
export function parseLabelledLines(kind: 'container' | 'network' | 'volume', stdout: string): LabelledObject[] {
  return stdout
    .split('\n')
    .map((line) => line.split('\t'))
    .filter(([name, prefix]) => Boolean(name?.trim() && prefix?.trim()))
    .map(([name = '', prefix = '', owner = '']) => ({ kind, name: name.trim(), prefix: prefix.trim(), owner: owner.trim() || undefined }));
}

/** A stack image is named `<prefix>-step-ca:<tag>` or `<prefix>-workload:<tag>`. */
export function imageObject(image: string): LabelledObject {
  return { kind: 'image', name: image, prefix: image.replace(/:[^:/]*$/, '').replace(/-(step-ca|workload)$/, '') };
}
