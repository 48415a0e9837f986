/**
 * The mesh as data: which workloads exist, what each runs, and who may call
 * whom. `mesh.ts` at the top of the project holds the default; this module
 * checks a spec and resolves it into what the constructs need (identities,
 * allow-lists in each technology's form, call targets). It throws plain
 * errors that name the workload and show the bad value.
 */
import { MAX_SERVER_PROCESSES } from '../common/facts.js';
import { type IdentityForm, type Protocol, TECHNOLOGIES, type Technology, type TechnologyName, type WorkloadRole } from './technologies.js';

/** Any image the user names, instead of one of the project's technologies. */
export interface CustomImage {
  /** An image reference, pulled (or found locally) by Docker. */
  readonly image: string;
  readonly label?: string;
  /** @default the image's own */
  readonly command?: readonly string[];
  /** Docker health check, e.g. `['CMD', '/bin/healthy']`. @default the image's own */
  readonly health?: readonly string[];
  /** The certificate field the image authorises callers by (ALLOWED_IDENTITIES is given in this form). */
  readonly identityForm: IdentityForm;
  readonly protocol: Protocol;
  /** @default 192 */
  readonly memoryMb?: number;
}

export interface WorkloadSpec {
  /** Unique in the mesh; names its containers and volumes, and its identity unless `identity` is set. */
  readonly name: string;
  /** A technology of the project (recipes/, services/) or an image of your own. */
  readonly runs: TechnologyName | CustomImage;
  readonly role: WorkloadRole;
  /** The mTLS port in the mesh (servers). */
  readonly port?: number;
  /** Publish the mTLS port on 127.0.0.1:hostPort (servers). @default not published */
  readonly hostPort?: number;
  /** Names of the workloads and operators that may call this one (servers). */
  readonly allow?: readonly string[];
  /** The workload this one calls (clients, and proxies). */
  readonly calls?: string;
  /** @default `<name>.<domain>` and `spiffe://<domain>/<name>` */
  readonly identity?: { readonly dnsName?: string; readonly uri?: string };
  /** Time between calls, for clients of the project's technologies. @default 500 (Node: 200) */
  readonly requestIntervalMs?: number;
  /**
   * Node server only: processes sharing its mTLS port (node:cluster), one per
   * core to use every core for handshakes; the container's memory limit
   * grows with them. @default 1
   */
  readonly processes?: number;
}

export interface MeshSpec {
  /** The DNS domain of the mesh; also the SPIFFE trust domain. */
  readonly domain: string;
  readonly workloads: readonly WorkloadSpec[];
  /**
   * Host identities that operators get with `npm run issue-cert -- NAME`:
   * names allowed in `allow`, with the same identity rule as workloads.
   */
  readonly operators?: readonly string[];
}

export interface Identity {
  /** Name in the mesh (workload or operator). */
  readonly name: string;
  readonly dnsName: string;
  readonly uri: string;
}

export interface ResolvedWorkload {
  readonly name: string;
  readonly role: WorkloadRole;
  /** The technology's name, or `image` for a custom image. */
  readonly technologyName: TechnologyName | 'image';
  readonly technology: Technology | undefined;
  readonly custom: CustomImage | undefined;
  readonly identityForm: IdentityForm;
  readonly protocol: Protocol;
  readonly identity: Identity;
  readonly port: number | undefined;
  readonly hostPort: number | undefined;
  /** The callers this workload accepts. */
  readonly allowed: readonly Identity[];
  /** The workload this one calls. */
  readonly target: { readonly identity: Identity; readonly port: number } | undefined;
  readonly requestIntervalMs: number | undefined;
  /** Server processes on the mTLS port (Node server); 1 elsewhere. */
  readonly processes: number;
}

export interface ResolvedMesh {
  readonly domain: string;
  readonly workloads: readonly ResolvedWorkload[];
  readonly operators: readonly Identity[];
}

const NAME_RULE = /^[a-z][a-z0-9-]{0,30}$/;
/** The rule for workload and operator names (they name containers, volumes, directories and identities). */
export const isMeshName = (name: string): boolean => NAME_RULE.test(name);
const isServer = (role: WorkloadRole) => role === 'server' || role === 'both';
const isClient = (role: WorkloadRole) => role === 'client' || role === 'both';

export function validPort(what: string, port: unknown): number {
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
    throw new Error(`${what} must be an integer between 1 and 65535, got ${JSON.stringify(port)}`);
  }
  return port as number;
}

/** The identity the CA may issue in this mesh: DNS names under the domain, SPIFFE URIs of its trust domain. */
export function identityOf(name: string, domain: string, given: WorkloadSpec['identity'] = {}): Identity {
  const dnsName = given.dnsName ?? `${name}.${domain}`;
  const uri = given.uri ?? `spiffe://${domain}/${name}`;
  if (!dnsName.endsWith(`.${domain}`) || !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(dnsName)) {
    throw new Error(`workload "${name}": identity.dnsName must be a DNS name under ${domain} (the CA's policy), got ${JSON.stringify(dnsName)}`);
  }
  if (!uri.startsWith(`spiffe://${domain}/`) || !/^spiffe:\/\/[a-z0-9.-]+\/[A-Za-z0-9._~/-]+$/.test(uri)) {
    throw new Error(`workload "${name}": identity.uri must be a SPIFFE ID of trust domain ${domain} (spiffe://${domain}/...), got ${JSON.stringify(uri)}`);
  }
  return { name, dnsName, uri };
}

/** An identity in the form a technology checks it. */
export function identityIn(form: IdentityForm, id: Identity): string {
  return form === 'uri' ? id.uri : id.dnsName;
}

/**
 * Checks a mesh and resolves it. `hostPorts` overrides workloads' host ports
 * by name (test stacks use free ports); `reservedHostPorts` are taken by
 * something else on 127.0.0.1 (the CA).
 */
export function resolveMesh(
  spec: MeshSpec,
  opts: { hostPorts?: Readonly<Record<string, number>>; reservedHostPorts?: Readonly<Record<string, number>> } = {},
): ResolvedMesh {
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(spec.domain)) {
    throw new Error(`mesh domain must be a DNS name with at least two labels, got ${JSON.stringify(spec.domain)}`);
  }
  if (spec.workloads.length === 0) throw new Error('the mesh has no workloads');
  const seen = new Set<string>();
  for (const name of [...spec.workloads.map((w) => w.name), ...(spec.operators ?? [])]) {
    if (!NAME_RULE.test(name))
      throw new Error(`workload and operator names must be 1-31 lower-case letters, digits and dashes starting with a letter, got ${JSON.stringify(name)}`);
    if (seen.has(name)) throw new Error(`the name "${name}" is used twice in the mesh (workload and operator names are unique)`);
    seen.add(name);
  }
  for (const name of Object.keys(opts.hostPorts ?? {})) {
    if (!spec.workloads.some((w) => w.name === name)) throw new Error(`hostPorts names "${name}", which is not a workload of the mesh`);
  }

  const byName = new Map(spec.workloads.map((w) => [w.name, w]));
  const identities = new Map<string, Identity>();
  for (const w of spec.workloads) identities.set(w.name, identityOf(w.name, spec.domain, w.identity));
  const operators = (spec.operators ?? []).map((name) => identityOf(name, spec.domain));
  for (const o of operators) identities.set(o.name, o);
  const dnsNames = new Map<string, string>();
  for (const id of identities.values()) {
    const other = dnsNames.get(id.dnsName);
    if (other) throw new Error(`workloads "${other}" and "${id.name}" have the same DNS name ${id.dnsName}`);
    dnsNames.set(id.dnsName, id.name);
  }

  const hostPortOwners = new Map<number, string>(Object.entries(opts.reservedHostPorts ?? {}).map(([who, port]) => [port, who]));
  const workloads = spec.workloads.map((w): ResolvedWorkload => {
    const where = `workload "${w.name}"`;
    const custom = typeof w.runs === 'string' ? undefined : w.runs;
    const tech = typeof w.runs === 'string' ? (TECHNOLOGIES as Record<string, Technology>)[w.runs] : undefined;
    if (typeof w.runs === 'string' && !tech) {
      throw new Error(
        `${where}: runs ${JSON.stringify(w.runs)}, which is not a technology of the project (${Object.keys(TECHNOLOGIES).join(', ')}) or an image`,
      );
    }
    if (custom && (typeof custom.image !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._/:@-]*$/.test(custom.image))) {
      throw new Error(`${where}: runs.image must be an image reference, got ${JSON.stringify(custom.image)}`);
    }
    if (!['server', 'client', 'both'].includes(w.role)) throw new Error(`${where}: role must be server, client or both, got ${JSON.stringify(w.role)}`);
    if (tech && !tech.roles.includes(w.role)) throw new Error(`${where}: ${tech.label} (${w.runs as string}) can be ${tech.roles.join(' or ')}, not ${w.role}`);
    const protocol = tech?.protocol ?? custom!.protocol;
    const identityForm = tech?.identityForm ?? custom!.identityForm;

    let port: number | undefined;
    let hostPort: number | undefined;
    let allowed: Identity[] = [];
    if (isServer(w.role)) {
      port = validPort(`${where}: port`, w.port);
      const published = opts.hostPorts?.[w.name] ?? w.hostPort;
      if (published !== undefined) {
        hostPort = validPort(`${where}: hostPort`, published);
        const owner = hostPortOwners.get(hostPort);
        if (owner) throw new Error(`${where}: hostPort ${hostPort} is already taken by ${owner}`);
        hostPortOwners.set(hostPort, `workload "${w.name}"`);
      }
      if (!w.allow?.length) throw new Error(`${where}: a server needs an allow-list (allow: names of the workloads and operators that may call it)`);
      allowed = w.allow.map((caller) => {
        const id = identities.get(caller);
        if (!id) throw new Error(`${where}: allow names "${caller}", which is neither a workload nor an operator of the mesh`);
        if (caller === w.name) throw new Error(`${where}: allow names the workload itself`);
        return id;
      });
      if (new Set(w.allow).size !== w.allow.length) throw new Error(`${where}: allow lists a caller twice`);
    } else {
      for (const field of ['port', 'hostPort', 'allow'] as const) {
        if (w[field] !== undefined) throw new Error(`${where}: ${field} is for servers; this workload's role is ${w.role}`);
      }
    }

    let target: ResolvedWorkload['target'];
    if (isClient(w.role)) {
      if (!w.calls) throw new Error(`${where}: a ${w.role} needs calls (the workload it calls)`);
      const callee = byName.get(w.calls);
      if (!callee) throw new Error(`${where}: calls "${w.calls}", which is not a workload of the mesh`);
      if (!isServer(callee.role)) throw new Error(`${where}: calls "${w.calls}", which is not a server`);
      if (!callee.allow?.includes(w.name)) throw new Error(`${where}: calls "${w.calls}", whose allow-list does not name "${w.name}"`);
      const calleeProtocol = typeof callee.runs === 'string' ? (TECHNOLOGIES as Record<string, Technology>)[callee.runs]?.protocol : callee.runs.protocol;
      if (calleeProtocol !== protocol) throw new Error(`${where}: speaks ${protocol} but "${w.calls}" speaks ${calleeProtocol}`);
      target = { identity: identities.get(callee.name)!, port: validPort(`workload "${callee.name}": port`, callee.port) };
    } else if (w.calls !== undefined) {
      throw new Error(`${where}: calls is for clients; this workload's role is ${w.role}`);
    }
    if (w.requestIntervalMs !== undefined && (!Number.isInteger(w.requestIntervalMs) || w.requestIntervalMs < 50 || w.requestIntervalMs > 60_000)) {
      throw new Error(`${where}: requestIntervalMs must be an integer between 50 and 60000, got ${JSON.stringify(w.requestIntervalMs)}`);
    }

    if (w.processes !== undefined) {
      if (w.runs !== 'node-server')
        throw new Error(`${where}: processes is for the Node server (node-server); this workload runs ${typeof w.runs === 'string' ? w.runs : 'an image'}`);
      if (!Number.isInteger(w.processes) || w.processes < 1 || w.processes > MAX_SERVER_PROCESSES) {
        throw new Error(`${where}: processes must be an integer between 1 and ${MAX_SERVER_PROCESSES}, got ${JSON.stringify(w.processes)}`);
      }
    }

    return {
      name: w.name,
      role: w.role,
      technologyName: typeof w.runs === 'string' ? w.runs : 'image',
      technology: tech,
      custom,
      identityForm,
      protocol,
      identity: identities.get(w.name)!,
      port,
      hostPort,
      allowed,
      target,
      requestIntervalMs: w.requestIntervalMs,
      processes: w.processes ?? 1,
    };
  });
  return { domain: spec.domain, workloads, operators };
}

/**
 * The part of a mesh named by `names` (MTLS_WORKLOADS): allow-list entries
 * naming a workload left out are dropped; a kept client whose server is
 * left out is an error.
 */
export function selectWorkloads(spec: MeshSpec, names: readonly string[] | undefined): MeshSpec {
  if (!names?.length) return spec;
  const known = new Set(spec.workloads.map((w) => w.name));
  for (const n of names) if (!known.has(n)) throw new Error(`MTLS_WORKLOADS names "${n}", which is not a workload of the mesh (${[...known].join(', ')})`);
  const kept = new Set(names);
  const operators = new Set(spec.operators ?? []);
  const workloads = spec.workloads
    .filter((w) => kept.has(w.name))
    .map((w) => {
      if (w.calls && !kept.has(w.calls)) throw new Error(`MTLS_WORKLOADS keeps "${w.name}" but not "${w.calls}", which it calls`);
      return w.allow ? { ...w, allow: w.allow.filter((a) => kept.has(a) || operators.has(a)) } : w;
    });
  return { ...spec, workloads };
}

/** The names of the workloads that publish a port on 127.0.0.1. */
export function publishedWorkloads(spec: MeshSpec): string[] {
  return spec.workloads.filter((w) => w.hostPort !== undefined).map((w) => w.name);
}
