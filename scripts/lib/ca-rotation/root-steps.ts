/**
 * The steps every phase of a root rotation (root-rotation.ts) shares on the
 * CA's side and the host's: the CA job, the CA's reload checked against what
 * it then serves, and the host's pinned state.
 */
import { X509Certificate } from 'node:crypto';

import { fs } from 'zx';

import { waitFor } from '../../../common/wait.js';
import { httpsGet } from '../ca/api.js';
import type { Ui } from '../cli/ui.js';
import { UserError } from '../cli/ui.js';
import { stackDirs } from '../deploy/stack-instance.js';
import * as docker from '../docker/commands.js';
import { certInfo, fingerprintOf, issuedBy } from '../identity/pki.js';
import type { Stack } from '../workloads/handles.js';
import { commonName, locateCa, RELOAD_POLL_MS, RELOAD_TIMEOUT_MS, rfc3339, servedIntermediate } from './intermediate.js';
import { INTERMEDIATE_CRT } from './intermediate-job.js';
import { CA_ROOT_FILE, rootJobArgs, type RootPhase, ROTATE_ROOT_SCRIPT } from './root-job.js';

const fp = (pem: string) => fingerprintOf(new X509Certificate(pem));

/** Runs the phase's job (root-job.ts) in a short-lived container; returns what it says it did. */
export async function runJob(stack: Stack, ui: Ui, phase: RootPhase, what: string): Promise<string[]> {
  const where = await locateCa(stack);
  const root = certInfo(await docker.execOk(stack.ca.container, ['cat', CA_ROOT_FILE]));
  const intermediate = certInfo(await docker.execOk(stack.ca.container, ['cat', INTERMEDIATE_CRT]));
  const stamp = new Date().toISOString().slice(0, 10);
  const name = (s: string | undefined, fallback: string) =>
    (s ?? fallback)
      .replace(/\s+\d{4}-\d\d-\d\d$/, '')
      .replace(/[^A-Za-z0-9 ._-]/g, '')
      .slice(0, 48) || fallback;
  const lifetimeMs = root.notAfter.getTime() - root.notBefore.getTime();
  const job = rootJobArgs({
    name: `${stack.ca.container}-rotate-root`,
    prefix: stack.prefix,
    image: where.image,
    caVolume: where.caVolume,
    rootKeyVolume: where.rootKeyVolume,
    phase,
    rootSubject: `${name(commonName(root.subject), 'Root CA')} ${stamp}`,
    intermediateSubject: `${name(commonName(intermediate.subject), 'Intermediate CA')} ${stamp}`,
    // The new root lives as long as the old one did (step's default: 10 years).
    notAfter: rfc3339(new Date(Date.now() + lifetimeMs)),
  });
  const out = await ui.step(what, () => docker.runOnce(job.flags, job.image, job.args, { input: ROTATE_ROOT_SCRIPT }));
  if (out.exitCode !== 0) {
    const why = (out.stderr || out.stdout).trim().split('\n').slice(-3).join('\n');
    throw new UserError(
      `rotate-ca root ${phase}: the job failed (exit ${out.exitCode}): ${why}\nFix the cause and run the same command again; a stopped run is completed, not repeated.`,
    );
  }
  return out.stdout
    .split('\n')
    .filter((l) => l.startsWith('did: '))
    .map((l) => l.slice(5));
}

/** The roots the CA serves at `/roots` (what its loaded configuration trusts), as fingerprints. */
export async function servedRoots(caHostUrl: string, trusted: string): Promise<string[]> {
  const res = await httpsGet(`${caHostUrl}/roots`, { ca: trusted });
  // step-ca answers /roots with 201 Created.
  if (res.status !== 200 && res.status !== 201) throw new Error(`/roots answered ${res.status}: ${res.body.slice(0, 200)}`);
  const crts = (JSON.parse(res.body) as { crts?: unknown }).crts;
  if (!Array.isArray(crts)) throw new Error('/roots answered without a crts list');
  return crts.map((c) => fp(String(c)));
}

/**
 * SIGHUP, then wait until the CA presents an intermediate under `issuer` and
 * serves exactly `roots` at /roots: only then has it loaded what the volume
 * holds (a CA that did not reload keeps accepting and serving the old set).
 */
export async function reloadCa(stack: Stack, ui: Ui, want: { issuer: string; roots: readonly string[] }, timeoutMs = RELOAD_TIMEOUT_MS): Promise<string> {
  const trusted = want.roots.join('\n');
  const wantRoots = want.roots.map(fp).sort();
  return ui.step('reloading the CA (SIGHUP)', async () => {
    await docker.signal(stack.ca.container, 'HUP');
    let last = '';
    const serial = await waitFor(
      'the CA to serve the expected roots and intermediate',
      async () => {
        try {
          const served = await servedIntermediate(stack.outputs.ca_host_url, trusted);
          if (!issuedBy(new X509Certificate(served.pem), new X509Certificate(want.issuer))) last = 'it still presents an intermediate under the other root';
          else {
            const roots = await servedRoots(stack.outputs.ca_host_url, trusted);
            if (roots.slice().sort().join() === wantRoots.join()) return served.serial;
            last = `it serves ${roots.length} root(s) at /roots (${roots.map((r) => r.slice(0, 12)).join(', ')}), expected ${wantRoots.length} (${wantRoots.map((r) => r.slice(0, 12)).join(', ')})`;
          }
        } catch (err) {
          last = (err as Error).message;
        }
        return undefined;
      },
      { timeoutMs, intervalMs: RELOAD_POLL_MS },
    ).catch(() => undefined);
    if (serial !== undefined) return serial;
    throw new UserError(
      `the CA did not load the expected roots and intermediate within ${Math.round(timeoutMs / 1000)} s after SIGHUP: ${last}. Until it does, it accepts and serves what it had. Run the same command again, or restart the CA (docker restart ${stack.ca.container}) and run it again.`,
    );
  });
}

/** The host's pinned state (bootstrap-trust's layout), with the set of pinned roots and the bundle of them. */
export async function writeHostTrust(stack: Stack, roots: readonly string[]): Promise<void> {
  const { defaults: defaultsFile, root: bundle } = stackDirs(stack.prefix).hostStep;
  const defaults = (await fs.readJson(defaultsFile).catch(() => ({}))) as Record<string, unknown>;
  await fs.outputFile(`${bundle}.tmp`, roots.map((r) => r.trim()).join('\n') + '\n');
  await fs.rename(`${bundle}.tmp`, bundle);
  // The phase times live with the CA (root-record.ts), not here.
  const { rotation: _ignored, ...rest } = defaults;
  await fs.outputJson(`${defaultsFile}.tmp`, { ...rest, fingerprint: fp(roots.at(-1)!), fingerprints: roots.map(fp), root: bundle }, { spaces: 2 });
  await fs.rename(`${defaultsFile}.tmp`, defaultsFile);
}
