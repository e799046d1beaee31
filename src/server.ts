// Entry point: load the config, build the device and the app, listen, and shut down gracefully on a signal.
import { Registry } from 'prom-client';
import { buildApp } from './app.js';
import { composeDevice, DeviceStartError } from './compose.js';
import { ConfigError, loadConfig } from './config.js';
import type { Config } from './config.js';
import type { JobDevice } from './device/job-device.js';
import { createLogger } from './logger.js';
import { createMetrics } from './metrics.js';

let config: Config;
try {
  config = loadConfig();
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`job-dispatcher: invalid configuration: ${err.message}\n`);
  process.exit(1);
}

const logger = createLogger(config);
let device: JobDevice;
try {
  device = await composeDevice(config, { logger });
} catch (err) {
  if (!(err instanceof DeviceStartError)) throw err;
  process.stderr.write(`job-dispatcher: ${err.message}\n`);
  process.exit(1);
}
const metrics = createMetrics(new Registry(), device);
const app = await buildApp({ config, device, logger, metrics });
await app.listen({ host: config.host, port: config.port });
logger.info(
  { threads: config.poolThreads, node: process.version, store: config.store, auth: config.apiTokens.length > 0, rateLimit: config.rateLimitMax },
  'wasm-job-dispatcher ready',
);

let stopping = false;
/**
 * At once: readiness goes false and new runs get 503 (the device stops accepting), queued jobs end
 * `cancelled` (WASM64_SHUTDOWN). The server keeps answering reads while running jobs get SHUTDOWN_GRACE_MS
 * to finish; those still running then end `cancelled` too. Then the pool is destroyed, the server closed.
 */
async function stop(signal: string): Promise<void> {
  if (stopping) {
    logger.warn({ signal }, 'already shutting down');
    return;
  }
  stopping = true;
  const began = Date.now();
  logger.info({ signal, queued: device.queued, running: device.running, graceMs: config.shutdownGraceMs }, 'shutting down');
  // If something hangs well past the grace period, leave anyway, and say so with a non-zero code.
  setTimeout(() => {
    logger.error({ graceMs: config.shutdownGraceMs }, 'shutdown did not finish in time; exiting');
    process.exit(1);
  }, config.shutdownGraceMs + 15_000).unref();
  const ended: Record<string, number> = {};
  device.on('settled', (job) => {
    const outcome = job.error ? `${job.status} ${job.error.code}` : job.status;
    ended[outcome] = (ended[outcome] ?? 0) + 1;
  });
  await device.close(config.shutdownGraceMs);
  logger.info({ jobs: ended, ms: Date.now() - began }, 'every job is terminal; worker pool destroyed');
  await app.close();
  logger.info({ ms: Date.now() - began }, 'stopped');
  // Not process.exit(): pino writes asynchronously, and exiting now could drop that last line. With the
  // server closed and the pool gone, nothing holds the event loop, so the process ends once it is written.
  process.exitCode = 0;
}
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGINT', () => void stop('SIGINT'));
