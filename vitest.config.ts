// Tests spawn real servers, CLIs and worker pools: generous timeouts keep a loaded 2-core machine from failing them (speed is measured in bench/, not here).
import { spawnSync } from 'node:child_process';
import { defineConfig } from 'vitest/config';

// The Redis-mode tests start a real redis-server. Without one installed they are left out, saying so, so that
// `npm ci && npm test` works on a fresh machine; under CI (which installs it) they always run, and fail if it is missing.
const REDIS_TESTS = ['test/device/redis/**', 'test/routes/redis-wasi.test.ts', 'test/routes/store-modes.test.ts', 'test/e2e/cluster.test.ts'];
const skipRedis = process.env.CI === undefined && spawnSync('redis-server', ['--version']).error !== undefined;
// The config is loaded once per project: say it once.
const said = globalThis as { redisSkipSaid?: boolean };
if (skipRedis && said.redisSkipSaid !== true) {
  said.redisSkipSaid = true;
  console.warn('redis-server is not installed: the Redis-mode tests are skipped (apt-get install redis-server to run them).');
}

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'service', include: ['test/**/*.test.ts'], exclude: ['test/reliability/**', ...(skipRedis ? REDIS_TESTS : [])] } },
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
