/**
 * The CDKTF app. Environment is read here and only here; everything below
 * takes typed props. `npm run deploy` (scripts/cdktf.ts) sets the base images
 * from the toolchain; the defaults are the official images.
 */
import { App } from 'cdktf';
import { MtlsStack } from './stack/mtls-stack.js';
import { parseIacEngine, resolvePrefix } from './stack/names.js';
import { OFFICIAL_IMAGES } from './stack/versions.js';

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
  stepCaBaseImage: env.MTLS_STEP_CA_BASE_IMAGE || OFFICIAL_IMAGES.stepCa,
  nodeBaseImage: env.MTLS_NODE_BASE_IMAGE || OFFICIAL_IMAGES.node,
  minCertLifetime: env.MTLS_MIN_CERT_LIFETIME || undefined,
  defaultCertLifetime: env.MTLS_CERT_LIFETIME || undefined,
  maxCertLifetime: env.MTLS_MAX_CERT_LIFETIME || undefined,
  caHostPort: int('MTLS_CA_PORT'),
  serviceHostPort: int('MTLS_SERVICE_PORT'),
  clientRequestRate: int('MTLS_CLIENT_RATE'),
  extraAllowedIdentities: env.MTLS_EXTRA_ALLOWED_IDENTITIES?.split(',').filter(Boolean),
  // Set by the scripts to the engine they run (recorded in the state).
  iacEngine: parseIacEngine(env.MTLS_IAC),
  owner: env.MTLS_OWNER || undefined,
});
app.synth();
