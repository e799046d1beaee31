// The ~wasm64@1.0 device with its jobs in this process's memory (STORE=memory): the device core over MemoryPort.
import { DeviceCore } from './core.js';
import type { CoreOptions } from './job-device.js';
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

/** As the core's options, with a JobStore in memory in place of the store port, and the limits and clock defaulted. */
export type DeviceOptions = ModuleOptions & Omit<CoreOptions, 'store' | 'modules' | 'limits' | 'now'> & {
  store: JobStore;
  /** Memory and fuel defaults and maximums for a job (default DEFAULT_LIMITS). */
  limits?: LimitSettings;
  /** The clock for every timestamp, timeout and expiry; tests pass a fake one. */
  now?: () => number;
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
