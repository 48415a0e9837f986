/**
 * The CDKTF app. Environment is read here and only here; everything below
 * takes typed props. `npm run deploy` (scripts/cdktf.ts) sets the base images
 * from the toolchain; the defaults are the official images.
 */
import { App } from 'cdktf';
import { DEFAULT_MESH } from './mesh.js';
import { selectWorkloads } from './stack/mesh-spec.js';
import { MtlsStack } from './stack/mtls-stack.js';
import { parseHostPorts, parseIacEngine, resolvePrefix } from './stack/names.js';
import { BASE_IMAGE_KEYS, baseImageEnvName, OFFICIAL_IMAGES, type BaseImages } from './stack/versions.js';

const env = process.env;
const int = (name: string): number | undefined => {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n)) throw new Error(`${name} must be an integer, got "${raw}"`);
  return n;
};

const prefix = resolvePrefix(undefined, env.MTLS_PREFIX);
const app = new App();
new MtlsStack(app, prefix, {
  namePrefix: prefix,
  projectDir: import.meta.dirname,
  mesh: selectWorkloads(DEFAULT_MESH, env.MTLS_WORKLOADS?.split(',').map((n) => n.trim()).filter(Boolean)),
  baseImages: Object.fromEntries(BASE_IMAGE_KEYS.map((k) => [k, env[baseImageEnvName(k)] || OFFICIAL_IMAGES[k]])) as unknown as BaseImages,
  minCertLifetime: env.MTLS_MIN_CERT_LIFETIME || undefined,
  defaultCertLifetime: env.MTLS_CERT_LIFETIME || undefined,
  maxCertLifetime: env.MTLS_MAX_CERT_LIFETIME || undefined,
  caHostPort: int('MTLS_CA_PORT'),
  hostPorts: parseHostPorts(env.MTLS_HOST_PORTS),
  clientRequestRate: int('MTLS_CLIENT_RATE'),
  // Set by the scripts to the engine they run (recorded in the state).
  iacEngine: parseIacEngine(env.MTLS_IAC),
  owner: env.MTLS_OWNER || undefined,
});
app.synth();
