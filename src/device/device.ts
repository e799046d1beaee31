// The ~wasm64@1.0 device with its jobs in this process's memory (STORE=memory): the device core over MemoryPort.
import type { Logger } from 'pino';
import type { InstanceLanes } from '../worker/instance-lanes.js';
import type { WorkerPool } from '../worker/pool.js';
import type { BatchPlan } from './batch-plan.js';
import { DeviceCore } from './core.js';
import type { InstanceSettings } from './instances/manager.js';
import type { Job } from './job.js';
import type { JobStore, ListPage, ListQuery } from './job-store.js';
import { DEFAULT_LIMITS } from './limits.js';
import type { LimitSettings } from './limits.js';
import { LINKED_IMPORTS } from './linked-imports.js';
import { MemoryPort } from './memory-port.js';
import { ModuleStore } from './module-store.js';
import type { StoredModule } from './module-store.js';

/** The modules jobs may run: a store (uploads, content-addressed), or just the default module with default bounds. */
type ModuleOptions = { modules: ModuleStore; defaultModule?: never } | { defaultModule: StoredModule; modules?: never };

export type DeviceOptions = ModuleOptions & {
  pool: WorkerPool;
  store: JobStore;
  logger: Logger;
  /** Memory and fuel defaults and maximums for a job (default DEFAULT_LIMITS). */
  limits?: LimitSettings;
  /** Jobs that may wait for a thread; beyond it `submit` refuses with WASM64_QUEUE_FULL. */
  maxQueue: number;
  /** `timeout_ms` of a job that sets none. */
  defaultTimeoutMs: number;
  /** Largest `timeout_ms` a job may ask for. */
  maxTimeoutMs: number;
  /** Requests that may wait on jobs at once; beyond it a wait answers at once with the job as it is. */
  maxWaiters?: number;
  /** How often the sweep checks running jobs against their timeout (its precision) and expires old jobs. */
  sweepIntervalMs?: number;
  /** Bytes kept of a job's stdout, of its stderr, and of a result read from memory (default 1 MiB). */
  outputLimit?: number;
  /** The clock for every timestamp, timeout and expiry; tests pass a fake one. */
  now?: () => number;
  /** Which queued jobs share a batch (default: a fresh BatchPlan, which learns run times as jobs end). */
  batchPlan?: BatchPlan;
  /** Live instances (AO processes): their lanes' threads and bounds. Without it, instance runs are refused. */
  instances?: { lanes: InstanceLanes; settings: InstanceSettings };
};

export class Wasm64Device extends DeviceCore {
  readonly #modules: ModuleStore;

  constructor({ store, modules, defaultModule, ...options }: DeviceOptions) {
    const limits = options.limits ?? DEFAULT_LIMITS;
    const catalog = modules ?? new ModuleStore({
      defaultModule,
      maxModules: 1000,
      maxBytes: 256 * 1024 * 1024,
      maxModuleBytes: 8 * 1024 * 1024,
      maxMemoryPages: Math.floor(limits.memoryLimitMax / 65_536),
      importChecks: LINKED_IMPORTS,
    });
    const now = options.now ?? Date.now;
    super({ ...options, limits, now, modules: catalog, store: new MemoryPort(store, options.maxQueue, now, options.logger) });
    this.#modules = catalog;
  }

  /** `status`, answered at once: the job itself, live. */
  override get(id: string): Job | undefined {
    return super.get(id) as Job | undefined;
  }

  override list(query: ListQuery): ListPage {
    return super.list(query) as ListPage;
  }

  override cancel(id: string): Job {
    return super.cancel(id) as Job;
  }

  /** The module store: uploads, lookups by id, compile counters. */
  override get modules(): ModuleStore {
    return this.#modules;
  }
}
