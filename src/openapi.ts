// The OpenAPI document, built from the same routes and schemas the service runs (no pool, no server).
import { pino } from 'pino';
import { buildApp } from './app.js';
import { loadConfig } from './config.js';
import type { Wasm64Device } from './device/device.js';

/** Builds the app with a device that is never called, and returns what /openapi.json serves. */
export async function openapiDocument(): Promise<unknown> {
  const app = await buildApp({ config: loadConfig({}), device: {} as Wasm64Device, logger: pino({ level: 'silent' }) });
  await app.ready();
  const document = app.swagger();
  await app.close();
  return document;
}
