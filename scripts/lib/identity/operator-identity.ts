/**
 * Host identities for operators (`npm run issue-cert`): the key is made on
 * the host (0600) and never leaves it, the one-time token is minted inside
 * the CA container, the certificate comes from the CA (host-identity.ts).
 * Files are named like the workloads' (root.crt, site.crt, site.key), and
 * the lines that call each server of the mesh with them are made here too.
 */
import { X509Certificate } from 'node:crypto';
import path from 'node:path';

import { fs } from 'zx';

import { GRPC_WHOAMI } from '../../../common/facts.js';
import { DEFAULT_MESH } from '../../../mesh.js';
import { identityOf, isMeshName } from '../../../stack/mesh-spec.js';
import { STARTTLS } from '../../../stack/technology.js';
import { kubectlArgv } from '../admin/channel.js';
import { withCaHostUrl } from '../ca/host-url.js';
import { UserError } from '../cli/ui.js';
import { type OperatorOutput, stackDirs, type StackOutputs, type WorkloadOutput } from '../deploy/stack-instance.js';
import type { Stack } from '../workloads/handles.js';
import { type HostIdentity, writeHostIdentity } from './host-identity.js';
import { fingerprintOf, normaliseFingerprint, splitPem } from './pki.js';

/** The identity a name gets in this mesh: the same rule as the workloads' (stack/mesh-spec.ts). */
export function operatorIdentity(outputs: StackOutputs, name: string): OperatorOutput {
  if (!isMeshName(name)) throw new UserError(`NAME must be 1-31 lower-case letters, digits and dashes starting with a letter, got ${JSON.stringify(name)}`);
  const known = outputs.operators.find((o) => o.name === name) ?? outputs.workloads.find((w) => w.name === name);
  if (known) return { name, dns_name: known.dns_name, uri: known.uri };
  const id = identityOf(name, outputs.domain ?? DEFAULT_MESH.domain);
  return { name, dns_name: id.dnsName, uri: id.uri };
}

/** The default place for an operator's files: beside the stack's state, out of git. */
export function defaultOutDir(prefix: string, name: string): string {
  return path.join(stackDirs(prefix).stateDir, 'identities', name);
}

/** The root the host pinned at bootstrap (bootstrap-trust): never one fetched without its fingerprint. */
export async function pinnedRoot(prefix: string): Promise<{ rootPem: string; fingerprint: string }> {
  const { defaults } = stackDirs(prefix).hostStep;
  if (!(await fs.pathExists(defaults))) throw new UserError(`stack "${prefix}" has no pinned root on this host: run npm run bootstrap-trust first`);
  // During a root rotation the file holds both roots and `fingerprints` pins both.
  const { fingerprint, fingerprints, root } = (await fs.readJson(defaults)) as { fingerprint: string; fingerprints?: string[]; root: string };
  const pinned = new Set((fingerprints ?? [fingerprint]).map(normaliseFingerprint));
  const rootPem = await fs.readFile(root, 'utf8');
  const roots = splitPem(rootPem);
  if (roots.length === 0 || roots.some((r) => !pinned.has(fingerprintOf(new X509Certificate(r))))) {
    throw new UserError(`${root} holds a root not pinned in ${defaults}: run npm run bootstrap-trust again`);
  }
  return { rootPem, fingerprint };
}

export async function issueOperatorCert(
  stack: Stack,
  name: string,
  opts: { outDir?: string; lifetime?: string } = {},
): Promise<{ identity: OperatorOutput; issued: HostIdentity }> {
  const identity = operatorIdentity(stack.outputs, name);
  const { rootPem } = await pinnedRoot(stack.prefix);
  const dir = path.resolve(opts.outDir ?? defaultOutDir(stack.prefix, name));
  // On Kubernetes the CA's API is reached over a loopback port forwarded for the call.
  const issued = await withCaHostUrl(stack.outputs, (caUrl) =>
    writeHostIdentity(stack.ca, caUrl, rootPem, dir, {
      commonName: identity.dns_name,
      dns: [identity.dns_name],
      uris: [identity.uri],
      notAfter: opts.lifetime,
    }),
  );
  return { identity, issued };
}

/**
 * The servers an operator can call from this host, each at the loopback port
 * its calls go to: the published one on Docker; on Kubernetes, where nothing
 * is published, the one `forwardLine` forwards to its Service (the mesh's
 * host port, else its own).
 */
export function hostReachable(outputs: StackOutputs): WorkloadOutput[] {
  if (!outputs.cluster) return outputs.workloads.filter((w) => w.host_port);
  return outputs.workloads.filter((w) => w.port).map((w) => ({ ...w, host_port: w.host_port || w.port }));
}

/** On Kubernetes: the command that forwards the server's loopback port (hostReachable) to its Service, to run beside the calls. */
export function forwardLine(outputs: StackOutputs, w: WorkloadOutput): string | undefined {
  const c = outputs.cluster;
  if (!c) return undefined;
  const access = { bin: c.kubectl, ...(c.kubeconfig ? { kubeconfig: c.kubeconfig } : {}), ...(c.context ? { context: c.context } : {}) };
  const argv = kubectlArgv(access, ['port-forward', '--namespace', outputs.prefix, '--address', '127.0.0.1', `service/${w.name}`, `${w.host_port}:${w.port}`]);
  return `${argv.map(q).join(' ')} &`;
}

export interface CallLine {
  readonly workload: string;
  readonly allowed: boolean;
  readonly command: string;
}

const q = (s: string) => (/^[A-Za-z0-9_./:@=,+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The exact command that calls one published server from the host with these files. */
export function callLine(w: WorkloadOutput, dir: string, operator: string): CallLine {
  const f = (n: string) => q(path.join(dir, n));
  const allowed = w.allow.includes(operator);
  if (w.protocol === 'postgres') {
    // hostaddr connects; host is the name verify-full checks against the server's certificate.
    const conn = `host=${w.dns_name} hostaddr=127.0.0.1 port=${w.host_port} dbname=mesh user=${operator} sslmode=verify-full sslrootcert=${path.join(dir, 'root.crt')} sslcert=${path.join(dir, 'site.crt')} sslkey=${path.join(dir, 'site.key')}`;
    return { workload: w.name, allowed, command: `psql ${q(conn)} -c 'select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()'` };
  }
  if (w.protocol === 'mysql') {
    // The mariadb client checks the server's certificate against --host: the name has to resolve to 127.0.0.1 here.
    const tls = `--ssl --ssl-verify-server-cert --ssl-ca=${f('root.crt')} --ssl-cert=${f('site.crt')} --ssl-key=${f('site.key')}`;
    return {
      workload: w.name,
      allowed,
      command: `mariadb --host=${w.dns_name} --port=${w.host_port} --user=${operator} ${tls} -e 'select current_user()'  # ${w.dns_name} must resolve to 127.0.0.1`,
    };
  }
  if (w.protocol === 'redis') {
    // redis-cli checks the chain, not the name (recipes/redis/README.md): openssl's line below checks both.
    const tls = `--tls --sni ${w.dns_name} --cacert ${f('root.crt')} --cert ${f('site.crt')} --key ${f('site.key')}`;
    return { workload: w.name, allowed, command: `redis-cli ${tls} -h 127.0.0.1 -p ${w.host_port} ACL WHOAMI` };
  }
  // --connect-to keeps the URL (and so the name checked) the server's own DNS name.
  const curl = `curl --cacert ${f('root.crt')} --cert ${f('site.crt')} --key ${f('site.key')} --connect-to ${q(`${w.dns_name}:${w.port}:127.0.0.1:${w.host_port}`)}`;
  if (w.protocol === 'grpc') {
    // One unary call in gRPC's frame (0, a 4-byte length, the JSON message {}) over HTTP/2; the reply is framed too.
    const call = `--http2 -H 'content-type: application/grpc+json' -H 'te: trailers' --data-binary @- --output - https://${w.dns_name}:${w.port}${GRPC_WHOAMI}`;
    return { workload: w.name, allowed, command: `printf '\\0\\0\\0\\0\\2{}' | ${curl} ${call}` };
  }
  return {
    workload: w.name,
    allowed,
    command: `${curl} https://${w.dns_name}:${w.port}/`,
  };
}

/** openssl s_client: the handshake and the certificate a server presents. */
export function opensslLine(w: WorkloadOutput, dir: string): string {
  const f = (n: string) => q(path.join(dir, n));
  const starttls = STARTTLS[w.protocol] ? ` -starttls ${STARTTLS[w.protocol]}` : '';
  return `openssl s_client -connect 127.0.0.1:${w.host_port} -servername ${w.dns_name} -verify_hostname ${w.dns_name} -CAfile ${f('root.crt')} -cert ${f('site.crt')} -key ${f('site.key')}${starttls} </dev/null`;
}
