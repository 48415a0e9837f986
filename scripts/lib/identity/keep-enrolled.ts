/**
 * Keeps a stack's workloads enrolled with no operator at hand: enrollment as
 * `npm run enroll` does it (the token minted in the CA and handed over on
 * stdin, the key made in the workload), for each workload whose renewer is
 * waiting for a certificate — now, and each time its container or pod starts
 * again (a pod replaced on Kubernetes starts with an empty in-memory volume).
 * A replaced pod also lacks root.crt: it gets the root this host pinned at
 * bootstrap (never one fetched without its fingerprint).
 */
import { waitFor } from '../../../common/wait.js';
import { followStarts } from '../admin/starts.js';
import * as docker from '../docker/commands.js';
import { FILES, type Stack, type Workload } from '../workloads/handles.js';
import { renewerHealthCheck, renewerState } from '../workloads/status.js';
import { enrollAll, type EnrollResult } from './enrollment.js';
import { pinnedRoot } from './operator-identity.js';

export interface KeepEnrolledOptions {
  readonly lifetime?: string;
  readonly signal: AbortSignal;
  /** Each enrollment made, as enroll reports it. */
  readonly onEnrolled: (result: EnrollResult) => void;
  /** A workload that could not be checked or enrolled; the watch goes on. */
  readonly onError: (workload: string, error: Error) => void;
}

/** How long a just-started renewer may take to answer its health check. */
const ANSWER_TIMEOUT_MS = 60_000;

/** Enrolls `w` if its renewer is waiting for a certificate; undefined when it is not, or when it has one already. */
export async function enrollIfWaiting(stack: Stack, w: Workload, lifetime?: string): Promise<EnrollResult | undefined> {
  // A container that is starting answers once it runs: wait for an answer, not for a time.
  const state = await waitFor(
    `${w.name}'s renewer to answer its health check`,
    async () => {
      const out = await renewerHealthCheck(w);
      const s = renewerState(out.exitCode, out.stdout + out.stderr, '');
      return s.verdict === 'unknown' ? undefined : s;
    },
    { timeoutMs: ANSWER_TIMEOUT_MS, intervalMs: [250, 500, 1000] },
  );
  if (state.verdict !== 'waiting') return undefined;
  if (!(await docker.readFile(w.renewer, FILES.root))) {
    await docker.writeFile(w.renewer, FILES.root, (await pinnedRoot(stack.prefix)).rootPem, '0644');
  }
  const [result] = await enrollAll(stack, [w], { lifetime });
  // The renewer says waiting until its loop next looks at its files: a check right after an
  // enrollment finds the certificate there, which enrollment keeps. Nothing was done then.
  return result?.action === 'kept' ? undefined : result;
}

/**
 * Runs until `signal` aborts. One check of a workload at a time; a start seen
 * during a check queues one more check, so none is lost and none piles up.
 */
export async function keepEnrolled(stack: Stack, workloads: readonly Workload[], opts: KeepEnrolledOptions): Promise<void> {
  const byName = new Map(workloads.map((w) => [w.name, w]));
  const running = new Map<string, Promise<void>>();
  const again = new Set<string>();
  const check = (name: string): void => {
    const w = byName.get(name);
    if (!w) return;
    if (running.has(name)) return void again.add(name);
    const done = enrollIfWaiting(stack, w, opts.lifetime)
      .then((r) => r && opts.onEnrolled(r))
      .catch((err: unknown) => opts.onError(name, err as Error))
      .finally(() => {
        running.delete(name);
        if (again.delete(name) && !opts.signal.aborted) check(name);
      });
    running.set(name, done);
  };
  const checkAll = () => workloads.forEach((w) => check(w.name));
  checkAll();
  await followStarts(stack.outputs, opts.signal, {
    start: check,
    // A start during the gap went unseen: look at every workload again.
    gap: (why) => {
      opts.onError('(the watch)', new Error(`${why.message}; watching again`));
      checkAll();
    },
  });
  await Promise.all(running.values());
}
