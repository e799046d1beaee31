// Entry point: load the config, build the device and the app, listen, and stop cleanly on a signal.
import { pino } from 'pino';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import type { Config } from './config.js';
import { Wasm64Device } from './device/device.js';
import { MemoryJobStore } from './device/job-store.js';
import { loadDefaultModule } from './device/module-store.js';
import { enableMemory64 } from './wasm/features.js';
import { createWorkerPool } from './worker/pool.js';

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`job-dispatcher: invalid configuration: ${err.message}\n`);
  process.exit(1);
}

const logger = pino({ level: config.logLevel });
enableMemory64();
const pool = createWorkerPool({ threads: config.poolThreads, maxQueue: config.poolThreads * 2 });
const device = new Wasm64Device({
  pool,
  store: new MemoryJobStore({ ttlMs: config.jobTtlMs, maxJobs: config.jobStoreMax }),
  defaultModule: await loadDefaultModule(),
  logger,
  maxQueue: config.poolMaxQueue,
  defaultTimeoutMs: config.jobTimeoutMs,
  maxTimeoutMs: config.jobTimeoutMaxMs,
  maxWaiters: config.waitMaxClients,
});
const app = await buildApp({ config, device, logger });
await app.listen({ host: config.host, port: config.port });
logger.info({ threads: config.poolThreads, node: process.version }, 'wasm-job-dispatcher ready');

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'shutting down');
  await app.close();
  await device.close();
  logger.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
