// The OpenAPI document, built from the same routes and schemas the service runs (no pool, no server).
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import type { Wasm64Device } from './device/device.js';
import { createMetrics } from './metrics.js';

/** Builds the app with a device that is never called (an emitter for the metrics to listen to; closing the app ends its waits: none), and returns what /openapi.json serves. */
export async function openapiDocument(): Promise<unknown> {
  const device = Object.assign(new EventEmitter(), { endWaits: () => undefined }) as unknown as Wasm64Device;
  const metrics = createMetrics(new Registry(), device);
  const app = await buildApp({ config: loadConfig({}), device, logger: pino({ level: 'silent' }), metrics });
  await app.ready();
  const document = app.swagger();
  await app.close();
  return document;
}
