/**
 * Every third-party version the project depends on, in one place. The stack
 * (main.ts), the toolchain script and the tests all read it from here.
 */
export const PROJECT = 'mtls-reference';

export const STEP_CA_VERSION = '0.30.2';
export const STEP_CLI_VERSION = '0.30.2';

/** Official images, used when a container registry is reachable. */
export const OFFICIAL_IMAGES = {
  stepCa: `smallstep/step-ca:${STEP_CA_VERSION}`,
  node: 'node:20-bookworm-slim',
} as const;

/** Images the toolchain builds when no registry is reachable. */
export const LOCAL_IMAGES = {
  stepCa: `${PROJECT}/step-ca:${STEP_CA_VERSION}`,
  node: `${PROJECT}/node-base:bookworm`,
  debian: `${PROJECT}/debian-base:bookworm`,
} as const;

/**
 * The kreuzwerker/docker Terraform provider. Offline it is built from the Go
 * module proxy, which serves this one commit of kreuzwerker's repository (the
 * v4.6.0 line; older commits such as v3.6.2 are refused). The stack pins the
 * same version, so a connected machine downloads the released build of it.
 */
export const DOCKER_PROVIDER = {
  source: 'kreuzwerker/docker',
  registryHost: 'registry.terraform.io',
  version: '4.6.0',
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
