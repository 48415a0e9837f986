/* eslint-disable @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-call --
   this module translates cdk.tf.json, whose shape is the provider's: it reads fields of `any` on purpose and refuses every field it does not know (containerSpec). */
import path from 'node:path';

import { fs } from 'zx';

import { UserError } from '../../scripts/lib/cli/ui.js';
import { stackDirs, type StackOutputs } from '../../scripts/lib/deploy/stack-instance.js';
import { type ContainerSpec, createNetwork, createVolume, runContainer, runToCompletion } from './docker-run.js';

/**
 * The B1 baseline: the same containers, networks and volumes as a cdktf
 * deploy, created with plain docker commands. The specs are derived from the
 * stack's own synthesized JSON (cdk.tf.json), so the baseline cannot drift
 * from what cdktf deploys; only images are swapped for already-built ones.
 */
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the synthesized stack's JSON, field by field

export interface PlainStack {
  readonly networks: Array<{ name: string; internal: boolean; labels: Record<string, string> }>;
  readonly volumes: Array<{ name: string; labels: Record<string, string> }>;
  readonly containers: ContainerSpec[];
  readonly outputs: StackOutputs;
}

const labelMap = (blocks: Array<{ label: string; value: string }> | undefined) => Object.fromEntries((blocks ?? []).map((b) => [b.label, b.value]));

/** Reads cdk.tf.json of a synthesized stack; `imageFor` maps the stack's image names to existing images. */
export async function plainStackFromSynth(prefix: string, imageFor: (stackImageName: string) => string): Promise<PlainStack> {
  const file = path.join(stackDirs(prefix).workDir, 'cdk.tf.json');
  if (!(await fs.pathExists(file))) throw new UserError(`${file} is missing: synthesize the stack first (cdktf synth with MTLS_PREFIX=${prefix}).`);
  const tf = (await fs.readJson(file)) as Json;
  const res = tf.resource as Record<string, Record<string, Json>>;
  // `${docker_x.id.attr}` references: names for networks/volumes/containers, the image to use for images.
  const resolve = (v: unknown): unknown => {
    if (typeof v !== 'string') return v;
    const m = /^\$\{(docker_\w+)\.([\w-]+)\.(\w+)\}$/.exec(v);
    if (!m) return v;
    const r = res[m[1]!]?.[m[2]!];
    if (!r) throw new UserError(`cannot resolve ${v} in ${file}`);
    return m[1] === 'docker_image' ? imageFor(r.name as string) : r.name;
  };
  const deep = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(deep) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x)])) : resolve(v);

  const networks = Object.values(res.docker_network ?? {}).map((n) => ({ name: n.name as string, internal: Boolean(n.internal), labels: labelMap(n.labels) }));
  const volumes = Object.values(res.docker_volume ?? {}).map((v) => ({ name: v.name as string, labels: labelMap(v.labels) }));
  const containers = Object.values(res.docker_container ?? {}).map((c) => containerSpec(deep(c) as Json));
  // Ordering is translated only as "one-shot containers first": refuse anything else.
  for (const c of Object.values(res.docker_container ?? {})) {
    for (const dep of (c.depends_on ?? []) as string[]) {
      const [type, id] = dep.split('.');
      if (type !== 'docker_container' || !res.docker_container?.[id!]?.attach) {
        throw new UserError(
          `the plain-docker baseline translates depends_on only on one-shot containers, not ${dep} of ${c.name}; extend bench/lib/plain-docker.ts`,
        );
      }
    }
  }
  const outputs = Object.fromEntries(
    Object.entries(tf.output as Record<string, { value: unknown }>).map(([k, o]) => [k, deep(o.value)]),
  ) as unknown as StackOutputs;
  return { networks, volumes, containers, outputs };
}

/** docker_container attributes → `docker create` flags (only those the stack uses; unknown ones are an error). */
export function containerSpec(c: Json): ContainerSpec {
  const known = new Set([
    '//',
    'name',
    'image',
    'hostname',
    'user',
    'capabilities',
    'security_opts',
    'read_only',
    'tmpfs',
    'restart',
    'max_retry_count',
    'memory',
    'memory_swap',
    'init',
    'log_opts',
    'env',
    'volumes',
    'networks_advanced',
    'network_mode',
    'ports',
    'healthcheck',
    'command',
    'entrypoint',
    'labels',
    'stop_timeout',
    'wait',
    'wait_timeout',
    'attach',
    'must_run',
    'depends_on',
  ]);
  const unknown = Object.keys(c).filter((k) => !known.has(k));
  if (unknown.length)
    throw new UserError(`the plain-docker baseline does not translate ${unknown.join(', ')} of container ${c.name}; extend bench/lib/plain-docker.ts`);
  const f: string[] = [];
  if (c.hostname) f.push('--hostname', c.hostname);
  if (c.user) f.push('--user', c.user);
  for (const cap of c.capabilities?.drop ?? []) f.push('--cap-drop', cap);
  for (const so of c.security_opts ?? []) f.push('--security-opt', so);
  if (c.read_only) f.push('--read-only');
  for (const [p, o] of Object.entries((c.tmpfs ?? {}) as Record<string, string>)) f.push('--tmpfs', `${p}:${o}`);
  if (c.restart) f.push('--restart', c.max_retry_count ? `${c.restart}:${c.max_retry_count}` : c.restart);
  if (c.network_mode) f.push('--network', c.network_mode);
  if (c.memory) f.push('--memory', `${c.memory}m`);
  if (c.memory_swap) f.push('--memory-swap', `${c.memory_swap}m`);
  if (c.init) f.push('--init');
  for (const [k, v] of Object.entries((c.log_opts ?? {}) as Record<string, string>)) f.push('--log-opt', `${k}=${v}`);
  for (const e of c.env ?? []) f.push('--env', e);
  for (const v of c.volumes ?? []) f.push('--volume', `${v.volume_name}:${v.container_path}${v.read_only ? ':ro' : ''}`);
  for (const p of c.ports ?? []) f.push('--publish', `${p.ip}:${p.external}:${p.internal}/${p.protocol ?? 'tcp'}`);
  const h = c.healthcheck;
  if (h) {
    const [kind, ...cmd] = h.test as string[];
    // The CLI only has the shell form; the stack's tests are plain argv without shell syntax.
    if (kind !== 'CMD' && kind !== 'CMD-SHELL') throw new UserError(`unexpected healthcheck ${kind} in ${c.name}`);
    f.push('--health-cmd', cmd.join(' '));
    if (h.interval) f.push('--health-interval', h.interval);
    if (h.timeout) f.push('--health-timeout', h.timeout);
    if (h.start_period) f.push('--health-start-period', h.start_period);
    if (h.retries) f.push('--health-retries', String(h.retries));
  }
  for (const l of c.labels ?? []) f.push('--label', `${l.label}=${l.value}`);
  if (c.stop_timeout) f.push('--stop-timeout', String(c.stop_timeout));
  const [entry, ...entryArgs] = (c.entrypoint ?? []) as string[];
  if (entry) f.push('--entrypoint', entry);
  return {
    name: c.name,
    image: c.image,
    flags: f,
    networks: (c.networks_advanced ?? []).map((n: Json) => ({ name: n.name, aliases: n.aliases ?? [] })),
    args: [...entryArgs, ...((c.command ?? []) as string[])],
    // Terraform waits for an attached container to exit (the CA's init step).
    oneShot: Boolean(c.attach),
  };
}

/**
 * Networks and volumes first, then the one-shot containers to completion (the
 * only targets of depends_on in the stack), then every other container at once
 * (no health gating: callers wait for what they need).
 */
export async function startPlainStack(p: PlainStack): Promise<void> {
  await Promise.all([...p.networks.map((n) => createNetwork(n.name, n)), ...p.volumes.map((v) => createVolume(v.name, v.labels))]);
  for (const c of p.containers.filter((c) => c.oneShot)) await runToCompletion(c);
  await Promise.all(p.containers.filter((c) => !c.oneShot).map(runContainer));
}

export async function writeOutputs(prefix: string, outputs: StackOutputs): Promise<void> {
  const file = stackDirs(prefix).outputsFile;
  await fs.outputJson(file, { [prefix]: outputs }, { spaces: 2 });
}
