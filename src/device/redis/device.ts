// The ~wasm64@1.0 device over Redis (STORE=redis): the device core over RedisPort; replicas share one job store and queue.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { WorkerPool } from '../../worker/pool.js';
import { DeviceCore } from '../core.js';
import type { Job } from '../job.js';
import type { ListPage, ListQuery } from '../job-store.js';
import { DEFAULT_LIMITS } from '../limits.js';
import type { LimitSettings } from '../limits.js';
import type { ModuleStore } from '../module-store.js';
import { connectRedis } from './connection.js';
import { SharedModuleStore } from './module-store.js';
import { RedisPort } from './port.js';

export interface RedisDeviceOptions {
  url: string;
  /** Prefix of every key (REDIS_PREFIX). */
  prefix: string;
  pool: WorkerPool;
  /** This replica's module store (validation, imports, compiled variants); shared through Redis. */
  modules: ModuleStore;
  /** Modules Redis keeps for the cluster (MAX_MODULES); the least recently used go first. */
  maxModules: number;
  /** Memory and fuel defaults and maximums for a job (default DEFAULT_LIMITS). */
  limits?: LimitSettings;
  logger: Logger;
  /** Jobs that may wait across the cluster; beyond it runs get 429. */
  maxQueue: number;
  /** Jobs stored across the cluster; the oldest finished make room, live ones never. */
  maxJobs: number;
  ttlMs: number;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  maxWaiters?: number;
  /** BullMQ's lock on a running job: a replica that dies mid-job has its jobs failed after one to two of these. */
  lockMs: number;
  /** Bytes kept of a job's stdout, of its stderr, and of a result read from memory (default 1 MiB). */
  outputLimit?: number;
  /** Names this replica in logs and in the jobs it runs; default host:pid:random. */
  replicaId?: string;
}

export class RedisDevice extends DeviceCore {
  readonly #prefix: string;
  readonly #replica: string;
  readonly #modules: SharedModuleStore;

  /** Connects to Redis (throwing RedisUnavailableError if it is not there), then joins the cluster's queue. */
  static async start(options: RedisDeviceOptions): Promise<RedisDevice> {
    const replica = options.replicaId ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const commands = await connectRedis(options.url, `${options.prefix}:commands:${replica}`, options.logger);
    let subscriber: Redis;
    try {
      // The subscriber re-subscribes by itself after a reconnect, which needs its offline queue.
      subscriber = await connectRedis(options.url, `${options.prefix}:events:${replica}`, options.logger, { enableOfflineQueue: true });
    } catch (err) {
      commands.disconnect();
      throw err;
    }
    const logger = options.logger.child({ replica });
    const port = new RedisPort({
      url: options.url,
      prefix: options.prefix,
      replica,
      commands,
      subscriber,
      logger,
      maxQueue: options.maxQueue,
      maxJobs: options.maxJobs,
      ttlMs: options.ttlMs,
      lockMs: options.lockMs,
      concurrency: options.pool.threads,
    });
    const device = new RedisDevice(options, replica, logger, port, new SharedModuleStore(options.modules, commands, options.prefix, options.maxModules));
    await port.open();
    return device;
  }

  private constructor(options: RedisDeviceOptions, replica: string, logger: Logger, port: RedisPort, modules: SharedModuleStore) {
    const { url: _url, prefix, maxModules: _maxModules, maxJobs: _maxJobs, ttlMs: _ttl, lockMs: _lock, replicaId: _replica, modules: _local, ...rest } = options;
    super({ ...rest, limits: options.limits ?? DEFAULT_LIMITS, logger, store: port, modules });
    this.#prefix = prefix;
    this.#replica = replica;
    this.#modules = modules;
  }

  /** `status`: the job as Redis has it now. */
  override get(id: string): Promise<Job | undefined> {
    return super.get(id) as Promise<Job | undefined>;
  }

  override list(query: ListQuery): Promise<ListPage> {
    return super.list(query) as Promise<ListPage>;
  }

  override cancel(id: string): Promise<Job> {
    return super.cancel(id) as Promise<Job>;
  }

  /** The key prefix: replicas with the same one form a cluster. */
  get prefix(): string {
    return this.#prefix;
  }

  /** This replica's name in logs and BullMQ. */
  get replica(): string {
    return this.#replica;
  }

  /** The modules jobs run, shared by every replica. */
  override get modules(): SharedModuleStore {
    return this.#modules;
  }
}
