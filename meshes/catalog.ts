/**
 * The catalog mesh: the default mesh plus a workload of every other
 * technology the project provides, each server called by a client of another
 * technology. The e2e suite deploys it (`MTLS_MESH=catalog`); the demo keeps
 * the small default (mesh.ts).
 */
import { DEFAULT_MESH } from '../mesh.js';
import type { MeshSpec, WorkloadSpec } from '../stack/mesh-spec.js';

/** Callers the catalog adds to servers of the default mesh. */
const ALSO_ALLOWED: Readonly<Record<string, readonly string[]>> = {
  'python-server': ['ruby-client'],
  'go-server': ['php-client', 'requests-client'],
  server: ['haproxy'],
};

/**
 * Technologies of the project the catalog leaves out, and why (none now; the
 * tests hold the catalog to this list).
 */
export const NOT_IN_CATALOG: Readonly<Record<string, string>> = {};

/** The catalog's own workloads, one block per technology. */
const CATALOG_WORKLOADS: readonly WorkloadSpec[] = [
  // HAProxy (mTLS proxy to the Node server), called by the Node client
  { name: 'haproxy', runs: 'haproxy', role: 'both', port: 8443, hostPort: 8447, allow: ['haproxy-client', 'operator'], calls: 'server' },
  { name: 'haproxy-client', runs: 'node-client', role: 'client', calls: 'haproxy' },
  // Apache httpd (mod_ssl), called by curl
  { name: 'apache', runs: 'httpd', role: 'server', port: 8443, hostPort: 8448, allow: ['apache-curl', 'operator'] },
  { name: 'apache-curl', runs: 'curl', role: 'client', calls: 'apache' },
  // Express (services/express), called by axios (services/axios)
  { name: 'express-server', runs: 'express-server', role: 'server', port: 8443, hostPort: 8449, allow: ['axios-client', 'operator'] },
  { name: 'axios-client', runs: 'axios-client', role: 'client', calls: 'express-server' },
  // Ruby net/http, calling the Python server
  { name: 'ruby-client', runs: 'ruby-client', role: 'client', calls: 'python-server' },
  // PHP (curl extension), calling the Go server
  { name: 'php-client', runs: 'php-client', role: 'client', calls: 'go-server' },
  // node_exporter (exporter-toolkit's TLS server), scraped by Prometheus
  { name: 'node-exporter', runs: 'node-exporter', role: 'server', port: 9100, hostPort: 8450, allow: ['prometheus', 'operator'] },
  { name: 'prometheus', runs: 'prometheus', role: 'client', calls: 'node-exporter' },
  // MariaDB, called by the mysql client
  { name: 'mariadb', runs: 'mariadb', role: 'server', port: 3306, hostPort: 13306, allow: ['mysql-client', 'operator'] },
  { name: 'mysql-client', runs: 'mysql-client', role: 'client', calls: 'mariadb' },
  // Redis (identity module), called by redis-cli
  { name: 'redis', runs: 'redis', role: 'server', port: 6379, hostPort: 16379, allow: ['redis-client', 'operator'] },
  { name: 'redis-client', runs: 'redis-client', role: 'client', calls: 'redis' },
  // Python requests (the Python recipe's image), calling the Go server
  { name: 'requests-client', runs: 'requests-client', role: 'client', calls: 'go-server' },
  // Caddy (file certificates, reloaded through its admin endpoint), called by curl
  { name: 'caddy', runs: 'caddy', role: 'server', port: 8443, hostPort: 8452, allow: ['caddy-curl', 'operator'] },
  { name: 'caddy-curl', runs: 'curl', role: 'client', calls: 'caddy' },
  // Caddy (ACME: the certificate it serves from the CA's ACME provisioner, its DNS name only), called by curl, which checks that name
  { name: 'caddy-acme', runs: 'caddy-acme', role: 'server', port: 8443, hostPort: 8453, allow: ['caddy-acme-client', 'operator'] },
  { name: 'caddy-acme-client', runs: 'curl', role: 'client', calls: 'caddy-acme' },
  // gRPC (Go, google.golang.org/grpc), called by its own client
  { name: 'grpc-server', runs: 'grpc-server', role: 'server', port: 8443, hostPort: 8451, allow: ['grpc-client', 'operator'] },
  { name: 'grpc-client', runs: 'grpc-client', role: 'client', calls: 'grpc-server' },
];

export const CATALOG_MESH: MeshSpec = {
  ...DEFAULT_MESH,
  workloads: [
    ...DEFAULT_MESH.workloads.map((w) => ({ ...w, ...(ALSO_ALLOWED[w.name] ? { allow: [...(w.allow ?? []), ...ALSO_ALLOWED[w.name]!] } : {}) })),
    ...CATALOG_WORKLOADS,
  ],
};
