// The one place that builds the device from the configuration: the server, `run --local` and the tests all come here.
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { BatchPlan } from './device/batch-plan.js';
import { Wasm64Device } from './device/device.js';
import type { InstanceSettings } from './device/instances/manager.js';
import type { JobDevice } from './device/job-device.js';
import { MemoryJobStore } from './device/job-store.js';
import type { LimitSettings } from './device/limits.js';
import { LINKED_IMPORTS } from './device/linked-imports.js';
import { loadDefaultModule, ModuleStore } from './device/module-store.js';
import type { ImportCheck, StoredModule } from './device/module-store.js';
import type { RedisDevice } from './device/redis/device.js';
import { enableMemory64 } from './wasm/features.js';
import { createInstanceLanes } from './worker/instance-lanes.js';
import type { InstanceLanes } from './worker/instance-lanes.js';
import { createWorkerPool } from './worker/pool.js';
import type { WorkerPool } from './worker/pool.js';

/** What a device is built with besides the configuration; each part has the service's default. */
export interface DeviceParts {
  logger: Logger;
  /** The module jobs run when they name none (default: src/wasm/default-module.wat). */
  defaultModule?: StoredModule;
  /** Default: POOL_THREADS worker threads. */
  pool?: WorkerPool;
  /** Memory mode: the threads of live instances (default INSTANCE_LANES of them); false for a device without instances. */
  lanes?: InstanceLanes | false;
  /** The clock of every timestamp, timeout and expiry (memory mode); tests pass a fake one. */
  now?: () => number;
  /** How often the device sweeps timeouts and expiries (memory mode). */
  sweepIntervalMs?: number;
  /** Which queued jobs share a batch (memory mode). */
  batchPlan?: BatchPlan;
  /** Redis mode: the key prefix, when it is not REDIS_PREFIX (tests give each app its own). */
  redisPrefix?: string;
}

/** Redis could not be reached at start; the message says where and what to do. */
export class DeviceStartError extends Error {
  override readonly name = 'DeviceStartError';
}

/** The limits of jobs: DEFAULT_MEMORY_LIMIT, MAX_MEMORY_LIMIT, DEFAULT_FUEL, MAX_FUEL. */
export function limitSettings(config: Config): LimitSettings {
  return { memoryLimit: config.jobMemoryLimit, memoryLimitMax: config.jobMemoryLimitMax, fuel: config.jobFuel, fuelMax: config.jobFuelMax };
}

/** MAX_INSTANCES, MAX_LIVE_INSTANCES, MAX_LIVE_INSTANCE_BYTES, INSTANCE_CHECKPOINT_MESSAGES. */
export function instanceSettings(config: Config): InstanceSettings {
  return {
    maxInstances: config.instanceMax,
    maxLive: config.instanceLiveMax,
    maxLiveBytes: config.instanceLiveMaxBytes,
    checkpointMessages: config.instanceCheckpointMessages,
  };
}

/** A module store bounded as the configuration says (MAX_MODULES, MAX_MODULE_STORE_BYTES, MAX_MODULE_BYTES). */
export function createModuleStore(config: Config, defaultModule: StoredModule, importChecks: ReadonlyMap<string, ImportCheck> = LINKED_IMPORTS): ModuleStore {
  return new ModuleStore({
    defaultModule,
    maxModules: config.moduleStoreMax,
    maxBytes: config.moduleStoreMaxBytes,
    maxModuleBytes: config.moduleMaxBytes,
    maxMemoryPages: Math.floor(config.jobMemoryLimitMax / 65_536),
    importChecks,
    reuseInstances: config.reuseInstances,
  });
}

async function common(config: Config, parts: DeviceParts) {
  enableMemory64();
  return {
    pool: parts.pool ?? createWorkerPool({ threads: config.poolThreads, maxQueue: config.poolThreads * 2 }),
    modules: createModuleStore(config, parts.defaultModule ?? (await loadDefaultModule())),
    limits: limitSettings(config),
    logger: parts.logger,
    maxQueue: config.poolMaxQueue,
    defaultTimeoutMs: config.jobTimeoutMs,
    maxTimeoutMs: config.jobTimeoutMaxMs,
    maxWaiters: config.waitMaxClients,
    outputLimit: config.outputLimit,
  };
}

/** The device with jobs in this process's memory (STORE=memory), and its job store. */
export async function composeMemoryDevice(config: Config, parts: DeviceParts): Promise<{ device: Wasm64Device; store: MemoryJobStore }> {
  const now = parts.now ?? Date.now;
  const store = new MemoryJobStore({ ttlMs: config.jobTtlMs, maxJobs: config.jobStoreMax, now });
  const lanes = parts.lanes ?? createInstanceLanes(config.instanceLanes);
  const device = new Wasm64Device({
    ...(await common(config, parts)),
    store,
    now,
    ...(parts.sweepIntervalMs === undefined ? {} : { sweepIntervalMs: parts.sweepIntervalMs }),
    ...(parts.batchPlan === undefined ? {} : { batchPlan: parts.batchPlan }),
    ...(lanes === false ? {} : { instances: { lanes, settings: instanceSettings(config) } }),
  });
  return { device, store };
}

/** The device over Redis (STORE=redis); throws DeviceStartError when Redis cannot be reached. */
export async function composeRedisDevice(config: Config, parts: DeviceParts): Promise<RedisDevice> {
  // Loaded only here: BullMQ and ioredis cost a memory-mode replica ~10 MB and startup time for nothing.
  const [{ RedisDevice }, { RedisUnavailableError }] = await Promise.all([import('./device/redis/device.js'), import('./device/redis/connection.js')]);
  const options = await common(config, parts);
  try {
    return await RedisDevice.start({
      ...options,
      url: config.redisUrl,
      prefix: parts.redisPrefix ?? config.redisPrefix,
      lockMs: config.redisLockMs,
      maxJobs: config.jobStoreMax,
      maxModules: config.moduleStoreMax,
      ttlMs: config.jobTtlMs,
    });
  } catch (err) {
    if (err instanceof RedisUnavailableError) {
      await options.pool.destroy();
      throw new DeviceStartError(err.message);
    }
    throw err;
  }
}

/** The device STORE names. */
export async function composeDevice(config: Config, parts: DeviceParts): Promise<JobDevice> {
  return config.store === 'redis' ? composeRedisDevice(config, parts) : (await composeMemoryDevice(config, parts)).device;
}
