/**
 * What the stack knows about each technology a workload can run: where its
 * image is built from, how it is started and health-checked, which roles it
 * can play, which protocol it speaks and which certificate field it checks
 * for identity. The mesh file names a technology per workload; nothing here
 * knows about a particular workload.
 */
import {
  HEALTH_CHECK,
  type IdentityForm,
  imageFolder,
  type ImageRecipe,
  mtlsHealth,
  NODE_IMAGE,
  type Protocol,
  shellRecipe,
  type Technology,
  type WorkloadRole,
} from './technology.js';

export { HEALTH_CHECK, imageFolder };
export type { IdentityForm, ImageRecipe, Protocol, Technology, WorkloadRole };

/** A workload of the project's Node image (services/): its bundle, health from the admin port. */
const nodeApp = (label: string, role: WorkloadRole, bundle: string): Technology => ({
  label,
  image: NODE_IMAGE,
  roles: [role],
  protocol: 'https',
  identityForm: 'uri',
  command: () => ['node', `/app/${bundle}`],
  health: mtlsHealth,
  stats: 'node-admin',
});
/** A recipe (recipes/): HTTPS unless it says otherwise, its image's mtls-health reading its stats file. */
const recipe = (t: Pick<Technology, 'label' | 'image' | 'roles' | 'identityForm'> & Partial<Technology>): Technology => ({
  protocol: 'https',
  health: mtlsHealth,
  stats: 'stats-file',
  ...t,
});
const GO_IMAGE: ImageRecipe = { contextDir: 'recipes/go', baseImageArgs: { GOLANG_IMAGE: 'golang', RUNTIME_IMAGE: 'debian' } };
const PYTHON_IMAGE: ImageRecipe = { contextDir: 'recipes/python', baseImageArgs: { PYTHON_IMAGE: 'python' } };
const MARIADB_IMAGE = shellRecipe('mariadb', { MARIADB_IMAGE: 'mariadb' });
/** A tmpfs for uid 1000 (the stack's user), writable, nothing executable. */
const tmpfsOf = (size: string) => `rw,noexec,nosuid,nodev,size=${size},uid=1000,gid=1000`;
/** Ruby's Net::HTTP and PHP's curl extension take the shared trust tool (lib/) and the shell clients' health check (curl/). */
const scriptedClient = (folder: string, arg: string, key: ImageRecipe['baseImageArgs'][string]): ImageRecipe => ({
  contextDir: 'recipes',
  dockerfile: `${folder}/Dockerfile`,
  sources: [folder, 'lib', 'curl'],
  baseImageArgs: { [arg]: key },
});

/** The gRPC recipe: recipes/go/grpc, built with recipes/go as its context (it imports the Go recipe's internals). */
const GRPC_IMAGE: ImageRecipe = { contextDir: 'recipes/go', dockerfile: 'grpc/Dockerfile', baseImageArgs: GO_IMAGE.baseImageArgs, goModuleTree: true };

export const TECHNOLOGIES = {
  'node-server': nodeApp('Node.js', 'server', 'server.mjs'),
  'node-client': nodeApp('Node.js', 'client', 'client.mjs'),
  nginx: recipe({ label: 'nginx', image: shellRecipe('nginx', { NGINX_IMAGE: 'nginx' }), roles: ['server', 'both'], identityForm: 'dns', memoryMb: 64 }),
  curl: recipe({ label: 'curl', image: shellRecipe('curl', { CURL_IMAGE: 'curl' }), roles: ['client'], identityForm: 'dns', memoryMb: 32 }),
  'go-server': recipe({
    label: 'Go',
    image: GO_IMAGE,
    roles: ['server'],
    identityForm: 'uri',
    command: () => ['/usr/local/bin/mtls-go', 'server'],
    memoryMb: 64,
  }),
  'go-client': recipe({
    label: 'Go',
    image: GO_IMAGE,
    roles: ['client'],
    identityForm: 'uri',
    command: () => ['/usr/local/bin/mtls-go', 'client'],
    memoryMb: 64,
  }),
  'python-server': recipe({
    label: 'Python',
    image: PYTHON_IMAGE,
    roles: ['server'],
    identityForm: 'uri',
    command: () => ['python3', '-u', '/app/server.py'],
    memoryMb: 96,
  }),
  'python-client': recipe({
    label: 'Python',
    image: PYTHON_IMAGE,
    roles: ['client'],
    identityForm: 'uri',
    command: () => ['python3', '-u', '/app/client.py'],
    memoryMb: 96,
  }),
  postgres: recipe({
    label: 'PostgreSQL',
    image: shellRecipe('postgres', { POSTGRES_IMAGE: 'postgres' }),
    roles: ['server'],
    protocol: 'postgres',
    identityForm: 'dns',
    memoryMb: 256,
    tmpfs: { '/var/run/postgresql': tmpfsOf('1m') },
    dataPath: '/var/lib/postgresql/data',
  }),
  psql: recipe({
    label: 'psql',
    image: shellRecipe('psql', { POSTGRES_IMAGE: 'postgres' }),
    roles: ['client'],
    protocol: 'postgres',
    identityForm: 'dns',
    memoryMb: 64,
    // The postgres image declares VOLUME /var/lib/postgresql/data: a tmpfs keeps
    // Docker from making an anonymous volume for a client that stores nothing.
    tmpfs: { '/var/lib/postgresql/data': tmpfsOf('64k') },
  }),
  httpd: recipe({ label: 'Apache httpd', image: shellRecipe('httpd', { HTTPD_IMAGE: 'httpd' }), roles: ['server'], identityForm: 'dns', memoryMb: 64 }),
  haproxy: recipe({
    label: 'HAProxy',
    image: shellRecipe('haproxy', { HAPROXY_IMAGE: 'haproxy' }),
    roles: ['server', 'both'],
    identityForm: 'dns',
    memoryMb: 64,
  }),
  'express-server': nodeApp('Express', 'server', 'express-server.mjs'),
  'axios-client': nodeApp('axios', 'client', 'axios-client.mjs'),
  mariadb: recipe({
    label: 'MariaDB',
    image: MARIADB_IMAGE,
    roles: ['server'],
    protocol: 'mysql',
    identityForm: 'dns',
    command: () => ['/usr/local/bin/mtls-mariadb'],
    memoryMb: 256,
    // The socket and pid file; the base image's VOLUME /var/lib/mysql (owned by
    // uid 999) gets a small tmpfs so Docker makes no anonymous volume for it.
    tmpfs: { '/run/mysqld': tmpfsOf('1m'), '/var/lib/mysql': tmpfsOf('64k') },
    dataPath: '/var/lib/mysql-mesh',
  }),
  'mysql-client': recipe({
    label: 'mysql client',
    image: MARIADB_IMAGE,
    roles: ['client'],
    protocol: 'mysql',
    identityForm: 'dns',
    command: () => ['/usr/local/bin/mtls-mysql-client'],
    memoryMb: 64,
    tmpfs: { '/var/lib/mysql': tmpfsOf('64k') },
  }),
  'ruby-client': recipe({
    label: 'Ruby net/http',
    image: scriptedClient('ruby', 'RUBY_IMAGE', 'ruby'),
    roles: ['client'],
    identityForm: 'uri',
    command: () => ['ruby', '/app/client.rb'],
    memoryMb: 64,
  }),
  'php-client': recipe({
    label: 'PHP curl',
    image: scriptedClient('php', 'PHP_IMAGE', 'php'),
    roles: ['client'],
    identityForm: 'dns',
    command: () => ['php', '/app/client.php'],
    memoryMb: 64,
  }),
  // exporter-toolkit's client_allowed_sans: a SAN equal to a listed string; the mesh lists SPIFFE URIs.
  'node-exporter': recipe({
    label: 'node_exporter',
    image: shellRecipe('node-exporter', { NODE_EXPORTER_IMAGE: 'nodeExporter' }),
    roles: ['server'],
    identityForm: 'uri',
    memoryMb: 48,
  }),
  prometheus: recipe({
    label: 'Prometheus',
    // The credential sets' shell functions are node-exporter's (mtls-credset.sh).
    image: {
      contextDir: 'recipes',
      dockerfile: 'prometheus/Dockerfile',
      sources: ['prometheus', 'node-exporter', 'lib'],
      baseImageArgs: { PROMETHEUS_IMAGE: 'prometheus' },
    },
    roles: ['client'],
    identityForm: 'dns',
    memoryMb: 160,
    // The image declares VOLUME /prometheus: its TSDB goes to a tmpfs (10 minutes' retention).
    tmpfs: { '/prometheus': tmpfsOf('32m') },
  }),
  // The Python recipe's image, its third role: requests over urllib3, a new Session per credential set.
  'requests-client': recipe({
    label: 'Python requests',
    image: PYTHON_IMAGE,
    roles: ['client'],
    identityForm: 'uri',
    command: () => ['python3', '-u', '/app/requests_client.py'],
    memoryMb: 96,
  }),
  // gRPC (google.golang.org/grpc) on the Go recipe's internals: recipes/go/grpc, built with recipes/go as its context.
  'grpc-server': recipe({
    label: 'gRPC (Go)',
    image: GRPC_IMAGE,
    roles: ['server'],
    protocol: 'grpc',
    identityForm: 'uri',
    command: () => ['/usr/local/bin/mtls-grpc', 'server'],
    memoryMb: 64,
  }),
  'grpc-client': recipe({
    label: 'gRPC (Go)',
    image: GRPC_IMAGE,
    roles: ['client'],
    protocol: 'grpc',
    identityForm: 'uri',
    command: () => ['/usr/local/bin/mtls-grpc', 'client'],
    memoryMb: 64,
  }),
  // Caddy: client_authentication require_and_verify in its TLS connection policy; the first SAN URI in a vars matcher.
  caddy: recipe({
    label: 'Caddy',
    image: { contextDir: 'recipes', dockerfile: 'caddy/Dockerfile', sources: ['caddy', 'node-exporter', 'lib'], baseImageArgs: { CADDY_IMAGE: 'caddy' } },
    roles: ['server'],
    identityForm: 'uri',
    // Caddy, and `caddy reload` beside it for a moment at each rotation.
    memoryMb: 128,
    // The official image's XDG_CONFIG_HOME and XDG_DATA_HOME (Caddy's storage; the autosave is off).
    tmpfs: { '/config': tmpfsOf('1m'), '/data': tmpfsOf('4m') },
  }),
  // Redis 7.0: tls-auth-clients yes, the SAN URI mapped to an ACL user by the recipe's module; redis-cli with its name check.
  redis: recipe({
    label: 'Redis',
    image: { contextDir: 'recipes', dockerfile: 'redis/Dockerfile', sources: ['redis', 'mariadb', 'lib'], baseImageArgs: { REDIS_IMAGE: 'redis' } },
    roles: ['server'],
    protocol: 'redis',
    identityForm: 'uri',
    command: () => ['/usr/local/bin/mtls-redis'],
    memoryMb: 96,
    // The image declares VOLUME /data: a small tmpfs keeps Docker from making an anonymous volume (nothing is persisted).
    tmpfs: { '/data': tmpfsOf('64k') },
  }),
  'redis-client': recipe({
    label: 'redis-cli',
    image: { contextDir: 'recipes', dockerfile: 'redis/Dockerfile', sources: ['redis', 'mariadb', 'lib'], baseImageArgs: { REDIS_IMAGE: 'redis' } },
    roles: ['client'],
    protocol: 'redis',
    identityForm: 'dns',
    command: () => ['/usr/local/bin/mtls-redis-client'],
    memoryMb: 64,
    tmpfs: { '/data': tmpfsOf('64k') },
  }),
  // Caddy's own ACME client: the certificate it serves from the CA's ACME provisioner (tls-alpn-01), callers as in `caddy`.
  'caddy-acme': recipe({
    label: 'Caddy (ACME)',
    image: { contextDir: 'recipes', dockerfile: 'caddy/Dockerfile', sources: ['caddy', 'node-exporter', 'lib'], baseImageArgs: { CADDY_IMAGE: 'caddy' } },
    roles: ['server'],
    identityForm: 'uri',
    // The image's entry process (ENTRYPOINT mtls-caddy) in its ACME mode.
    command: () => ['acme'],
    servedCertificate: 'acme',
    memoryMb: 128,
    tmpfs: { '/config': tmpfsOf('1m'), '/data': tmpfsOf('4m') },
  }),
} as const satisfies Record<string, Technology>;

export type TechnologyName = keyof typeof TECHNOLOGIES;

export function technology(name: TechnologyName): Technology {
  return TECHNOLOGIES[name];
}

/** A technology (by its name in a stack's outputs) whose app obtains the certificate it serves by ACME: what it serves is not the renewer's site.crt. */
export function servesAcme(technologyName: string): boolean {
  return (TECHNOLOGIES as Record<string, Technology>)[technologyName]?.servedCertificate === 'acme';
}
