// The ~wasm64@1.0 device: admits jobs, queues them, runs them on the pool, and records how they end.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { ServiceError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { RunRequest } from '../schemas/job.js';
import { fromWasmValue } from '../wasm/values.js';
import type { WasmValue } from '../wasm/values.js';
import { BatchAbort } from '../worker/pool.js';
import type { WorkerPool, WorkerStats } from '../worker/pool.js';
import { resolveCall } from './call-plan.js';
import { BatchControl, FINISHED, PENDING, RUNNING } from '../worker/batch-control.js';
import type { BatchOutcome, CallOptions, EvaluateTask } from '../worker/protocol.js';
import { BatchPlan, planKey } from './batch-plan.js';
import { fingerprintRequest } from './fingerprint.js';
import { isTerminal, jobError } from './job.js';
import type { Job, JobStatus } from './job.js';
import { DEVICE_DEFAULTS } from './defaults.js';
import type { JobDevice } from './job-device.js';
import type { JobStore, ListPage, ListQuery } from './job-store.js';
import { DEFAULT_LIMITS, resolveLimits } from './limits.js';
import type { LimitSettings } from './limits.js';
import { moduleSource } from './module-source.js';
import { InstanceManager } from './instances/manager.js';
import type { InstanceSettings } from './instances/manager.js';
import type { InstanceLanes } from '../worker/instance-lanes.js';
import type { CallEvaluation } from '../wasm/instance.js';
import { LINKED_IMPORTS } from './linked-imports.js';
import { ModuleStore, moduleId } from './module-store.js';
import type { CompiledVariant, StoredModule } from './module-store.js';
import { IdleSignal } from './idle.js';
import { WaitersByJob } from './waiters.js';

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

/** A job waiting for a thread, or out with the pool in a flight (then `flight` and its `index` there are set). */
interface Entry {
  job: Job;
  module: CompiledVariant;
  parameters: WasmValue[];
  /** WASI, memory I/O and reactor initialisation, as the task carries them. */
  call: CallOptions;
  /** Its module, function and metering, for the batch plan. */
  key: string;
  /** How often a lost batch sent it back to the queue; bounded, so a job that kills threads cannot loop. */
  requeues: number;
  flight: Flight | undefined;
  index: number;
}

/**
 * A batch the device has handed to the pool: `control` says job by job what the thread has run, and
 * `abort` aborts the whole batch (terminating its thread if it runs).
 */
interface Flight {
  entries: Entry[];
  control: BatchControl;
  abort: BatchAbort;
  /** The device aborted it to stop one job: its other unfinished jobs go back to the queue. */
  aborted: boolean;
}

/** A request waiting for a job to settle. */
interface Wait {
  /** On the device's clock. */
  deadline: number;
  /** Ends the wait (once): resolves it with the job as it is. */
  end: () => void;
  /**
   * Stops listening for the client going away; cleared once called. A wait must not hold on to its request
   * after it ends: a Set or Map it was deleted from keeps it reachable for V8's young-generation GC until
   * the next full one, so everything it references is copied and promoted (a request's whole graph, 4.5-5 KB
   * a job under Prefer: wait, when this closure and `cancelOn` were kept; bench/RESULTS.md).
   */
  stopListening: (() => void) | undefined;
}

/** A job that lost its batch this many times (its thread died under another job) fails instead of running again. */
const MAX_REQUEUES = 3;

/**
 * Jobs wait in `#queue` (a Map in arrival order, at most `maxQueue`), then go to the pool in batches
 * (flights): at most `threads * 2` flights are out at once, so each thread has one batch running and one
 * ready behind it. Jobs known to be short share a batch (see BatchPlan), so one message each way carries
 * many of them; others travel alone. A batch's BatchControl tells the device, without a message, which of
 * its jobs the thread has started and when: a job is `running` from that moment and its timeout counts
 * from it. Stopping a job the thread has not reached withdraws it (the thread skips it); stopping the one
 * it runs aborts the batch, which terminates the thread, and the batch's other unfinished jobs go back to
 * the front of the queue to run again (jobs are pure: running one twice gives the same outcome).
 */
export class Wasm64Device extends EventEmitter<DeviceEvents> implements JobDevice {
  readonly #pool: WorkerPool;
  readonly #store: JobStore;
  readonly #modules: ModuleStore;
  readonly #limits: LimitSettings;
  readonly #log: Logger;
  readonly #maxQueue: number;
  readonly #defaultTimeoutMs: number;
  readonly #maxTimeoutMs: number;
  readonly #maxWaiters: number;
  readonly #outputLimit: number;
  readonly #now: () => number;
  readonly #queue = new Map<string, Entry>();
  /** Jobs out with the pool, by id. */
  readonly #dispatched = new Map<string, Entry>();
  readonly #flights = new Set<Flight>();
  readonly #plan: BatchPlan;
  /** Per job, the requests waiting for it to settle; the sweep ends those past their deadline. */
  readonly #waiters = new WaitersByJob<Wait>();
  /** The earliest deadline among the waits. */
  #nextDeadline = Infinity;
  #seq = 0;
  #dispatchScheduled = false;
  #closing: Promise<void> | undefined;
  #accepting = true;
  /** Resolves the grace period of close() early once nothing runs any more. */
  readonly #idle = new IdleSignal();
  readonly #sweep: NodeJS.Timeout;
  readonly #instances: InstanceManager | undefined;

  constructor(options: DeviceOptions) {
    super();
    this.#pool = options.pool;
    this.#store = options.store;
    this.#modules = options.modules ?? new ModuleStore({
      defaultModule: options.defaultModule,
      maxModules: 1000,
      maxBytes: 256 * 1024 * 1024,
      maxModuleBytes: 8 * 1024 * 1024,
      maxMemoryPages: Math.floor((options.limits ?? DEFAULT_LIMITS).memoryLimitMax / 65_536),
      importChecks: LINKED_IMPORTS,
    });
    this.#limits = options.limits ?? DEFAULT_LIMITS;
    this.#log = options.logger;
    this.#maxQueue = options.maxQueue;
    this.#defaultTimeoutMs = options.defaultTimeoutMs;
    this.#maxTimeoutMs = options.maxTimeoutMs;
    this.#maxWaiters = options.maxWaiters ?? DEVICE_DEFAULTS.maxWaiters;
    this.#outputLimit = options.outputLimit ?? DEVICE_DEFAULTS.outputLimit;
    this.#now = options.now ?? Date.now;
    this.#plan = options.batchPlan ?? new BatchPlan();
    if (options.instances !== undefined) {
      this.#instances = new InstanceManager({
        lanes: options.instances.lanes,
        settings: options.instances.settings,
        modules: this.#modules,
        limits: this.#limits,
        outputLimit: this.#outputLimit,
        maxQueue: this.#maxQueue,
        defaultTimeoutMs: this.#defaultTimeoutMs,
        logger: this.#log,
        now: this.#now,
        hooks: {
          started: (job) => this.#markRunning(job, Date.now()),
          finished: (job, evaluation, durationMs) => this.#record(job, evaluation, durationMs),
          ended: (job, status, code, message) => this.#settle(job, status, code, message),
        },
      });
    }
    // One timer for every timeout and expiry, never one per job; unref'd so it never holds the process open.
    this.#sweep = setInterval(() => this.#sweepOnce(), options.sweepIntervalMs ?? 50).unref();
  }

  /**
   * `run`: validates the call against the module's real signature, then records a queued job and
   * schedules it. Throws ServiceError (and creates nothing) when the call is invalid, the queue or the
   * store is full, or the device is shutting down. With an Idempotency-Key seen before, returns that
   * job if the request is the same, and refuses with WASM64_IDEMPOTENCY_MISMATCH if it is not.
   */
  async submit(request: RunRequest, options: SubmitOptions = {}): Promise<Submission> {
    const key = options.idempotencyKey;
    // A raw upload is part of the request: its digest stands in for its bytes.
    const fingerprint = key === undefined ? undefined : fingerprintRequest(options.upload === undefined ? request : { ...request, upload: moduleId(options.upload) });
    const replay = this.#replay(key, fingerprint);
    if (replay !== undefined) return replay;
    this.#checkAccepting();
    if (request.instance_id !== undefined) return this.#submitToInstance(request, key, fingerprint);
    if (request.message !== undefined || request.env !== undefined) {
      throw new ServiceError('WASM64_INSTANCE_CONFLICT', '"message" and "env" go to a live instance: send them with "instance_id"');
    }
    const resolved = await this.#modules.resolve(await moduleSource(request, options.upload, this.#modules.maxModuleBytes));
    const { fn, parameters, echo, call } = resolveCall(request, resolved.module, this.#outputLimit);
    const timeoutMs = request.timeout_ms ?? this.#defaultTimeoutMs;
    if (timeoutMs > this.#maxTimeoutMs) {
      throw new ServiceError('WASM64_TIMEOUT_TOO_LONG', `timeout_ms may be at most ${this.#maxTimeoutMs}, got ${timeoutMs}`);
    }
    const limits = resolveLimits(request, this.#limits, resolved.module);
    const compiled = await this.#modules.compiledFor(resolved, { memoryCapPages: limits.memoryCapPages, fuel: limits.fuel !== null });
    // The awaits above let other requests in: one with the same key may have been admitted meanwhile.
    const raced = this.#replay(key, fingerprint);
    if (raced !== undefined) return raced;
    this.#checkAccepting();
    if (this.#queue.size >= this.#maxQueue) {
      throw new ServiceError('WASM64_QUEUE_FULL', `${this.#queue.size} jobs are already waiting; retry shortly`, { 'retry-after': '1' });
    }
    if (!this.#store.reserve()) {
      throw new ServiceError('WASM64_QUEUE_FULL', 'the job store is full of unfinished jobs; retry shortly', { 'retry-after': '1' });
    }
    const job: Job = {
      id: randomUUID(),
      seq: ++this.#seq,
      status: 'queued',
      moduleId: resolved.module.id,
      function: fn.name,
      parameters: echo,
      timeoutMs,
      memoryLimit: limits.memoryLimit,
      createdAt: this.#now(),
    };
    if (limits.fuel !== null) job.fuel = limits.fuel;
    if (key !== undefined && fingerprint !== undefined) job.idempotency = { key, fingerprint };
    this.#store.add(job);
    // Metered jobs run slower than unmetered ones of the same function: the plan tells them apart.
    this.#queue.set(job.id, { job, module: compiled, parameters, call, key: planKey(job.moduleId, fn.name, limits.fuel !== null), requeues: 0, flight: undefined, index: 0 });
    this.#log.debug({ job: job.id, function: job.function }, 'job queued');
    this.#emit('queued', job);
    this.#scheduleDispatch();
    return { job, replayed: false };
  }

  /** A run against a live instance: admitted by the instance manager, queued behind the instance's earlier jobs. */
  #submitToInstance(request: RunRequest, key: string | undefined, fingerprint: string | undefined): Submission {
    if (this.#instances === undefined) throw new ServiceError('WASM64_INSTANCES_UNAVAILABLE', 'this device runs no instances');
    const admitted = this.#instances.admit(request);
    const timeoutMs = request.timeout_ms ?? this.#defaultTimeoutMs;
    if (timeoutMs > this.#maxTimeoutMs) {
      throw new ServiceError('WASM64_TIMEOUT_TOO_LONG', `timeout_ms may be at most ${this.#maxTimeoutMs}, got ${timeoutMs}`);
    }
    if (!this.#store.reserve()) {
      throw new ServiceError('WASM64_QUEUE_FULL', 'the job store is full of unfinished jobs; retry shortly', { 'retry-after': '1' });
    }
    const { instance } = admitted;
    const job: Job = {
      id: randomUUID(),
      seq: ++this.#seq,
      status: 'queued',
      moduleId: instance.module.id,
      function: admitted.function,
      parameters: admitted.echo,
      timeoutMs,
      memoryLimit: instance.memoryLimit,
      createdAt: this.#now(),
      instanceId: instance.id,
    };
    if (instance.setup.fuel !== null) job.fuel = instance.setup.fuel;
    if (key !== undefined && fingerprint !== undefined) job.idempotency = { key, fingerprint };
    this.#store.add(job);
    this.#log.debug({ job: job.id, instance: instance.id, function: job.function }, 'instance job queued');
    this.#emit('queued', job);
    this.#instances.enqueue(job, admitted);
    return { job, replayed: false };
  }

  /** Live instances (AO processes), or undefined when the device was built without them. */
  get instances(): InstanceManager | undefined {
    return this.#instances;
  }

  /** The earlier job of a request repeated with its Idempotency-Key; WASM64_IDEMPOTENCY_MISMATCH if the request differs. */
  #replay(key: string | undefined, fingerprint: string | undefined): Submission | undefined {
    if (key === undefined) return undefined;
    const earlier = this.#store.getByIdempotencyKey(key);
    if (earlier === undefined) return undefined;
    if (earlier.idempotency?.fingerprint !== fingerprint) {
      throw new ServiceError('WASM64_IDEMPOTENCY_MISMATCH', `the Idempotency-Key "${key}" was used for a different request; use a new key`);
    }
    return { job: earlier, replayed: true };
  }

  #checkAccepting(): void {
    if (!this.#accepting) throw new ServiceError('WASM64_SHUTTING_DOWN', 'the service is shutting down; retry on another instance or after it restarts');
  }

  /** The module store: uploads, lookups by id, compile counters. */
  get modules(): ModuleStore {
    return this.#modules;
  }

  /** `status`: the job as it is now, or undefined for an unknown (or expired) id. */
  get(id: string): Job | undefined {
    const job = this.#store.get(id);
    if (job?.status === 'queued') this.#observe(this.#dispatched.get(id));
    return job;
  }

  /** `jobs`: the stored jobs, newest first. */
  list(query: ListQuery): ListPage {
    return this.#store.list(query);
  }

  /**
   * `cancel`: a queued job ends `cancelled` at once; a running one too, and its task is aborted, which
   * terminates its thread (Piscina starts a new one). Throws WASM64_JOB_NOT_FOUND, or
   * WASM64_JOB_FINISHED for a job that is already terminal.
   */
  cancel(id: string): Job {
    const job = this.#store.get(id);
    if (job === undefined) throw new ServiceError('WASM64_JOB_NOT_FOUND', `no job has the id "${id}"`);
    if (isTerminal(job)) throw new ServiceError('WASM64_JOB_FINISHED', `the job is already ${job.status}; only queued or running jobs can be cancelled`);
    this.#stop(job, 'WASM64_CANCELLED', 'cancelled on request');
    return job;
  }

  /**
   * Resolves with `job` once it is terminal, after `waitMs`, or when `cancelOn` ends the wait (the client
   * went away), whichever comes first; never rejects. `cancelOn` is called with the wait's end and returns
   * how to stop listening. A wait costs one entry in its job's set and no timer of its own: the sweep ends it
   * at its deadline (as precisely as the sweep runs). Beyond `maxWaiters` it resolves at once.
   */
  waitFor(job: Job, waitMs: number, cancelOn?: (end: () => void) => () => void): Promise<Job> {
    if (isTerminal(job) || waitMs <= 0 || this.#waiters.size >= this.#maxWaiters) return Promise.resolve(job);
    let wait: Wait | undefined;
    const promise = new Promise<Job>((resolve) => (wait = this.#addWait(job, waitMs, resolve)));
    // `cancelOn` (which holds the request) is used here, outside every closure the wait keeps: see Wait.stopListening.
    if (wait !== undefined && cancelOn !== undefined) {
      const stop = cancelOn(wait.end);
      if (this.#waiters.of(job.id)?.has(wait) === true) wait.stopListening = stop;
      else stop(); // it ended the wait at once
    }
    return promise;
  }

  #addWait(job: Job, waitMs: number, resolve: (job: Job) => void): Wait {
    const wait: Wait = {
      deadline: this.#now() + waitMs,
      end: () => {
        if (!this.#waiters.delete(job.id, wait)) return;
        const stop = wait.stopListening;
        wait.stopListening = undefined;
        stop?.();
        resolve(job);
      },
      stopListening: undefined,
    };
    this.#waiters.add(job.id, wait);
    if (wait.deadline < this.#nextDeadline) this.#nextDeadline = wait.deadline;
    return wait;
  }

  /** Ends every wait now, each with its job as it is (the app is closing). */
  endWaits(): void {
    for (const wait of this.#waiters.all()) wait.end();
  }

  /** Jobs accepted and waiting for a thread. */
  get queued(): number {
    let pending = 0;
    for (const { control } of this.#flights) for (let i = 0; i < control.size; i++) if (control.state(i) === PENDING) pending++;
    return this.#queue.size + pending + (this.#instances?.queued ?? 0);
  }

  /** Jobs on a thread now. */
  get running(): number {
    let running = 0;
    for (const { control } of this.#flights) if (control.running() >= 0) running++;
    return running + (this.#instances?.running ?? 0);
  }

  /** Requests waiting for a job to settle (long polls and `Prefer: wait`). */
  get waiting(): number {
    return this.#waiters.size;
  }

  /** Jobs in the store, live and finished. */
  get stored(): number {
    return this.#store.size;
  }

  /** False once close() has begun: new runs are refused with WASM64_SHUTTING_DOWN. */
  get accepting(): boolean {
    return this.#accepting;
  }

  /** The pool's threads: alive, busy, and restarted (for readiness and metrics). */
  get workers(): WorkerStats {
    return this.#pool.workers();
  }

  /** Memory is always there. */
  get storeAvailable(): boolean {
    return true;
  }

  /**
   * Shuts the device down; every accepted job ends terminal. At once: new runs are refused
   * (WASM64_SHUTTING_DOWN) and queued jobs end `cancelled` with WASM64_SHUTDOWN. Running jobs get
   * `graceMs` to finish (their timeouts still apply); those still running then are aborted and end
   * `cancelled` with WASM64_SHUTDOWN. Then the pool is destroyed. Calling it again returns the same promise.
   */
  close(graceMs = 0): Promise<void> {
    this.#accepting = false;
    this.#closing ??= this.#shutdown(graceMs);
    return this.#closing;
  }

  async #shutdown(graceMs: number): Promise<void> {
    const reason = 'the service shut down before the job finished';
    for (const { job } of this.#queue.values()) this.#stop(job, 'WASM64_SHUTDOWN', reason);
    // Jobs out with the pool that no thread has started are withdrawn; the running ones get the grace period.
    for (const entry of this.#dispatched.values()) {
      if (entry.flight?.control.state(entry.index) === PENDING) this.#stop(entry.job, 'WASM64_SHUTDOWN', reason);
    }
    if (this.#flights.size > 0 && graceMs > 0) {
      await this.#idle.wait(graceMs);
    }
    for (const { job } of this.#dispatched.values()) this.#stop(job, 'WASM64_SHUTDOWN', reason);
    clearInterval(this.#sweep);
    await Promise.all([this.#pool.destroy(), this.#instances?.close(graceMs)]);
  }

  /**
   * Ends a live job now with `code` (cancelled, or failed for a timeout). A job out with the pool is
   * withdrawn if its thread has not reached it; if the thread is running it, its batch is aborted.
   */
  #stop(job: Job, code: 'WASM64_CANCELLED' | 'WASM64_SHUTDOWN' | 'WASM64_TIMEOUT', message: string): void {
    this.#queue.delete(job.id);
    const entry = this.#dispatched.get(job.id);
    const instanceJob = entry === undefined && job.instanceId !== undefined && this.#instances?.holds(job) === true;
    this.#settle(job, code === 'WASM64_TIMEOUT' ? 'failed' : 'cancelled', code, message);
    if (instanceJob) {
      // Out of its instance's lane queue, or, running, its lane's thread terminated.
      this.#instances?.withdraw(job);
      return;
    }
    const flight = entry?.flight;
    if (entry === undefined || flight === undefined || flight.aborted) return;
    if (flight.control.withdraw(entry.index) === RUNNING) {
      flight.aborted = true;
      // Piscina rejects the batch at once and terminates its thread; #finish sends the rest back to the queue.
      flight.abort.abort(code);
    }
  }

  /** Dispatches after the current turn, so that jobs submitted together go to the pool together. */
  #scheduleDispatch(): void {
    if (this.#dispatchScheduled) return;
    this.#dispatchScheduled = true;
    setImmediate(() => {
      this.#dispatchScheduled = false;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    const slots = this.#pool.threads * 2;
    while (this.#flights.size < slots && this.#queue.size > 0) {
      const entries = this.#plan.take(this.#queue.values(), (e) => e.key);
      const flight: Flight = { entries, control: new BatchControl(entries.length), abort: new BatchAbort(), aborted: false };
      const tasks: EvaluateTask[] = [];
      for (let i = 0; i < entries.length; i++) {
        const entry = entries[i] as Entry;
        this.#queue.delete(entry.job.id);
        this.#dispatched.set(entry.job.id, entry);
        entry.flight = flight;
        entry.index = i;
        tasks.push({
          jobId: entry.job.id,
          module: entry.module.module,
          instrumentation: entry.module.instrumentation,
          fuel: entry.job.fuel ?? null,
          reuse: entry.module.reuse,
          function: entry.job.function,
          parameters: entry.parameters,
          call: entry.call,
        });
      }
      this.#flights.add(flight);
      this.#pool
        .run({ tasks, control: flight.control.buffer }, flight.abort)
        .then(
          (outcomes) => this.#finish(flight, outcomes),
          (err: unknown) => this.#finish(flight, undefined, err),
        )
        // A fault in recording the outcomes must not become an unhandled rejection, which ends the process.
        .catch((err: unknown) => this.#log.error({ err, jobs: entries.map((e) => e.job.id) }, 'recording how a batch ended failed'));
    }
  }

  /** Marks a job out with the pool `running` once its thread has claimed it. */
  #observe(entry: Entry | undefined): void {
    const flight = entry?.flight;
    if (entry === undefined || flight === undefined) return;
    const { index } = entry;
    const state = flight.control.state(index);
    if (state === RUNNING || state === FINISHED) this.#markRunning(entry.job, flight.control.startedAt(index));
  }

  /** `startedAt` is on the worker's wall clock; the job records it on the device's (the same one unless a test fakes it). */
  #markRunning(job: Job, startedAt: number): void {
    if (job.status !== 'queued') return;
    job.status = 'running';
    job.startedAt = this.#now() - Math.max(0, Date.now() - startedAt);
    this.#emit('started', job, job.startedAt - job.createdAt);
  }

  /** The pool answered (or rejected) a batch: record each job's outcome, requeue what it lost, dispatch more. */
  #finish(flight: Flight, outcomes: BatchOutcome | undefined, err?: unknown): void {
    this.#flights.delete(flight);
    const lost: Entry[] = [];
    const crashed = outcomes === undefined && !flight.aborted ? flight.control.running() : -1;
    for (let i = 0; i < flight.entries.length; i++) {
      const entry = flight.entries[i] as Entry;
      const { job } = entry;
      this.#dispatched.delete(job.id);
      entry.flight = undefined;
      const outcome = outcomes?.[i];
      if (isTerminal(job)) {
        // Cancelled, timed out or shut down while out with the pool: that outcome stands.
      } else if (outcome !== undefined && outcome !== null) {
        this.#markRunning(job, outcome.startedAt);
        this.#plan.observe(entry.key, outcome.durationMs);
        job.durationMs = outcome.durationMs;
        if (outcome.fuelUsed !== undefined) job.fuelUsed = outcome.fuelUsed;
        if (outcome.wasi !== undefined) job.wasi = outcome.wasi;
        if (outcome.ok && outcome.returned !== undefined) job.returned = outcome.returned;
        if (outcome.ok) this.#settle(job, 'completed', undefined, '', outcome.results);
        else this.#settle(job, 'failed', outcome.code, outcome.message);
      } else if (i === crashed || (outcomes === undefined && !flight.aborted && entry.requeues >= MAX_REQUEUES)) {
        // Not an abort of ours: the thread died under this job (or it kept losing its batch).
        this.#log.error({ job: job.id, err }, 'job failed: the worker running it failed');
        this.#settle(job, 'failed', 'WASM64_WORKER_FAILED', err instanceof Error ? err.message : String(err));
      } else {
        lost.push(entry);
      }
    }
    if (lost.length > 0) this.#requeue(lost);
    if (this.#flights.size === 0) this.#idle.notify();
    if (this.#accepting) this.#dispatch();
  }

  /** Puts jobs whose batch was lost back at the front of the queue, in their order, as if never started. */
  #requeue(lost: Entry[]): void {
    if (!this.#accepting) {
      for (const { job } of lost) this.#stop(job, 'WASM64_SHUTDOWN', 'the service shut down before the job finished');
      return;
    }
    const waiting = [...this.#queue.values()];
    this.#queue.clear();
    for (const entry of lost) {
      entry.requeues++;
      entry.job.status = 'queued';
      delete entry.job.startedAt;
      this.#queue.set(entry.job.id, entry);
    }
    for (const entry of waiting) this.#queue.set(entry.job.id, entry);
    this.#log.info({ jobs: lost.length }, 'jobs sent back to the queue: their batch lost its thread');
  }

  /** Records what a job's evaluation produced and settles it completed or failed. */
  #record(job: Job, outcome: CallEvaluation, durationMs: number): void {
    if (isTerminal(job)) return;
    job.durationMs = durationMs;
    if (outcome.fuelUsed !== undefined) job.fuelUsed = outcome.fuelUsed;
    if (outcome.wasi !== undefined) job.wasi = outcome.wasi;
    if (outcome.ok && outcome.returned !== undefined) job.returned = outcome.returned;
    if (outcome.ok && 'output' in outcome) job.output = outcome.output;
    if (outcome.ok) this.#settle(job, 'completed', undefined, '', outcome.results);
    else this.#settle(job, 'failed', outcome.code, outcome.message);
  }

  /** The one place a job becomes terminal: records it, releases its waiters, tells observers. First call wins. */
  #settle(job: Job, status: Exclude<JobStatus, 'queued' | 'running'>, code: ErrorCode | undefined, message: string, results?: WasmValue[]): void {
    if (isTerminal(job)) return;
    job.status = status;
    job.finishedAt = this.#now();
    if (results !== undefined) job.results = results.map(fromWasmValue);
    if (code !== undefined) job.error = jobError(code, message);
    try {
      this.#store.settled(job);
    } catch (err) {
      // The job is terminal all the same: its waiters and observers still hear of it.
      this.#log.error({ err, job: job.id }, 'the job store failed to record a settled job');
    }
    const waiters = this.#waiters.of(job.id);
    if (waiters !== undefined) for (const wait of waiters) wait.end();
    if (status === 'completed') this.#log.debug({ job: job.id }, 'job completed');
    else this.#log.info({ job: job.id, status, code, reason: message }, `job ${status}`);
    this.#emit('settled', job);
  }

  /** Times out the job each thread runs if it ran past its timeout, and expires old finished jobs. */
  #sweepOnce(): void {
    try {
      this.#sweepTimeoutsAndExpiry();
    } catch (err) {
      // A throw from a timer callback is an uncaught exception: log it, the next sweep tries again.
      this.#log.error({ err }, 'the device sweep failed');
    }
  }

  #sweepTimeoutsAndExpiry(): void {
    if (this.#flights.size > 0) {
      const now = this.#now();
      for (const flight of [...this.#flights]) {
        const running = flight.entries[flight.control.running()];
        if (running === undefined || isTerminal(running.job)) continue;
        this.#observe(running);
        const { job } = running;
        if (now - (job.startedAt ?? now) >= job.timeoutMs) {
          this.#stop(job, 'WASM64_TIMEOUT', `the job ran longer than its timeout_ms of ${job.timeoutMs}`);
        }
      }
    }
    if (this.#waiters.size > 0) this.#endWaitsDue();
    this.#store.evictExpired();
  }

  #endWaitsDue(): void {
    const now = this.#now();
    if (now < this.#nextDeadline) return;
    let next = Infinity;
    for (const wait of this.#waiters.all()) {
      if (wait.deadline <= now) wait.end();
      else if (wait.deadline < next) next = wait.deadline;
    }
    this.#nextDeadline = next;
  }

  #emit<K extends keyof DeviceEvents>(event: K, ...args: DeviceEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: DeviceEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.#log.error({ err, event }, 'a device event listener threw');
    }
  }
}
