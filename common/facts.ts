/**
 * Facts the stack, the scripts, the services and the tests share: paths in
 * the containers, file names, ports, label names, and the shape of the
 * recipes' stats file. No imports, so anything may depend on this module.
 */
export const PROJECT = 'mtls-reference';

/** Where every app and renewer finds its credentials (the certs volume). */
export const CERT_DIR = '/var/run/step';
/** The fixed, boring file names in CERT_DIR. */
export const CERT_FILES = { root: 'root.crt', cert: 'site.crt', key: 'site.key' } as const;
/** The app's trust configuration (the root pin): its own volume, read-only in the app, absent from the renewer. */
export const TRUST_DIR = '/var/run/mtls-trust';
/** SHA-256 fingerprints of the roots the app may trust, one per line; written by bootstrap-trust. */
export const ROOT_PIN_FILE = `${TRUST_DIR}/root-fingerprints`;
/** The recipes' stats file (recipes/README.md), on the /tmp tmpfs every app container has. */
export const STATS_FILE = '/tmp/mtls-stats.json';

/** The most Node server processes one container may run on its mTLS port (WORKERS; mesh `processes`). */
export const MAX_SERVER_PROCESSES = 64;

/** The gRPC recipe's one method (recipes/go/grpc/service.go), as the e2e caller and issue-cert's printed line call it. */
export const GRPC_WHOAMI = '/mtls.reference.Mesh/Whoami';

/** step-ca's API port in the mesh. */
export const CA_PORT = 9000;
/** $STEPPATH in the step images (the CA volume in the CA container). */
export const STEPPATH = '/home/step';
/** Where the CA's init and rotation jobs mount the root-key volume (never the serving CA). */
export const ROOT_KEY_DIR = '/var/lib/step-ca-root';

/** Docker labels on every resource of a stack. */
export const LABEL = {
  project: `io.${PROJECT}.project`,
  prefix: `io.${PROJECT}.prefix`,
  role: `io.${PROJECT}.role`,
  workload: `io.${PROJECT}.workload`,
  /** The technology a workload's app runs (`nginx`, `node-server`, … or `image`). */
  technology: `io.${PROJECT}.technology`,
  dnsName: `io.${PROJECT}.identity.dns`,
  uri: `io.${PROJECT}.identity.uri`,
  /** The run that owns a throw-away stack (the e2e suite's `host/pid/run`): its leftovers are removed only once that run is gone. */
  owner: `io.${PROJECT}.owner`,
} as const;

/** What a recipe writes to STATS_FILE (recipes/README.md); a field it cannot know is absent. */
export interface RecipeStats {
  readonly technology?: string;
  readonly role?: 'server' | 'client' | 'both';
  /** waiting, serving, calling, failing, or a word of the recipe's own. */
  readonly state?: string;
  /** Upper-case hex, no leading zeros. */
  readonly serial?: string;
  readonly notAfter?: string;
  readonly reloads?: number;
  readonly failedReloads?: number;
  readonly lastReloadAt?: string | null;
  /** A client's calls: ok, failed, retried within a call, and retried while its server had never answered yet (start-up). */
  readonly requests?: {
    readonly ok?: number;
    readonly failed?: number;
    readonly refused?: number;
    readonly retries?: number;
    readonly startupRetries?: number;
  };
  readonly lastError?: string | null;
  readonly updatedAt?: string;
}

/** The cdktf context key (CDKTF_CONTEXT_JSON) by which the scripts label a test run's throw-away stack with its owner. */
export const OWNER_CONTEXT = 'owner';
