import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { fs } from 'zx';
import { splitPem } from '../../scripts/lib/pki.js';
import type { Stack } from '../../scripts/lib/workloads.js';
import { enrollHostIdentity } from '../../test/e2e/helpers/operator.js';

/** A certificate the host holds (load generators, nginx), with its files. */
export interface HostIdentity {
  readonly certPem: string;
  readonly keyPem: string;
  readonly rootPem: string;
  readonly serial: string;
  readonly notAfter: Date;
  /** root.crt, site.crt (leaf + intermediate), site.key (0600) — the workloads' layout. */
  readonly dir: string;
  readonly files: { readonly root: string; readonly cert: string; readonly key: string; readonly leaf: string; readonly chainAndRoot: string };
}

/**
 * Gets the host a real certificate from the stack's CA through the same path
 * the e2e tests' operator uses (one-time token minted in the CA container,
 * key and CSR made here, /1.0/sign), and writes it under `dir` for tools that
 * read files. The files live under bench/tmp (git-ignored) and are removed
 * with it at the end of the run.
 */
export async function hostIdentity(
  stack: Stack,
  rootPem: string,
  dir: string,
  opts: { commonName: string; dns?: string[]; uris?: string[]; notAfter?: string },
): Promise<HostIdentity> {
  const issued = await enrollHostIdentity(stack.ca, stack.outputs.ca_host_url, rootPem, opts);
  await fs.mkdirp(dir);
  const files = {
    root: path.join(dir, 'root.crt'),
    cert: path.join(dir, 'site.crt'),
    key: path.join(dir, 'site.key'),
    leaf: path.join(dir, 'leaf.crt'),
    chainAndRoot: path.join(dir, 'chain-and-root.crt'),
  };
  const chain = splitPem(issued.certPem);
  await fs.writeFile(files.root, rootPem);
  await fs.writeFile(files.cert, `${chain.join('\n')}\n`);
  await fs.writeFile(files.leaf, `${chain[0]}\n`);
  // openssl s_time loads only the leaf from -cert; OpenSSL then builds the
  // chain it sends from the trust store, so the intermediate goes there too.
  await fs.writeFile(files.chainAndRoot, `${[...chain.slice(1), rootPem.trim()].join('\n')}\n`);
  await fs.writeFile(files.key, issued.keyPem, { mode: 0o600 });
  return { certPem: issued.certPem, keyPem: issued.keyPem, rootPem, serial: issued.serial, notAfter: new Date(new X509Certificate(chain[0]!).validTo), dir, files };
}
