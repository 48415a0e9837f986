import type { StackOutputs } from '../../../scripts/lib/deploy/stack-instance.js';
import type { Mode } from '../../../scripts/lib/toolchain/connectivity.js';
import type { TerraformCli } from '../../../scripts/lib/toolchain/engine.js';
import type { BaseImages } from '../../../scripts/lib/toolchain/images.js';

/** What globalSetup hands to the e2e tests (vitest provide/inject). */
export interface E2eContext {
  readonly prefix: string;
  readonly outputs: StackOutputs;
  readonly fingerprint: string;
  readonly hostStepPath: string;
  readonly caPort: number;
  readonly servicePort: number;
  /** Lifetimes the CA was deployed with (Go durations). */
  readonly certLifetime: string;
  readonly minCertLifetime: string;
  /** The identity the host enrolls for itself, on the server's allow-list. */
  readonly operatorUri: string;
  /** The toolchain's mode and the base images the stack was built from. */
  readonly mode: Mode;
  readonly baseImages: BaseImages;
  /** Owner label of this run's stacks: give it to every stack a test deploys, so leftovers can be removed. */
  readonly owner: string;
  /** The engine the suite's stack was deployed with. */
  readonly engine: TerraformCli;
}

declare module 'vitest' {
  export interface ProvidedContext {
    e2e: E2eContext;
  }
}
