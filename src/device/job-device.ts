// The device as the routes see it: one contract, whatever the store mode (DeviceCore over memory or Redis).
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { InstanceLanes } from '../worker/instance-lanes.js';
import type { WorkerPool, WorkerStats } from '../worker/pool.js';
import type { BatchPlan } from './batch-plan.js';
import type { InstanceSettings } from './instances/manager.js';
import type { LimitSettings } from './limits.js';
import type { JobStorePort } from './store-port.js';
import type { InstanceManager } from './instances/manager.js';
import type { Job } from './job.js';
import type { ListPage, ListQuery } from './job-store.js';
import type { ModuleSource } from './module-source.js';
import type { CompiledVariant, ModuleStoreStats, ResolvedModule, StoredModule, VariantLimits } from './module-store.js';
import type { RunInput } from './run-input.js';

/**
 * What the device tells observers (metrics, logs). Listeners run synchronously on the hot path:
 * keep them cheap. A listener that throws is logged and otherwise ignored.
 * - `queued`: a job was accepted.
 * - `started`: a job got a thread, after waiting `queueWaitMs` since it was accepted.
 * - `settled`: a job reached its terminal state; read `status`, `error?.code`, `durationMs` from it.
 */
export interface DeviceEvents {
  queued: [job: Job];
  started: [job: Job, queueWaitMs: number];
  settled: [job: Job];
}

export interface SubmitOptions {
  /** The request's Idempotency-Key: the same key and body give back the same job. */
  idempotencyKey?: string;
  /** The module itself, sent as the raw request body (application/wasm) instead of in `request`. */
  upload?: Uint8Array;
}

export interface Submission {
  job: Job;
  /** True when an Idempotency-Key matched an earlier submission and its job was returned. */
  replayed: boolean;
}

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

/** The modules as the device core runs them: resolved from what a run names, compiled for its limits. */
export interface RunnableModules extends ModuleCatalog {
  resolve(source: ModuleSource): Promise<ResolvedModule>;
  compiledFor(resolved: ResolvedModule, limits: VariantLimits): Promise<CompiledVariant>;
}

/** What the device core is built with (compose.ts builds it from the configuration). */
export interface CoreOptions {
  /** Where jobs live: memory (MemoryPort) or Redis (RedisPort). */
  store: JobStorePort;
  pool: WorkerPool;
  modules: RunnableModules;
  logger: Logger;
  /** Memory and fuel defaults and maximums for a job. */
  limits: LimitSettings;
  /** `timeout_ms` of a job that sets none. */
  defaultTimeoutMs: number;
  /** Largest `timeout_ms` a job may ask for. */
  maxTimeoutMs: number;
  /** Jobs that may wait for a thread (memory: here; Redis: across the cluster); beyond it `submit` refuses with WASM64_QUEUE_FULL. */
  maxQueue: number;
  /** Requests that may wait on jobs at once; beyond it a wait answers at once with the job as it is. */
  maxWaiters?: number;
  /** Bytes kept of a job's stdout, of its stderr, and of a result read from memory. */
  outputLimit?: number;
  /** How often the sweep checks running jobs against their timeout and waits against their deadline (their precision). */
  sweepIntervalMs?: number;
  /** The clock for every timestamp, timeout and deadline; tests pass a fake one. */
  now?: () => number;
  /** Which queued jobs share a batch (default: a fresh BatchPlan, which learns run times as jobs end). */
  batchPlan?: BatchPlan;
  /** Live instances (AO processes; memory only): their lanes' threads and bounds. Without it, instance runs are refused. */
  instances?: { lanes: InstanceLanes; settings: InstanceSettings };
}

/**
 * What every store mode offers. The in-memory device answers reads synchronously (its hot path stays free
 * of promises); the Redis device answers with promises. Failures are ServiceErrors.
 */
export interface JobDevice extends Pick<EventEmitter<DeviceEvents>, 'on' | 'off' | 'once'> {
  /** `run`: validates and records a queued job (or returns the one an Idempotency-Key names). */
  submit(request: RunInput, options?: SubmitOptions): Promise<Submission>;
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
