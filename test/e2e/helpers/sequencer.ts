import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The e2e files share one stack and some change it (revocation, a CA
 * outage), so they run one at a time in file-name order: 01-…, 02-…
 */
export class ByFileName extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => a.moduleId.localeCompare(b.moduleId));
  }
}
