import { defineConfig } from 'vitest/config';

import { ByFileName } from './test/e2e/helpers/sequencer.js';

// Two projects: `unit` runs in-process (synthesized stack, services with
// in-process certificates); `e2e` drives the real containers and owns one
// shared, uniquely prefixed stack through globalSetup.
export default defineConfig({
  test: {
    // Only honoured at the root: e2e files share one stack and must run in
    // name order (01-…, 02-…); unit files do not care.
    sequence: { sequencer: ByFileName },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 900_000,
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
      {
        test: {
          name: 'k8s',
          include: ['test/k8s/**/*.test.ts'],
          globalSetup: ['test/k8s/global-setup.ts'],
          testTimeout: 300_000,
          hookTimeout: 2_400_000,
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
