import type { PhaseMark, TimedLine } from '../../scripts/lib/deploy/iac.js';

/** Where the time of one `cdktf deploy` went, in seconds, from when its lines arrived. */
export interface DeployPhases {
  /** The CDKTF app (main.ts under tsx) synthesizing the stack. */
  readonly synth: number;
  /** `terraform init` (provider from the cache or mirror). */
  readonly init: number;
  /** Refresh and plan, until the first resource starts changing. */
  readonly plan: number;
  /** Apply, until "Apply complete!". */
  readonly apply: number;
  /** After apply: the outputs read and written. */
  readonly finish: number;
  /** Until every container passed its health check (scripts/lib/workloads/readiness.ts). */
  readonly ready: number;
  /** Per resource kind, the seconds from "Creating..." to "Creation complete" of the slowest one, and how many. */
  readonly resources: Readonly<Record<string, { readonly count: number; readonly slowest: number }>>;
  /** Resources on the critical path of the apply, in order: the chain of waits that sets its length. */
  readonly slowest: ReadonlyArray<{ readonly resource: string; readonly startedAt: number; readonly seconds: number }>;
}

const INIT_START = /Initializing (the backend|provider plugins|modules)/;
const INIT_DONE = /(Terraform|OpenTofu) has been successfully initialized/;
const CHANGE_START = /: (Creating|Modifying|Destroying)\.\.\./;
const APPLY_DONE = /Apply complete!/;
const CREATING = /([\w-]+\.[\w-]+)(?: \([^)]*\))?: Creating\.\.\./;
const CREATED = /([\w-]+\.[\w-]+)(?: \([^)]*\))?: Creation complete after (?:(\d+)m)?(\d+)s/;

/** Splits a deploy's timed output into its phases; a phase whose marker never appeared gets 0. */
export function deployPhases(lines: readonly TimedLine[]): DeployPhases {
  const end = lines.at(-1)?.at ?? 0;
  const first = (re: RegExp, from = 0) => lines.find((l) => l.at >= from && re.test(l.text))?.at;
  const marked = (m: PhaseMark) => lines.find((l) => l.mark === m)?.at;
  const initStart = first(INIT_START) ?? 0;
  const synthesized = marked('synthesized') ?? initStart;
  const initDone = first(INIT_DONE, initStart) ?? initStart;
  const changeStart = first(CHANGE_START, initDone) ?? initDone;
  const applyDone = first(APPLY_DONE, changeStart) ?? changeStart;
  const outputs = marked('outputs') ?? end;
  const ready = marked('ready') ?? outputs;
  const started = new Map<string, number>();
  const created: Array<{ resource: string; startedAt: number; seconds: number }> = [];
  for (const l of lines) {
    const c = CREATING.exec(l.text);
    if (c && !started.has(c[1]!)) started.set(c[1]!, l.at);
    const d = CREATED.exec(l.text);
    if (d) {
      const at = started.get(d[1]!) ?? l.at;
      created.push({ resource: d[1]!, startedAt: (at - changeStart) / 1000, seconds: (l.at - at) / 1000 });
    }
  }
  const resources: Record<string, { count: number; slowest: number }> = {};
  for (const c of created) {
    const kind = kindOf(c.resource);
    const r = (resources[kind] ??= { count: 0, slowest: 0 });
    r.count += 1;
    r.slowest = Math.max(r.slowest, c.seconds);
  }
  return {
    synth: synthesized / 1000,
    init: (initDone - synthesized) / 1000,
    plan: (changeStart - initDone) / 1000,
    apply: (applyDone - changeStart) / 1000,
    finish: (outputs - applyDone) / 1000,
    ready: (ready - outputs) / 1000,
    resources,
    slowest: criticalPath(created),
  };
}

/** docker_container.bench-b8-server-renewer → "container renewer"; images, volumes and networks by their type. */
function kindOf(resource: string): string {
  const [type, name = ''] = resource.split('.');
  const short = type!.replace(/^docker_/, '');
  if (short !== 'container') return short;
  if (/renewer/.test(name)) return 'container renewer';
  if (/(^|[-_])ca([-_]|$)|ca-init|ca_init/.test(name)) return /init/.test(name) ? 'container ca-init' : 'container ca';
  return 'container app';
}

/**
 * Walks back from the last resource to finish: each step is the one that
 * finished last before the next one started. The output has no dependency
 * graph, so this is the likely chain of waits, not a proven one.
 */
function criticalPath(created: ReadonlyArray<{ resource: string; startedAt: number; seconds: number }>) {
  const done = (c: { startedAt: number; seconds: number }) => c.startedAt + c.seconds;
  const path: Array<{ resource: string; startedAt: number; seconds: number }> = [];
  let next = [...created].sort((a, b) => done(b) - done(a))[0];
  while (next) {
    path.unshift(next);
    const before = next.startedAt;
    // Lines arrive in chunks: a predecessor's completion and the next start often share a timestamp.
    next = created.filter((c) => c.startedAt < before && done(c) <= before + 0.05).sort((a, b) => done(b) - done(a))[0];
    if (next && path.includes(next)) break;
  }
  return path;
}
