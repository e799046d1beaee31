// Tests spawn real servers, CLIs and worker pools: generous timeouts keep a loaded 2-core machine from failing them (speed is measured in bench/, not here).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'service', include: ['test/**/*.test.ts'], exclude: ['test/reliability/**'] } },
      {
        extends: true,
        test: {
          name: 'reliability',
          include: ['test/reliability/**/*.test.ts'],
          // Fails any test during which the process saw an unhandled rejection or an uncaught exception.
          setupFiles: ['test/reliability/setup.ts'],
          // After the rest, so that its load does not slow the other suites on a small machine.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
