/**
 * The mesh: every workload the stack runs, what it runs, and who may call
 * whom. This is the one file to edit to add a workload of your own; main.ts
 * reads it, the constructs turn it into containers, volumes, renewers and
 * allow-lists, and `resolveMesh` (stack/mesh-spec.ts) refuses a mesh with a
 * duplicate name, a caller that does not exist, a clash of host ports or an
 * identity outside the CA's policy.
 *
 * The default is a cross-technology matrix: every recipe server is called by a
 * client of another technology; the Node reference client calls the Node server.
 *
 *   client (Node) ──▶ server (Node) ◀── nginx (mTLS proxy) ◀── curl
 *   go-client ──▶ python-server        python-client ──▶ go-server
 *   psql ──▶ postgres
 *
 * `operator` is the host identity `npm run issue-cert -- operator` makes: it
 * may call every server from 127.0.0.1 through the published ports.
 */
import type { MeshSpec } from './stack/mesh-spec.js';

export const DEFAULT_MESH: MeshSpec = {
  domain: 'mesh.internal',
  operators: ['operator'],
  workloads: [
    { name: 'server', runs: 'node-server', role: 'server', port: 8443, hostPort: 8443, allow: ['client', 'nginx', 'operator'] },
    { name: 'client', runs: 'node-client', role: 'client', calls: 'server' },
    { name: 'nginx', runs: 'nginx', role: 'both', port: 8443, hostPort: 8444, allow: ['curl', 'operator'], calls: 'server' },
    { name: 'curl', runs: 'curl', role: 'client', calls: 'nginx' },
    { name: 'go-server', runs: 'go-server', role: 'server', port: 8443, hostPort: 8445, allow: ['python-client', 'operator'] },
    { name: 'go-client', runs: 'go-client', role: 'client', calls: 'python-server' },
    { name: 'python-server', runs: 'python-server', role: 'server', port: 8443, hostPort: 8446, allow: ['go-client', 'operator'] },
    { name: 'python-client', runs: 'python-client', role: 'client', calls: 'go-server' },
    { name: 'postgres', runs: 'postgres', role: 'server', port: 5432, hostPort: 15432, allow: ['psql', 'operator'] },
    { name: 'psql', runs: 'psql', role: 'client', calls: 'postgres' },
  ],
};
