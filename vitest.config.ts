import { defineConfig } from 'vitest/config';
import { ByFileName } from './test/e2e/helpers/sequencer.js';

// Two projects: `unit` runs in-process (synthesized stack, services with
// in-process certificates); `e2e` drives the real containers and owns one
// shared, uniquely prefixed stack through globalSetup.
export default defineConfig({
  test: {
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
          sequence: { sequencer: ByFileName },
          testTimeout: 300_000,
          hookTimeout: 900_000,
          pool: 'forks',
          poolOptions: { forks: { singleFork: true } },
        },
      },
    ],
  },
});
