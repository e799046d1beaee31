// Builds the real app (real pool, real default module) with a small pool for route tests.
import type { DestinationStream } from 'pino';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { composeMemoryDevice } from '../../src/compose.js';
import { loadConfig } from '../../src/config.js';
import type { Config } from '../../src/config.js';
import type { Wasm64Device } from '../../src/device/device.js';
import type { MemoryJobStore } from '../../src/device/job-store.js';
import type { StoredModule } from '../../src/device/module-store.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { createInProcessPool } from '../../src/worker/in-process-pool.js';

export interface TestApp {
  app: FastifyInstance;
  device: Wasm64Device;
  store: MemoryJobStore;
  registry: Registry;
  close(): Promise<void>;
}

export interface TestAppOptions {
  /** The module jobs run (default: the device's own default module). */
  module?: StoredModule;
  /** The device's and store's clock. */
  now?: () => number;
  /** Receives the app's log lines, at trace level (without it the app is silent). */
  logTo?: DestinationStream;
  /** Jobs run in this thread (createInProcessPool), without instances: no thread, no build; only jobs that end by themselves. */
  inProcess?: boolean;
}

export async function buildTestApp(overrides: Partial<Config> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const config = loadConfig({}, { poolThreads: 2, logLevel: options.logTo ? 'trace' : 'silent', ...overrides });
  const logger = createLogger(config, options.logTo);
  const { device, store } = await composeMemoryDevice(config, {
    logger,
    sweepIntervalMs: 10,
    ...(options.inProcess === true ? { pool: createInProcessPool(), lanes: false as const } : {}),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.module === undefined ? {} : { defaultModule: options.module }),
  });
  const registry = new Registry();
  const app = await buildApp({ config, device, logger, metrics: createMetrics(registry, device) });
  return {
    app,
    device,
    store,
    registry,
    close: async () => {
      await app.close();
      await device.close();
    },
  };
}

/** Polls GET /status/:id until the job is terminal (test-only; the service itself never polls). */
export async function pollJob(app: FastifyInstance, id: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await app.inject({ method: 'GET', url: `/~wasm64@1.0/status/${id}` });
    const body = res.json<Record<string, unknown>>();
    if (['completed', 'failed', 'cancelled'].includes(body.status as string)) return body;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${String(body.status)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
