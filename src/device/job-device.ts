// The device as the routes see it: one contract, kept in memory (Wasm64Device) or in Redis (RedisDevice).
import type { EventEmitter } from 'node:events';
import type { RunRequest } from '../schemas/job.js';
import type { WorkerStats } from '../worker/pool.js';
import type { DeviceEvents, SubmitOptions, Submission } from './device.js';
import type { InstanceManager } from './instances/manager.js';
import type { Job } from './job.js';
import type { ListPage, ListQuery } from './job-store.js';
import type { ModuleStoreStats, ResolvedModule, StoredModule } from './module-store.js';

/** The modules a device runs, as the module routes see them: ModuleStore in memory, SharedModuleStore over Redis. */
export interface ModuleCatalog {
  readonly maxModuleBytes: number;
  /** Validates and stores `bytes` (or finds them stored); throws ServiceError for a module the device cannot run. */
  add(bytes: Uint8Array): Promise<ResolvedModule>;
  /** The stored module with this id, or undefined. */
  get(id: string): StoredModule | undefined | Promise<StoredModule | undefined>;
  /** This process's compile-cache counters and stored modules (metrics). */
  stats(): ModuleStoreStats;
}

/**
 * What every store mode offers. The in-memory device answers reads synchronously (its hot path stays free
 * of promises); the Redis device answers with promises. Failures are ServiceErrors.
 */
export interface JobDevice extends Pick<EventEmitter<DeviceEvents>, 'on' | 'off' | 'once'> {
  /** `run`: validates and records a queued job (or returns the one an Idempotency-Key names). */
  submit(request: RunRequest, options?: SubmitOptions): Promise<Submission>;
  /** `status`: the job as it is now, or undefined for an unknown or expired id. */
  get(id: string): Job | undefined | Promise<Job | undefined>;
  /** `jobs`: stored jobs, newest first. */
  list(query: ListQuery): ListPage | Promise<ListPage>;
  /** `cancel`: ends a queued or running job `cancelled`, wherever it runs. */
  cancel(id: string): Job | Promise<Job>;
  /** The modules jobs run: uploads, lookups by id. */
  readonly modules: ModuleCatalog;
  /** Live instances (AO processes); undefined in a store mode without them (Redis), where their routes answer 501. */
  readonly instances: InstanceManager | undefined;
  /**
   * Resolves with the job once it is terminal, after `waitMs`, or when `cancelOn` ends the wait (it is called
   * with the wait's end and returns how to stop listening); never rejects.
   */
  waitFor(job: Job, waitMs: number, cancelOn?: (end: () => void) => () => void): Promise<Job>;
  /** Ends every wait now, each with its job as it is (the app is closing). */
  endWaits(): void;
  /** Jobs accepted and waiting for a thread (in Redis mode: across the cluster, as last seen here). */
  readonly queued: number;
  /** Jobs on this process's threads now. */
  readonly running: number;
  /** Requests waiting here for a job to settle. */
  readonly waiting: number;
  /** False once close() has begun. */
  readonly accepting: boolean;
  /** This process's pool threads: alive, busy, restarted (readiness and metrics). */
  readonly workers: WorkerStats;
  /** False while the job store cannot be reached (Redis down); always true in memory. */
  readonly storeAvailable: boolean;
  /** Stops admitting, ends or hands over what this process holds, and releases its resources. */
  close(graceMs?: number): Promise<void>;
}
