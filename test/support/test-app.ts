// Builds the real app (real pool, real default module) with a small pool for route tests.
import type { DestinationStream } from 'pino';
import { Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import type { Config } from '../../src/config.js';
import { Wasm64Device } from '../../src/device/device.js';
import { MemoryJobStore } from '../../src/device/job-store.js';
import { limitSettings } from '../../src/device/limits.js';
import { createModuleStore, loadDefaultModule } from '../../src/device/module-store.js';
import type { StoredModule } from '../../src/device/module-store.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { enableMemory64 } from '../../src/wasm/features.js';
import { createWorkerPool } from '../../src/worker/pool.js';
import { createInstanceLanes } from '../../src/worker/instance-lanes.js';
import { instanceSettings } from '../../src/device/instances/manager.js';

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
}

export async function buildTestApp(overrides: Partial<Config> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  enableMemory64();
  const config = loadConfig({}, { poolThreads: 2, logLevel: options.logTo ? 'trace' : 'silent', ...overrides });
  const logger = createLogger(config, options.logTo);
  const pool = createWorkerPool({ threads: config.poolThreads, maxQueue: config.poolThreads * 2 });
  const now = options.now ?? Date.now;
  const store = new MemoryJobStore({ ttlMs: config.jobTtlMs, maxJobs: config.jobStoreMax, now });
  const device = new Wasm64Device({
    pool,
    store,
    modules: createModuleStore(config, options.module ?? (await loadDefaultModule())),
    limits: limitSettings(config),
    logger,
    maxQueue: config.poolMaxQueue,
    defaultTimeoutMs: config.jobTimeoutMs,
    maxTimeoutMs: config.jobTimeoutMaxMs,
    maxWaiters: config.waitMaxClients,
    sweepIntervalMs: 10,
    now,
    outputLimit: config.outputLimit,
    instances: { lanes: createInstanceLanes(config.instanceLanes), settings: instanceSettings(config) },
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
