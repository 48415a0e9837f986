import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';

import { ROOT_KEY_DIR } from '../../../common/facts.js';
import { waitFor } from '../../../common/wait.js';
import { rootFingerprint, rootPem, rootRotationUnderWay } from '../ca/step.js';
import type { Ui } from '../cli/ui.js';
import { UserError } from '../cli/ui.js';
import * as docker from '../docker/commands.js';
import { type CertInfo, certInfo, issuedBy } from '../identity/pki.js';
import type { Stack } from '../workloads/handles.js';
import { INTERMEDIATE_CRT, intermediateJobArgs, ROTATE_INTERMEDIATE_SCRIPT, STEPPATH } from './intermediate-job.js';

/** What an operator needs to recognise an intermediate. */
export interface IntermediateSummary {
  readonly serial: string;
  readonly fingerprint: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly subject: string;
}

export interface IntermediateRotation {
  readonly prefix: string;
  /** The intermediate the CA served before this run, and the one it serves now. */
  readonly old: IntermediateSummary;
  readonly new: IntermediateSummary;
  /** Root fingerprint before and after (a rotation of the intermediate never changes it). */
  readonly rootFingerprint: string;
  /** What this run did, in order. */
  readonly actions: string[];
}

/** How long the CA gets, after SIGHUP, to serve what its volume holds (intermediate, roots). */
export const RELOAD_TIMEOUT_MS = 30_000;
/** The pause between asking the CA what it serves while it reloads (root rotation's checks). */
export const RELOAD_POLL_MS = 250;
/** The intermediate rotation's pauses: doubling from 100 ms up to 2 s. */
const INTERMEDIATE_POLL_MS = [100, 200, 400, 800, 1600, 2000];

export function summarise(c: CertInfo): IntermediateSummary {
  return {
    serial: c.serial,
    fingerprint: c.fingerprint,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    subject: c.subject.replace(/\n/g, ', '),
  };
}

/** The common name of a subject as Node prints it (`CN=…` lines). */
export function commonName(subject: string): string | undefined {
  return subject
    .split('\n')
    .find((l) => l.startsWith('CN='))
    ?.slice(3);
}

/** RFC 3339 without fractions (what step's --not-after takes). */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Why `intermediatePem` cannot serve under `rootPem`, or undefined when it
 * can: signed by the root, a CA certificate, valid now, not outliving the root.
 */
export function intermediateProblem(intermediatePem: string, rootPem: string, now = new Date()): string | undefined {
  let cert: X509Certificate;
  let root: X509Certificate;
  try {
    cert = new X509Certificate(intermediatePem);
    root = new X509Certificate(rootPem);
  } catch (err) {
    return `unparseable certificate: ${(err as Error).message}`;
  }
  if (!issuedBy(cert, root)) return 'it is not signed by the root';
  if (!cert.ca) return 'it is not a CA certificate';
  if (now < new Date(cert.validFrom) || now > new Date(cert.validTo)) return `it is not valid now (${cert.validFrom} – ${cert.validTo})`;
  if (new Date(cert.validTo) > new Date(root.validTo)) return `it outlives the root (${cert.validTo} > ${root.validTo})`;
  return undefined;
}

/** The intermediate the CA presents in its TLS handshake (verified against the root). */
export function servedIntermediate(caHostUrl: string, rootPem: string, timeoutMs = 5000): Promise<CertInfo & { readonly pem: string }> {
  const url = new URL(caHostUrl);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: url.hostname, port: Number(url.port), ca: rootPem, timeout: timeoutMs }, () => {
      const issuer = socket.getPeerCertificate(true).issuerCertificate;
      socket.end();
      if (!issuer?.raw) return reject(new Error('the CA presented no intermediate'));
      const pem = new X509Certificate(issuer.raw).toString();
      resolve({ ...certInfo(pem), pem });
    });
    socket.on('timeout', () => socket.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    socket.on('error', reject);
  });
}

/** Where the job's pieces are: the CA's image and volumes, found from its containers. */
export async function locateCa(stack: Stack): Promise<{ image: string; caVolume: string; rootKeyVolume: string }> {
  const ca = stack.ca.container;
  const caVolume = await docker.volumeAt(ca, STEPPATH);
  if (!caVolume) throw new UserError(`${ca} mounts no volume at ${STEPPATH}: is it this project's CA?`);
  const [init] = await docker.containersWithRole(stack.prefix, 'ca-init');
  const rootKeyVolume = init ? await docker.volumeAt(init, ROOT_KEY_DIR) : undefined;
  if (!rootKeyVolume)
    throw new UserError(`stack ${stack.prefix} has no CA init container with the root-key volume: redeploy it (npm run deploy) and run again`);
  return { image: await docker.imageOf(ca), caVolume, rootKeyVolume };
}

/**
 * Replaces the CA's intermediate with a new one under the same root, and
 * makes the running CA issue from it without a restart: step-ca's SIGHUP
 * handler builds a new authority from ca.json (re-reading the intermediate
 * certificate and key with the password it started with, reusing its
 * database) and hands the listening socket over to the new server, so no
 * connection is refused. Safe to run again: a stopped run is completed
 * instead of making yet another intermediate.
 */
export async function rotateIntermediate(stack: Stack, ui: Ui): Promise<IntermediateRotation> {
  const ca = stack.ca.container;
  if (await rootRotationUnderWay(stack.ca)) {
    throw new UserError(
      'a root rotation is under way: it brings its own intermediate; finish it (rotate-ca root activate / retire) before rotating the intermediate',
    );
  }
  const root = await rootPem(stack.ca);
  const fingerprintBefore = (await rootFingerprint(stack.ca)).trim();
  const where = await ui.step('finding the CA, its volumes and its image', () => locateCa(stack));
  const before = await ui.step('reading the intermediate the CA serves', () => served(stack, root));
  const installedBefore = certInfo(await docker.execOk(ca, ['cat', INTERMEDIATE_CRT]));
  const actions: string[] = [];

  if (installedBefore.fingerprint === before.fingerprint) {
    const job = intermediateJobArgs({
      name: `${ca}-rotate`,
      prefix: stack.prefix,
      image: where.image,
      caVolume: where.caVolume,
      rootKeyVolume: where.rootKeyVolume,
      subject: commonName(installedBefore.subject) ?? 'Intermediate CA',
      notAfter: rfc3339(certInfo(root).notAfter),
    });
    const out = await ui.step('making and installing a new intermediate (root key mounted for this step only)', () =>
      docker.runOnce(job.flags, job.image, job.args, { input: ROTATE_INTERMEDIATE_SCRIPT }),
    );
    if (out.exitCode !== 0) {
      const why = (out.stderr || out.stdout).trim().split('\n').slice(-3).join('\n');
      throw new UserError(
        `the rotation job failed (exit ${out.exitCode}): ${why}\nThe CA still serves ${before.serial}. Fix the cause and run again; a stopped run is completed, not repeated.`,
      );
    }
    actions.push(
      ...out.stdout
        .split('\n')
        .filter((l) => l.startsWith('did: '))
        .map((l) => l.slice(5)),
    );
  } else {
    actions.push(`found ${installedBefore.serial} installed but not yet served: reloading only`);
  }

  const installedPem = await docker.execOk(ca, ['cat', INTERMEDIATE_CRT]);
  const problem = intermediateProblem(installedPem, root);
  if (problem)
    throw new UserError(
      `the installed intermediate cannot serve: ${problem}. The CA was not reloaded and still serves ${before.serial}; restore ${INTERMEDIATE_CRT}.previous and the key's .previous in the CA volume, or run again.`,
    );
  const installed = certInfo(installedPem);

  const hupAt = new Date();
  await ui.step('reloading the CA (SIGHUP)', async () => {
    await docker.signal(ca, 'HUP');
    await waitServed(stack, root, installed.fingerprint, hupAt);
  });
  actions.push(`reloaded the CA: it serves ${installed.serial}`);

  const fingerprintAfter = (await rootFingerprint(stack.ca)).trim();
  if (fingerprintAfter !== fingerprintBefore)
    throw new UserError(
      `the CA's root fingerprint changed from ${fingerprintBefore} to ${fingerprintAfter}: this must not happen; stop and inspect the CA volume`,
    );
  return { prefix: stack.prefix, old: summarise(before), new: summarise(installed), rootFingerprint: fingerprintAfter, actions };
}

async function served(stack: Stack, root: string): Promise<CertInfo> {
  try {
    return await servedIntermediate(stack.outputs.ca_host_url, root);
  } catch (err) {
    throw new UserError(
      `cannot read the intermediate the CA serves at ${stack.outputs.ca_host_url} (${(err as Error).message}): is the CA running and healthy? (npm run status)`,
    );
  }
}

async function waitServed(stack: Stack, root: string, fingerprint: string, since: Date): Promise<void> {
  let last = '';
  const served = await waitFor(
    'the CA to serve the new intermediate',
    async () => {
      try {
        if ((await servedIntermediate(stack.outputs.ca_host_url, root)).fingerprint === fingerprint) return true;
        last = 'still the old intermediate';
      } catch (err) {
        last = (err as Error).message;
      }
      return false;
    },
    { timeoutMs: RELOAD_TIMEOUT_MS, intervalMs: INTERMEDIATE_POLL_MS },
  ).catch(() => false);
  if (served) return;
  const log = (await docker.logs(stack.ca.container, { since: since.toISOString() }))
    .split('\n')
    .filter((l) => /error|fail/i.test(l))
    .slice(-3)
    .join('\n');
  throw new UserError(
    `the CA did not serve the new intermediate within ${RELOAD_TIMEOUT_MS / 1000} s (${last})${log ? `; its log:\n${log}\n` : '. '}The new intermediate is installed in the CA volume: run this command again, or restart the CA (docker restart ${stack.ca.container}).`,
  );
}
