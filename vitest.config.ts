// Tests spawn real servers, CLIs and worker pools: generous timeouts keep a loaded 2-core machine from failing them (speed is measured in bench/, not here).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
