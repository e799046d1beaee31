// Builds the real app on the Redis device (real pool, real Redis), each under its own key prefix.
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { composeRedisDevice } from '../../src/compose.js';
import { loadConfig } from '../../src/config.js';
import type { Config } from '../../src/config.js';
import type { StoredModule } from '../../src/device/module-store.js';
import type { RedisDevice } from '../../src/device/redis/device.js';
import { createMetrics } from '../../src/metrics.js';

export interface RedisTestApp {
  app: FastifyInstance;
  device: RedisDevice;
  /** What this replica's GET /metrics serves. */
  registry: Registry;
  close(): Promise<void>;
}

export interface RedisTestAppOptions {
  redisUrl: string;
  /** Replicas of one cluster share a prefix; by default each app gets its own, so tests do not see each other. */
  prefix?: string;
  /** The module jobs run by default (default: the device's own default module). */
  module?: StoredModule;
}

export async function buildRedisTestApp(overrides: Partial<Config>, options: RedisTestAppOptions): Promise<RedisTestApp> {
  const config = loadConfig({}, { poolThreads: 2, logLevel: 'silent', ...overrides, redisUrl: options.redisUrl });
  const logger = pino({ level: config.logLevel });
  const device = await composeRedisDevice(config, {
    logger,
    redisPrefix: options.prefix ?? `test-${randomUUID().slice(0, 8)}`,
    ...(options.module === undefined ? {} : { defaultModule: options.module }),
  });
  const registry = new Registry();
  const app = await buildApp({ config, device, logger, metrics: createMetrics(registry, device) });
  return {
    app,
    device,
    registry,
    close: async () => {
      await app.close();
      await device.close();
    },
  };
}
