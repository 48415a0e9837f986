import path from 'node:path';

import { fs } from 'zx';

import { ROOT_PIN_FILE } from '../../../common/facts.js';
import { parseHandle } from '../admin/channel.js';
import { setConfigMapKey } from '../admin/kubernetes.js';
import { createUi, UserError } from '../cli/ui.js';
import { stackDirs } from '../deploy/stack-instance.js';
import * as docker from '../docker/commands.js';
import { normaliseFingerprint } from '../identity/pki.js';
import { FILES, loadStack, type Workload } from '../workloads/handles.js';
import { fetchPinnedRoot } from './api.js';
import { withCaHostUrl } from './host-url.js';
import { rootFingerprint, rootRotationUnderWay } from './step.js';

/**
 * Trust bootstrap: fingerprint over the admin channel (or pinned by the
 * caller), root through the CA's API, accepted only when the two agree; then
 * the fingerprint is pinned in every app's trust volume (which the renewer
 * cannot write), root.crt goes to every workload's certs volume, and both to
 * the host state dir in the layout the step CLI uses (config/defaults.json,
 * certs/root_ca.crt).
 */
export async function bootstrapTrust(prefix: string, opts: { fingerprint?: string; json?: boolean; quiet?: boolean } = {}) {
  const ui = createUi({ json: opts.json, quiet: opts.quiet });
  const stack = await loadStack(prefix);
  // Mid-rotation, the pins hold two roots on purpose; bootstrapping would drop one.
  if (await rootRotationUnderWay(stack.ca)) {
    throw new UserError(
      `a root rotation is under way in stack "${prefix}" (npm run status shows its phase): finish it with npm run rotate-ca -- root activate / retire; bootstrap-trust would drop one of the two pinned roots`,
    );
  }
  const fingerprint = normaliseFingerprint(
    opts.fingerprint ?? (await ui.step('read root fingerprint over the admin channel', () => rootFingerprint(stack.ca))),
  );
  const rootPem = await ui.step(
    `fetch the root from ${stack.outputs.ca_host_url || "the CA's Service (a loopback port forwarded to it)"} and verify its SHA-256`,
    () => withCaHostUrl(stack.outputs, (url) => fetchPinnedRoot(url, fingerprint)),
  );
  // Verified: from here on, writing is safe. The pin goes first, so an app
  // never sees the new root.crt before it knows the root may be trusted.
  await ui.step("pin the root fingerprint in every app's trust volume", () => Promise.all(stack.workloads.map((w) => pinRoots(w, [fingerprint]))));
  await ui.step('distribute root.crt to every workload volume', () =>
    Promise.all(stack.workloads.map((w) => docker.writeFile(w.renewer, FILES.root, rootPem, '0644'))),
  );
  const host = stackDirs(prefix).hostStep;
  await fs.outputFile(host.root, rootPem);
  // The step CLI's defaults; on Kubernetes the CA has no fixed host URL to record.
  const caUrl = stack.outputs.ca_host_url ? { 'ca-url': stack.outputs.ca_host_url } : {};
  await fs.outputJson(host.defaults, { ...caUrl, fingerprint, root: host.root }, { spaces: 2 });
  return { prefix, caUrl: stack.outputs.ca_host_url, fingerprint, hostStepPath: host.dir, workloads: stack.workloads.map((w) => w.name) };
}

/**
 * Replaces a workload's pin set. A set, so a root rotation can pin the old
 * and the new root at once; the app re-reads it without a restart.
 */
export async function pinRoots(w: Workload, fingerprints: readonly string[]): Promise<void> {
  const lines = fingerprints.map((f) => normaliseFingerprint(f));
  const content = `# SHA-256 fingerprints of the roots this app may trust (written by bootstrap-trust)\n${lines.join('\n')}\n`;
  const name = path.basename(ROOT_PIN_FILE);
  // Kubernetes: the trust volume is a ConfigMap, written through the API (the app sees it at the kubelet's next sync).
  if (parseHandle(w.renewer).kind === 'kubernetes') return setConfigMapKey(w.renewer, w.trust_volume, name, content);
  // Docker: written by a short-lived container of the renewer image (it has a shell; an app image may not).
  await docker.writeVolumeFile(w.trust_volume, await docker.imageOf(w.renewer), name, content);
}
