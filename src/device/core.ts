// The ~wasm64@1.0 device: admits jobs, runs them on the pool, records how they end, and answers waits; the same in every store mode.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { fail, ServiceError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { CallEvaluation } from '../wasm/instance.js';
import { fromWasmValue } from '../wasm/values.js';
import type { WorkerPool, WorkerStats } from '../worker/pool.js';
import type { EvaluateOutcome } from '../worker/protocol.js';
import { BatchPlan, planKey } from './batch-plan.js';
import { newJob, planAgain, storedCallOf, timeoutOf } from './admission.js';
import { resolveCall } from './call-plan.js';
import { DEVICE_DEFAULTS } from './defaults.js';
import { fingerprintRequest } from './fingerprint.js';
import { InstanceManager } from './instances/manager.js';
import { isTerminal, jobError } from './job.js';
import type { Job } from './job.js';
import type { CoreOptions, DeviceEvents, JobDevice, RunnableModules, SubmitOptions, Submission } from './job-device.js';
import type { ListPage, ListQuery } from './job-store.js';
import { resolveLimits } from './limits.js';
import type { LimitSettings } from './limits.js';
import { moduleSource } from './module-source.js';
import { moduleId, ModuleStore } from './module-store.js';
import type { RunInput } from './run-input.js';
import { PoolRunner } from './runner.js';
import type { RunPlan } from './runner.js';
import { andThen } from './store-port.js';
import type { Answer, JobStorePort, Settlement } from './store-port.js';
import type { StoredCall } from './stored-call.js';
import { Waits } from './waiters.js';

/**
 * Admission (replay, accept, resolve the module and the call, limits, compile, record), waits, the one path by
 * which a job settles and observers hear of it, the sweep and the shutdown: written once here. What differs
 * between store modes is behind the store port (where jobs live, how a replica hears of the others) and is
 * small. Jobs this process runs go to its pool through one PoolRunner, in both modes.
 */
export class DeviceCore extends EventEmitter<DeviceEvents> implements JobDevice {
  readonly #store: JobStorePort;
  readonly #pool: WorkerPool;
  readonly #modules: RunnableModules;
  readonly #log: Logger;
  readonly #limits: LimitSettings;
  readonly #defaultTimeoutMs: number;
  readonly #maxTimeoutMs: number;
  readonly #outputLimit: number;
  readonly #now: () => number;
  readonly #runner: PoolRunner;
  readonly #instances: InstanceManager | undefined;
  readonly #waits: Waits;
  /** What a job in memory keeps of its call: nothing beyond the output limit (the runner has its plan). */
  readonly #localCall: StoredCall;
  /** Settlements on their way to a remote store, which shutdown waits for. */
  readonly #settling = new Set<Promise<unknown>>();
  #accepting = true;
  #closing: Promise<void> | undefined;
  readonly #sweep: NodeJS.Timeout;

  constructor(options: CoreOptions) {
    super();
    this.#store = options.store;
    this.#pool = options.pool;
    this.#modules = options.modules;
    this.#log = options.logger;
    this.#limits = options.limits;
    this.#defaultTimeoutMs = options.defaultTimeoutMs;
    this.#maxTimeoutMs = options.maxTimeoutMs;
    this.#outputLimit = options.outputLimit ?? DEVICE_DEFAULTS.outputLimit;
    this.#now = options.now ?? Date.now;
    this.#localCall = { outputLimit: this.#outputLimit };
    this.#waits = new Waits(this.#store, this.#now, options.maxWaiters ?? DEVICE_DEFAULTS.maxWaiters);
    this.#runner = new PoolRunner(options.pool, options.batchPlan ?? new BatchPlan(), options.logger, {
      started: (job, startedAt) => this.#markRunning(job, startedAt),
      finished: (job, outcome) => this.#record(job, outcome, outcome.durationMs),
      stop: (job, code, message) => void this.#stop(job, code, message),
    });
    if (options.instances !== undefined && options.modules instanceof ModuleStore) {
      this.#instances = new InstanceManager({
        lanes: options.instances.lanes,
        settings: options.instances.settings,
        modules: options.modules,
        limits: this.#limits,
        outputLimit: this.#outputLimit,
        maxQueue: options.maxQueue,
        defaultTimeoutMs: this.#defaultTimeoutMs,
        logger: this.#log,
        now: this.#now,
        hooks: {
          started: (job) => this.#markRunning(job, Date.now()),
          finished: (job, evaluation, durationMs) => this.#record(job, evaluation, durationMs),
          ended: (job, status, code, message) => void this.#settle(job, { status, from: 'live', error: jobError(code, message) }),
        },
      });
    }
    this.#store.watch({
      settled: (job) => this.#settled(job),
      concerns: (id) => this.#runner.has(id) || this.#waits.has(id),
      heard: (job) => this.#heard(job),
      run: (job, call) => this.#runHere(job, call),
      recheck: () => this.#waits.recheck(),
    });
    // One timer for every timeout, deadline and expiry, never one per job; unref'd so it never holds the process open.
    this.#sweep = setInterval(() => this.#sweepOnce(), options.sweepIntervalMs ?? 50).unref();
  }

  /**
   * `run`: validates the call against the module's real signature, then records a queued job and runs it (or,
   * with Redis, queues it for whichever replica has a thread). Throws ServiceError, creating nothing, when the
   * call is invalid, the queue or the store is full, or the device is shutting down. An Idempotency-Key seen
   * before answers with that job if the request is the same, and WASM64_IDEMPOTENCY_MISMATCH if it is not.
   */
  async submit(request: RunInput, options: SubmitOptions = {}): Promise<Submission> {
    const key = options.idempotencyKey;
    // A raw upload is part of the request: its digest stands in for its bytes.
    const fingerprint = key === undefined ? undefined : fingerprintRequest(options.upload === undefined ? request : { ...request, upload: moduleId(options.upload) });
    if (key !== undefined && fingerprint !== undefined) {
      const found = this.#store.replay(key, fingerprint);
      const earlier = found instanceof Promise ? await found : found;
      if (earlier !== undefined) return { job: earlier, replayed: true };
    }
    this.#checkAccepting();
    if (request.instance_id !== undefined) return this.#submitToInstance(request, key, fingerprint);
    if (request.message !== undefined || request.env !== undefined) {
      throw new ServiceError('WASM64_INSTANCE_CONFLICT', '"message" and "env" go to a live instance: send them with "instance_id"');
    }
    const resolved = await this.#modules.resolve(await moduleSource(request, options.upload, this.#modules.maxModuleBytes));
    const { fn, parameters, echo, call } = resolveCall(request, resolved.module, this.#outputLimit);
    const timeoutMs = timeoutOf(request, this.#defaultTimeoutMs, this.#maxTimeoutMs);
    const limits = resolveLimits(request, this.#limits, resolved.module);
    const compiled = await this.#modules.compiledFor(resolved, { memoryCapPages: limits.memoryCapPages, fuel: limits.fuel !== null });
    const job = newJob(resolved.module.id, fn.name, echo, timeoutMs, limits.memoryLimit, limits.fuel, key, fingerprint);
    // Memory keeps the plan itself; only a store shared by replicas keeps what it takes to plan the job again.
    const stored = this.#store.local ? this.#localCall : storedCallOf(request, this.#outputLimit);
    // The awaits above let other requests in: the store checks the key again as it records the job.
    this.#checkAccepting();
    const answer = this.#store.record({ job, call: stored, waitingHere: this.#runner.waiting });
    const recorded = answer instanceof Promise ? await answer : answer;
    if (recorded.replayed) return { job: recorded.job, replayed: true };
    // Metered jobs run slower than unmetered ones of the same function: the plan tells them apart.
    if (recorded.runHere) this.#runner.enqueue(job, compiled, parameters, call, planKey(job.moduleId, fn.name, limits.fuel !== null));
    this.#log.debug({ job: job.id, function: job.function }, 'job queued');
    this.#emit('queued', job);
    return { job, replayed: false };
  }

  /** A run against a live instance: admitted by the instance manager, queued behind the instance's earlier jobs. */
  #submitToInstance(request: RunInput, key: string | undefined, fingerprint: string | undefined): Submission {
    if (this.#instances === undefined) throw fail('WASM64_INSTANCES_UNAVAILABLE');
    const admitted = this.#instances.admit(request);
    const { instance } = admitted;
    const job = newJob(instance.module.id, admitted.function, admitted.echo, timeoutOf(request, this.#defaultTimeoutMs, this.#maxTimeoutMs), instance.memoryLimit, instance.setup.fuel, key, fingerprint);
    job.instanceId = instance.id;
    const recorded = this.#store.record({ job, call: { outputLimit: this.#outputLimit } });
    if (recorded instanceof Promise || recorded.replayed) throw new Error('instances run only on a store in memory');
    this.#log.debug({ job: job.id, instance: instance.id, function: job.function }, 'instance job queued');
    this.#emit('queued', job);
    this.#instances.enqueue(job, admitted);
    return { job, replayed: false };
  }

  #checkAccepting(): void {
    if (!this.#accepting) throw fail('WASM64_SHUTTING_DOWN');
  }

  /**
   * A job this replica took from the shared queue (Redis): its module (read and compiled the first time this
   * replica runs it), in the variant instrumented for its limits, and its call planned again from what the
   * job carries, by the code that planned it at submission. Resolves once it is done here.
   */
  async #runHere(job: Job, stored: StoredCall): Promise<void> {
    this.#emit('started', job, (job.startedAt ?? job.createdAt) - job.createdAt);
    let plan: RunPlan;
    try {
      plan = await planAgain(job, stored, this.#modules, this.#limits);
    } catch (err) {
      this.#log.error({ err, job: job.id }, 'could not prepare the job on this replica');
      await this.#settle(job, { status: 'failed', from: 'running', error: jobError(err instanceof ServiceError ? err.code : 'WASM64_INTERNAL', (err as Error).message) });
      return;
    }
    await new Promise<void>((done) => this.#runner.enqueue(plan.job, plan.module, plan.parameters, plan.call, plan.key, done));
  }

  /** Live instances (AO processes), or undefined in a store mode without them. */
  get instances(): InstanceManager | undefined {
    return this.#instances;
  }

  /** The module store: uploads, lookups by id, compile counters. */
  get modules(): RunnableModules {
    return this.#modules;
  }

  /** `status`: the job as it is now, or undefined for an unknown (or expired) id. */
  get(id: string): Answer<Job | undefined> {
    const job = this.#store.read(id);
    if (!(job instanceof Promise) && job?.status === 'queued') this.#runner.observe(id);
    return job;
  }

  /** `jobs`: the stored jobs, newest first. */
  list(query: ListQuery): Answer<ListPage> {
    return this.#store.list(query);
  }

  /**
   * `cancel`: a queued or running job ends `cancelled` at once, wherever it runs; a running one's task is
   * aborted, which terminates its thread (Piscina starts a new one). Throws WASM64_JOB_NOT_FOUND, or
   * WASM64_JOB_FINISHED for a job that is already terminal.
   */
  cancel(id: string): Answer<Job> {
    return andThen(this.#store.read(id), (job) => {
      if (job === undefined) throw fail('WASM64_JOB_NOT_FOUND', id);
      if (isTerminal(job)) throw fail('WASM64_JOB_FINISHED', job.status);
      return andThen(this.#stop(job, 'WASM64_CANCELLED', 'cancelled on request', true), (settled) => {
        if (settled === undefined) throw fail('WASM64_JOB_FINISHED', job.status);
        return settled;
      });
    });
  }

  /**
   * Resolves with `job` once it is terminal, after `waitMs`, or when `cancelOn` ends the wait (the client
   * went away), whichever comes first; never rejects. See Waits.
   */
  waitFor(job: Job, waitMs: number, cancelOn?: (end: () => void) => () => void): Promise<Job> {
    return this.#waits.waitFor(job, waitMs, cancelOn);
  }

  /** Ends every wait now, each with its job as it is (the app is closing). */
  endWaits(): void {
    this.#waits.endAll();
  }

  /** Jobs accepted and waiting for a thread (Redis: across the cluster, as this replica last saw it). */
  get queued(): number {
    return this.#store.queued(this.#runner.queued + (this.#instances?.queued ?? 0));
  }

  /** Jobs on this process's threads now. */
  get running(): number {
    return this.#runner.running + (this.#instances?.running ?? 0);
  }

  /** Requests waiting for a job to settle (long polls and `Prefer: wait`). */
  get waiting(): number {
    return this.#waits.size;
  }

  /** False once close() has begun: new runs are refused with WASM64_SHUTTING_DOWN. */
  get accepting(): boolean {
    return this.#accepting;
  }

  /** The pool's threads: alive, busy, and restarted (for readiness and metrics). */
  get workers(): WorkerStats {
    return this.#pool.workers();
  }

  /** False while the job store cannot be reached (Redis down); always true in memory. */
  get storeAvailable(): boolean {
    return this.#store.available;
  }

  /**
   * Shuts the device down; every job it holds ends terminal. At once: new runs are refused (WASM64_SHUTTING_DOWN),
   * no more are taken from a shared queue, and jobs here that no thread has started end `cancelled` with
   * WASM64_SHUTDOWN (jobs queued in a Redis cluster stay queued for the other replicas). Running jobs get
   * `graceMs` to finish (their timeouts still apply); those still running then end the same way. Then the
   * store's connections and the pool are closed. Calling it again returns the same promise.
   */
  close(graceMs = 0): Promise<void> {
    this.#accepting = false;
    this.#closing ??= this.#shutdown(graceMs);
    return this.#closing;
  }

  async #shutdown(graceMs: number): Promise<void> {
    this.#store.stopTaking();
    this.#runner.close();
    for (const job of this.#runner.unstarted()) void this.#stop(job, 'WASM64_SHUTDOWN', '');
    await this.#runner.idle(graceMs);
    for (const job of this.#runner.all()) void this.#stop(job, 'WASM64_SHUTDOWN', '');
    clearInterval(this.#sweep);
    await Promise.all([...this.#settling]);
    await this.#store.close();
    await Promise.all([this.#pool.destroy(), this.#instances?.close(graceMs)]);
    // Every job here is terminal now; what is left are waits on jobs other replicas hold.
    this.endWaits();
  }

  /**
   * Ends a live job now with `code` (cancelled, or failed for a timeout or a dead thread): it leaves the runner
   * (withdrawn if its thread has not reached it, its batch aborted if its thread runs it), and settles.
   */
  #stop(job: Job, code: ErrorCode, message: string, strict = false): Answer<Job | undefined> {
    const detail = message !== '' ? message : code === 'WASM64_TIMEOUT' ? fail(code, job.timeoutMs).message : fail('WASM64_SHUTDOWN').message;
    const status = code === 'WASM64_CANCELLED' || code === 'WASM64_SHUTDOWN' ? 'cancelled' : 'failed';
    const settlement: Settlement = { status, from: strict ? 'live' : 'running', error: jobError(code, detail) };
    // A cancel that a remote store may refuse (Redis away) stops nothing until it has won.
    if (strict && !this.#store.local) {
      return andThen(this.#settle(job, settlement, true), (won) => {
        if (won !== undefined) this.#haltHere(won);
        return won;
      });
    }
    const instanceJob = !this.#runner.has(job.id) && job.instanceId !== undefined && this.#instances?.holds(job) === true;
    this.#runner.halt(job.id, code);
    const settled = this.#settle(job, settlement, strict);
    // Out of its instance's lane queue, or, running, its lane's thread terminated.
    if (instanceJob) this.#instances?.withdraw(job);
    return settled;
  }

  /** Marks a job `running` once its thread claimed it; `startedAt` is on the worker's wall clock, recorded on the device's. */
  #markRunning(job: Job, startedAt: number): void {
    if (job.status !== 'queued') return;
    this.#store.start(job, this.#now() - Math.max(0, Date.now() - startedAt));
    this.#emit('started', job, (job.startedAt ?? 0) - job.createdAt);
  }

  /** Records what a job's evaluation produced and settles it completed or failed. */
  #record(job: Job, outcome: EvaluateOutcome | CallEvaluation, durationMs: number): void {
    if (isTerminal(job)) return;
    const s: Settlement = outcome.ok
      ? { status: 'completed', from: 'running', durationMs, results: outcome.results.map(fromWasmValue) }
      : { status: 'failed', from: 'running', durationMs, error: jobError(outcome.code, outcome.message) };
    if (outcome.fuelUsed !== undefined) s.fuelUsed = outcome.fuelUsed;
    if (outcome.wasi !== undefined) s.wasi = outcome.wasi;
    if (outcome.ok && outcome.returned !== undefined) s.returned = outcome.returned;
    if (outcome.ok && 'output' in outcome) s.output = outcome.output;
    void this.#settle(job, s);
  }

  /** Settles through the store; when this settlement wins, the job's waiters and observers hear of it. First call wins. */
  #settle(job: Job, s: Settlement, strict = false): Answer<Job | undefined> {
    const answer = this.#store.settle(job, s, strict);
    if (!(answer instanceof Promise)) {
      if (answer !== undefined) this.#settled(answer);
      return answer;
    }
    const settled = answer.then((won) => {
      if (won !== undefined) this.#settled(won);
      return won;
    });
    const tracked = settled.catch(() => undefined).finally(() => this.#settling.delete(tracked));
    this.#settling.add(tracked);
    return settled;
  }

  /** The one place observers hear that a job is terminal: releases its waiters, logs, emits. */
  #settled(job: Job): void {
    this.#waits.release(job);
    if (job.status === 'completed') this.#log.debug({ job: job.id }, 'job completed');
    else this.#log.info({ job: job.id, status: job.status, code: job.error?.code, reason: job.error?.message }, `job ${job.status}`);
    this.#emit('settled', job);
  }

  /** A settlement made anywhere (Redis): release its waiters here, and stop it if it runs here. */
  #heard(job: Job): void {
    this.#haltHere(job);
    this.#waits.release(job);
  }

  /** A job settled elsewhere (or by a cancel) that this replica still holds: stop it (its thread is terminated if it runs). */
  #haltHere(job: Job): void {
    if (!this.#runner.has(job.id) || this.#runner.halted(job.id)) return;
    this.#log.info({ job: job.id, status: job.status, code: job.error?.code }, 'stopping the job on this replica: it was settled');
    this.#runner.halt(job.id, job.error?.code ?? 'settled');
  }

  /** Times out the job each thread runs if it ran past its timeout, ends waits past their deadline, expires old jobs. */
  #sweepOnce(): void {
    try {
      this.#runner.sweep(this.#now());
      this.#waits.sweep();
      this.#store.sweep();
    } catch (err) {
      // A throw from a timer callback is an uncaught exception: log it, the next sweep tries again.
      this.#log.error({ err }, 'the device sweep failed');
    }
  }

  #emit<K extends keyof DeviceEvents>(event: K, ...args: DeviceEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: DeviceEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.#log.error({ err, event }, 'a device event listener threw');
    }
  }
}
