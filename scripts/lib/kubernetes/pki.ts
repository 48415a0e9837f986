/**
 * The local cluster's own certificates: one CA, a serving certificate for
 * each TLS server (apiserver, etcd, kubelet), a client certificate for each
 * caller, and the service-account signing key pair. Made with the openssl
 * CLI in the cache's state directory; keys never leave it (mode 0600, the
 * directory 0700) and are never on a command line. This PKI has nothing to
 * do with the mesh's step-ca: it only lets the cluster's components trust
 * each other.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import path from 'node:path';

import { $, fs } from 'zx';

import { UserError } from '../cli/ui.js';
import { CLUSTER_NAME, LOOPBACK, NETWORK, NODE_NAME } from './layout.js';

export interface CertSpec {
  /** File stem: `<name>.crt`, `<name>.key`. */
  readonly name: string;
  readonly commonName: string;
  readonly organization?: string;
  readonly usage: 'server' | 'client';
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
}

/** The user the apiserver is when it calls the kubelet (exec, logs): bound to system:kubelet-api-admin at bring-up. */
export const APISERVER_KUBELET_CLIENT = 'kube-apiserver-kubelet-client';
export const CA_DAYS = 3650;
export const LEAF_DAYS = 365;

const API_DNS = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local', 'localhost'];

/** Every certificate the cluster uses, by file stem. */
export const CERTS: readonly CertSpec[] = [
  { name: 'apiserver', commonName: 'kube-apiserver', usage: 'server', dnsNames: API_DNS, ips: [LOOPBACK, NETWORK.apiServiceIp] },
  { name: 'etcd-server', commonName: 'etcd', usage: 'server', dnsNames: ['localhost'], ips: [LOOPBACK] },
  { name: 'kubelet-server', commonName: NODE_NAME, usage: 'server', dnsNames: [NODE_NAME, 'localhost'], ips: [LOOPBACK, NETWORK.nodeIp] },
  { name: 'apiserver-etcd-client', commonName: 'kube-apiserver-etcd-client', usage: 'client' },
  { name: 'apiserver-kubelet-client', commonName: APISERVER_KUBELET_CLIENT, usage: 'client' },
  { name: 'admin', commonName: `${CLUSTER_NAME}-admin`, organization: 'system:masters', usage: 'client' },
  { name: 'controller-manager', commonName: 'system:kube-controller-manager', usage: 'client' },
  { name: 'scheduler', commonName: 'system:kube-scheduler', usage: 'client' },
  { name: 'kubelet-client', commonName: `system:node:${NODE_NAME}`, organization: 'system:nodes', usage: 'client' },
  { name: 'kube-proxy', commonName: 'system:kube-proxy', usage: 'client' },
];

/** The openssl subject of a spec (`/O=…/CN=…`). */
export function subjectOf(spec: Pick<CertSpec, 'commonName' | 'organization'>): string {
  const esc = (v: string) => v.replace(/[/\\]/g, '\\$&');
  return `${spec.organization ? `/O=${esc(spec.organization)}` : ''}/CN=${esc(spec.commonName)}`;
}

/** The X.509 v3 extensions of a leaf, as an openssl `-extfile`. */
export function leafExtensions(spec: CertSpec): string {
  const lines = [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature',
    `extendedKeyUsage = ${spec.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
  ];
  const sans = [...(spec.dnsNames ?? []).map((d) => `DNS:${d}`), ...(spec.ips ?? []).map((ip) => `IP:${ip}`)];
  if (sans.length) lines.push(`subjectAltName = ${sans.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

export const pkiFiles = (dir: string, name: string) => ({ cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) });

const openssl = $({ quiet: true, nothrow: true, timeout: '60s' });

async function run(what: string, cmd: Promise<{ exitCode: number | null; stderr: string }>): Promise<void> {
  const out = await cmd;
  if (out.exitCode !== 0) throw new UserError(`openssl could not ${what}: ${out.stderr.trim()}`);
}

async function newKey(file: string): Promise<void> {
  const partial = `${file}.partial`;
  await run(`create ${path.basename(file)}`, openssl`umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ${partial}`);
  await fs.chmod(partial, 0o600);
  await fs.move(partial, file, { overwrite: true });
}

async function newCa(dir: string): Promise<void> {
  const ca = pkiFiles(dir, 'ca');
  await newKey(ca.key);
  await run(
    'create the cluster CA',
    openssl`openssl req -x509 -new -key ${ca.key} -sha256 -days ${CA_DAYS} -subj ${subjectOf({ commonName: `${CLUSTER_NAME}-ca` })} -addext ${'basicConstraints=critical,CA:TRUE'} -addext ${'keyUsage=critical,keyCertSign,cRLSign'} -out ${ca.cert}`,
  );
}

async function newLeaf(dir: string, spec: CertSpec): Promise<void> {
  const ca = pkiFiles(dir, 'ca');
  const files = pkiFiles(dir, spec.name);
  const csr = path.join(dir, `${spec.name}.csr`);
  const ext = path.join(dir, `${spec.name}.ext`);
  await newKey(files.key);
  await fs.writeFile(ext, leafExtensions(spec));
  try {
    await run(`request ${spec.name}`, openssl`openssl req -new -key ${files.key} -subj ${subjectOf(spec)} -out ${csr}`);
    const serial = `0x${randomBytes(16).toString('hex')}`;
    await run(
      `sign ${spec.name}`,
      openssl`openssl x509 -req -in ${csr} -CA ${ca.cert} -CAkey ${ca.key} -set_serial ${serial} -sha256 -days ${LEAF_DAYS} -extfile ${ext} -out ${files.cert}`,
    );
  } finally {
    await fs.remove(csr);
    await fs.remove(ext);
  }
}

/** The service-account token signing key pair (`sa.key`, `sa.pub`). */
async function newServiceAccountKeys(dir: string): Promise<void> {
  const key = path.join(dir, 'sa.key');
  await newKey(key);
  await run('derive sa.pub', openssl`openssl pkey -in ${key} -pubout -out ${path.join(dir, 'sa.pub')}`);
}

/** Days before expiry at which `ensurePki` issues a certificate again. */
export const RENEW_WITHIN_DAYS = 30;

/** The subjectAltName Node prints for a spec (`DNS:a, IP Address:b`). */
export function expectedSans(spec: CertSpec): string | undefined {
  const sans = [...(spec.dnsNames ?? []).map((d) => `DNS:${d}`), ...(spec.ips ?? []).map((ip) => `IP Address:${ip}`)];
  return sans.length ? sans.join(', ') : undefined;
}

/** Whether a leaf on disk still matches its spec, is signed by `ca` and is not about to expire. */
export function leafCurrent(spec: CertSpec, certPem: string, ca: X509Certificate, now = new Date()): boolean {
  const cert = new X509Certificate(certPem);
  const renewAt = new Date(cert.validTo).getTime() - RENEW_WITHIN_DAYS * 86_400_000;
  const subject = [spec.organization ? `O=${spec.organization}` : undefined, `CN=${spec.commonName}`].filter(Boolean).join('\n');
  return cert.checkIssued(ca) && cert.verify(ca.publicKey) && cert.subject === subject && cert.subjectAltName === expectedSans(spec) && now.getTime() < renewAt;
}

async function leafOnDisk(dir: string, spec: CertSpec, ca: X509Certificate): Promise<boolean> {
  const f = pkiFiles(dir, spec.name);
  if (!(await fs.pathExists(f.cert)) || !(await fs.pathExists(f.key))) return false;
  return leafCurrent(spec, await fs.readFile(f.cert, 'utf8'), ca);
}

/**
 * Creates whatever is missing or stale: the CA first (a new CA re-issues
 * every leaf), then each leaf whose names changed or that nears expiry, then
 * the service-account keys. Returns the names it made.
 */
export async function ensurePki(dir: string, specs: readonly CertSpec[] = CERTS): Promise<string[]> {
  await fs.mkdirp(dir);
  await fs.chmod(dir, 0o700);
  const made: string[] = [];
  const ca = pkiFiles(dir, 'ca');
  const freshCa = !(await fs.pathExists(ca.cert)) || !(await fs.pathExists(ca.key));
  if (freshCa) {
    await newCa(dir);
    made.push('ca');
  }
  const caCert = new X509Certificate(await fs.readFile(ca.cert));
  for (const spec of specs) {
    if (freshCa || !(await leafOnDisk(dir, spec, caCert))) {
      await newLeaf(dir, spec);
      made.push(spec.name);
    }
  }
  if (!(await fs.pathExists(path.join(dir, 'sa.pub')))) {
    await newServiceAccountKeys(dir);
    made.push('sa');
  }
  return made;
}
