/**
 * The shape check of a mesh read from a file (JSON, YAML, or a module's
 * export): every field known and of the right type, before resolveMesh
 * checks what the values mean. Each error names the entry and the field
 * (`workloads[2] ("go-client"): calls must be a string, got 5`), so a typo in
 * a file of a thousand lines points at its line's neighbourhood.
 */
import type { MeshSpec } from './mesh-spec.js';
import { PROTOCOLS } from './technology.js';

type Check = (value: unknown, where: string) => void;

const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v);
const fail = (where: string, want: string, got: unknown): never => {
  throw new Error(`${where} must be ${want}, got ${show(got)}`);
};
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const string: Check = (v, where) => {
  if (typeof v !== 'string') fail(where, 'a string', v);
};
const integer: Check = (v, where) => {
  if (!Number.isInteger(v)) fail(where, 'an integer', v);
};
const stringList =
  (max: number): Check =>
  (v, where) => {
    if (!Array.isArray(v)) return fail(where, 'a list of strings', v);
    if (v.length > max) fail(where, `a list of at most ${max} strings`, `${v.length} entries`);
    v.forEach((item, i) => string(item, `${where}[${i}]`));
  };
const oneOf =
  (...values: readonly string[]): Check =>
  (v, where) => {
    if (typeof v !== 'string' || !values.includes(v)) fail(where, `one of ${values.join(', ')}`, v);
  };

/** An object with these fields (required ones marked), and no other. */
function record(fields: Readonly<Record<string, Check>>, required: readonly string[] = []): Check {
  return (v, where) => {
    if (!isObject(v)) return fail(where, 'an object', v);
    for (const key of Object.keys(v)) {
      if (!(key in fields)) throw new Error(`${where}: unknown field ${JSON.stringify(key)} (fields: ${Object.keys(fields).join(', ')})`);
    }
    for (const key of required) if (v[key] === undefined) throw new Error(`${where}: ${key} is missing`);
    for (const [key, check] of Object.entries(fields)) if (v[key] !== undefined) check(v[key], `${where}: ${key}`);
  };
}

/** A limit on workloads per mesh: far above what one engine runs, low enough that a hostile file cannot make the checks slow. */
export const MAX_WORKLOADS = 500;

const customImage = record(
  {
    image: string,
    label: string,
    command: stringList(64),
    health: stringList(64),
    identityForm: oneOf('uri', 'dns'),
    protocol: oneOf(...PROTOCOLS),
    memoryMb: integer,
  },
  ['image', 'identityForm', 'protocol'],
);

const runs: Check = (v, where) => (typeof v === 'string' ? undefined : customImage(v, where));

const workload = record(
  {
    name: string,
    runs,
    role: oneOf('server', 'client', 'both'),
    port: integer,
    hostPort: integer,
    allow: stringList(MAX_WORKLOADS + 100),
    calls: string,
    identity: record({ dnsName: string, uri: string }),
    requestIntervalMs: integer,
    processes: integer,
  },
  ['name', 'runs', 'role'],
);

/** Checks that `data` has a mesh's shape and returns it typed; the error names the entry and the field. */
export function checkMeshShape(data: unknown): MeshSpec {
  if (!isObject(data)) return fail('the mesh', 'an object with domain and workloads', data);
  record({ domain: string, operators: stringList(100), workloads: () => undefined }, ['domain', 'workloads'])(data, 'the mesh');
  const list = data.workloads;
  if (!Array.isArray(list)) return fail('workloads', 'a list', list);
  if (list.length > MAX_WORKLOADS) fail('workloads', `a list of at most ${MAX_WORKLOADS}`, `${list.length} entries`);
  list.forEach((w, i) => {
    const name = isObject(w) && typeof w.name === 'string' ? ` (${JSON.stringify(w.name)})` : '';
    workload(w, `workloads[${i}]${name}`);
  });
  return data as unknown as MeshSpec;
}
