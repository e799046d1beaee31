// The swap point between store modes: what the device core asks of where jobs live (memory, or Redis shared by replicas).
import type { ReturnedValue, WasiOutcome } from '../wasm/evaluate.js';
import type { ResultValue } from '../wasm/values.js';
import type { Job, JobError } from './job.js';
import type { ListPage, ListQuery } from './job-store.js';
import type { StoredCall } from './stored-call.js';

/** A read or write that a store in memory answers at once and a remote one with a promise. */
export type Answer<T> = T | Promise<T>;

/** (Not named `then`: a module exporting `then` is a thenable when imported dynamically.) `value` given to `next` now when it is there (memory), or once it comes (Redis): memory's path stays free of promises. */
export function andThen<T, R>(value: Answer<T>, next: (value: T) => Answer<R>): Answer<R> {
  return value instanceof Promise ? value.then<R>(next) : next(value);
}

/** How a job ends: its terminal status and what it produced. */
export interface Settlement {
  status: 'completed' | 'failed' | 'cancelled';
  /** Settle only a job still `running` (the outcome of a run here), or one in either live state ('live'). */
  from: 'running' | 'live';
  error?: JobError;
  results?: ResultValue[];
  durationMs?: number;
  fuelUsed?: number;
  returned?: ReturnedValue;
  wasi?: WasiOutcome;
  /** An AO message's answer. */
  output?: unknown;
}

/** A new job as the core admits it: its id, call and limits; the store gives it its `seq` and `createdAt`. */
export interface Admission {
  job: Job;
  /** What a replica needs to plan the call again (Redis); memory keeps the plan itself. */
  call: StoredCall;
  /** Jobs waiting for a thread here, checked against the queue limit (absent: the job does not use the pool's queue). */
  waitingHere?: number;
}

/** What admission answers: the job recorded now, or the earlier job of its Idempotency-Key. */
export interface Recorded {
  job: Job;
  replayed: boolean;
  /** The core runs it here now (memory); otherwise a replica takes it from the shared queue (Redis). */
  runHere: boolean;
}

/** What a store tells the core of on its own. */
export interface StoreEvents {
  /** A settlement the store made itself (a lost replica's job, an outcome saved once Redis was back): log, emit, release. */
  settled(job: Job): void;
  /** Whether this process waits on or runs the job: only then is a settlement made elsewhere worth reading. */
  concerns(id: string): boolean;
  /** A settlement made anywhere (this replica included): release its waits, stop it if it runs here. */
  heard(job: Job): void;
  /** A job this replica took from the shared queue, already `running`: run it here; resolve once it is done here. */
  run(job: Job, call: StoredCall): Promise<void>;
  /** Settlements may have been missed (a reconnect): look again at what is being waited on. */
  recheck(): void;
}

/**
 * reserve and record (`record`), start, settle, read (`read`, `replay`), list, watch. Memory answers synchronously
 * and hands out the live job objects it keeps; Redis answers with promises and decodes a copy each read.
 * Failures are ServiceErrors (WASM64_STORE_UNAVAILABLE while Redis is away).
 */
export interface JobStorePort {
  /** Reads answer synchronously with the live jobs the core mutates. */
  readonly local: boolean;
  /** The store answers (Redis reachable). */
  readonly available: boolean;
  /** The earlier job of an Idempotency-Key (undefined: none); throws WASM64_IDEMPOTENCY_MISMATCH for another request's key. */
  replay(key: string, fingerprint: string): Answer<Job | undefined>;
  /**
   * Makes room for the job (queue and store limits) and records it `queued`, or answers the earlier job of its
   * key; throws WASM64_QUEUE_FULL or WASM64_SHUTTING_DOWN and records nothing.
   */
  record(admission: Admission): Answer<Recorded>;
  /** The job got a thread here at `startedAt` (the device's clock). */
  start(job: Job, startedAt: number): void;
  /**
   * The one place a job becomes terminal; the first settlement wins. Answers the settled job when this one won,
   * undefined when the job had ended already (or the outcome is kept to be written once the store is back).
   * With `strict` (a cancel): throws WASM64_JOB_NOT_FOUND, WASM64_JOB_FINISHED or WASM64_STORE_UNAVAILABLE instead.
   */
  settle(job: Job, settlement: Settlement, strict?: boolean): Answer<Job | undefined>;
  read(id: string): Answer<Job | undefined>;
  list(query: ListQuery): Answer<ListPage>;
  /** Jobs waiting for a thread as the store counts them: `here`, or the cluster's as last seen. */
  queued(here: number): number;
  /** Where the store tells the core of what it did on its own. */
  watch(events: StoreEvents): void;
  /** The core's sweep: drop expired jobs. */
  sweep(): void;
  /** Stops taking jobs from a shared queue (shutdown begins). */
  stopTaking(): void;
  /** Writes what is left and lets go of connections; the core has ended every job it ran. */
  close(): Promise<void>;
}
