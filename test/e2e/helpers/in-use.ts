import { X509Certificate } from 'node:crypto';
import { appReport } from '../../../scripts/lib/app-report.js';
import { serialOf } from '../../../scripts/lib/pki.js';
import * as docker from '../../../scripts/lib/docker.js';
import { splitPem } from '../../../scripts/lib/pki.js';
import { certificateInUse } from '../../../scripts/lib/rotation.js';
import { FILES, type Workload } from '../../../scripts/lib/workloads.js';

/**
 * The workload's certificate bundle on disk (leaf, then intermediate) when its
 * process uses that leaf — per its own report, what it serves, or (curl,
 * psql) its files; undefined while it still uses another.
 */
export async function bundleInUse(w: Workload): Promise<{ bundle: string; leaf: string; serial: string } | undefined> {
  const bundle = await docker.readFile(w.renewer, FILES.cert);
  const leaf = bundle ? splitPem(bundle)[0] : undefined;
  if (!bundle || !leaf) return undefined;
  const serial = serialOf(new X509Certificate(leaf));
  return (await certificateInUse(w, await appReport(w)))?.serial === serial ? { bundle, leaf, serial } : undefined;
}
