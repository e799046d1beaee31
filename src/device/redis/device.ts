// The ~wasm64@1.0 device over Redis: replicas share one job store and one BullMQ queue, each running jobs on its own pool.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { Queue, Worker } from 'bullmq';
import type { Job as QueuedRun } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ServiceError } from '../../errors.js';
import type { ErrorCode } from '../../errors.js';
import type { RunRequest } from '../../schemas/job.js';
import type { ReturnedValue, WasiOutcome } from '../../wasm/evaluate.js';
import { fromWasmValue } from '../../wasm/values.js';
import type { WasmValue } from '../../wasm/values.js';
import { BatchControl } from '../../worker/batch-control.js';
import { BatchAbort } from '../../worker/pool.js';
import type { WorkerPool, WorkerStats } from '../../worker/pool.js';
import type { EvaluateOutcome, EvaluateTask } from '../../worker/protocol.js';
import { resolveCall } from '../call-plan.js';
import type { DeviceEvents, SubmitOptions, Submission } from '../device.js';
import { fingerprintRequest } from '../fingerprint.js';
import { isTerminal, MAX_ERROR_MESSAGE } from '../job.js';
import type { Job, JobStatus } from '../job.js';
import { DEVICE_DEFAULTS } from '../defaults.js';
import type { JobDevice } from '../job-device.js';
import type { ListPage, ListQuery } from '../job-store.js';
import { DEFAULT_LIMITS, resolveLimits, WASM_PAGE } from '../limits.js';
import type { LimitSettings } from '../limits.js';
import { moduleSource } from '../module-source.js';
import { moduleId } from '../module-store.js';
import type { ModuleStore } from '../module-store.js';
import { connectionOptions, connectRedis } from './connection.js';
import { decodeCall, decodeJob, newJobFields } from './job-hash.js';
import type { StoredCall } from './job-hash.js';
import { SharedModuleStore } from './module-store.js';
import { defineScripts } from './scripts.js';
import type { Reply, ScriptRunner } from './scripts.js';
import { IdleSignal } from '../idle.js';
import { WaitersByJob } from '../waiters.js';

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

/** A job on one of this replica's threads. */
interface Flight {
  job: Job;
  /** Aborts its task; `reason` is set once aborted. */
  abort: BatchAbort;
  timer: NodeJS.Timeout;
}

type SettledStatus = Exclude<JobStatus, 'queued' | 'running'>;

/** A request waiting for a job here. Lets go of its listener when it ends (see the memory device's Wait). */
interface RedisWait {
  ended: boolean;
  /** Ends the wait (once), with the job as last read or as it was. */
  done: (latest?: Job) => void;
  stopListening: (() => void) | undefined;
}

interface Settlement {
  status: SettledStatus;
  /** Only from this state ('running'), or from either live state (''). */
  from: '' | 'running';
  code?: ErrorCode;
  message?: string;
  results?: WasmValue[];
  durationMs?: number;
  fuelUsed?: number;
  returned?: ReturnedValue;
  wasi?: WasiOutcome;
}

const QUEUE_NAME = 'runs';
/** Entries of the index one listing call may scan, so a rare status never holds Redis up for long. */
const LIST_SCAN_CAP = 10_000;

const unavailable = (): ServiceError =>
  new ServiceError('WASM64_STORE_UNAVAILABLE', 'the job store (Redis) cannot be reached; retry shortly', { 'retry-after': '1' });

/** A script error or a malformed reply is a bug (500); anything else from the client means Redis is away (503). */
function isRedisReplyError(err: unknown): boolean {
  return err instanceof Error && err.name === 'ReplyError';
}

const asStrings = (reply: Reply | undefined): string[] => (Array.isArray(reply) ? reply.map(String) : []);

/**
 * Jobs live in Redis (see scripts.ts for the keys); a BullMQ queue carries their ids to whichever
 * replica has a free thread. Each replica runs a BullMQ worker with one slot per pool thread, so a job
 * it takes starts at once; it marks the job running, runs it on its own Piscina pool, and records
 * the outcome. Every state change is one Lua script, so replicas never race on a job: the first to
 * settle it wins. Settling publishes the job on one channel that every replica subscribes to: that
 * releases long polls anywhere and tells the replica running a cancelled job to abort it.
 *
 * A replica killed mid-job stops renewing BullMQ's lock on it; another replica's stalled check finds
 * the job and ends it `failed` with WASM64_REPLICA_LOST. It is not run again: a job may have killed
 * its replica (it would kill the next), and a job may not be safe to run twice.
 */
export class RedisDevice extends EventEmitter<DeviceEvents> implements JobDevice {
  readonly #commands: Redis;
  readonly #subscriber: Redis;
  readonly #run: ScriptRunner;
  readonly #queue: Queue;
  readonly #worker: Worker;
  readonly #modules: SharedModuleStore;
  readonly #pool: WorkerPool;
  readonly #limits: LimitSettings;
  readonly #log: Logger;
  readonly #prefix: string;
  readonly #replica: string;
  readonly #maxQueue: number;
  readonly #maxJobs: number;
  readonly #ttlMs: number;
  readonly #defaultTimeoutMs: number;
  readonly #maxTimeoutMs: number;
  readonly #maxWaiters: number;
  readonly #outputLimit: number;
  readonly #running = new Map<string, Flight>();
  readonly #waiters = new WaitersByJob<(job?: Job) => void>();
  /** Outcomes recorded here while Redis was away, written when it is back. */
  readonly #unsaved = new Map<string, Settlement>();
  #queuedSeen = 0;
  #accepting = true;
  #closing: Promise<void> | undefined;
  readonly #idle = new IdleSignal();

  /** Connects to Redis (throwing RedisUnavailableError if it is not there), shares the default module, starts the worker. */
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
    const device = new RedisDevice(options, replica, commands, subscriber);
    await device.#open();
    return device;
  }

  private constructor(options: RedisDeviceOptions, replica: string, commands: Redis, subscriber: Redis) {
    super();
    this.#commands = commands;
    this.#subscriber = subscriber;
    this.#run = defineScripts(commands);
    this.#pool = options.pool;
    this.#limits = options.limits ?? DEFAULT_LIMITS;
    this.#log = options.logger.child({ replica });
    this.#prefix = options.prefix;
    this.#replica = replica;
    this.#maxQueue = options.maxQueue;
    this.#maxJobs = options.maxJobs;
    this.#ttlMs = options.ttlMs;
    this.#defaultTimeoutMs = options.defaultTimeoutMs;
    this.#maxTimeoutMs = options.maxTimeoutMs;
    this.#maxWaiters = options.maxWaiters ?? DEVICE_DEFAULTS.maxWaiters;
    this.#outputLimit = options.outputLimit ?? DEVICE_DEFAULTS.outputLimit;
    this.#modules = new SharedModuleStore(options.modules, commands, options.prefix, options.maxModules);
    const bullPrefix = `${options.prefix}:bull`;
    this.#queue = new Queue(QUEUE_NAME, {
      connection: commands,
      prefix: bullPrefix,
      // Removed once handed back: the job's record is ours (P:job:<id>), BullMQ only carries its id.
      // Attempts cover a Redis blip between taking a job and marking it running, never a second run.
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 3, backoff: { type: 'fixed', delay: 1000 } },
    });
    this.#worker = new Worker(QUEUE_NAME, (run) => this.#process(run), {
      connection: { ...connectionOptions(`${options.prefix}:worker:${replica}`), lazyConnect: false, url: options.url, enableOfflineQueue: true, maxRetriesPerRequest: null },
      prefix: bullPrefix,
      autorun: false,
      name: replica,
      // One slot per thread: a job taken is a job started, so its timeout and started_at are honest.
      concurrency: options.pool.threads,
      lockDuration: options.lockMs,
      stalledInterval: Math.max(500, Math.floor(options.lockMs / 2)),
      // Our scripts decide what a job handed out again means (see #process); BullMQ must not fail it first.
      maxStalledCount: 1000,
    });
  }

  async #open(): Promise<void> {
    const onError = (err: Error): void => this.#log.debug({ err }, 'bullmq error (Redis away?)');
    this.#queue.on('error', onError);
    this.#worker.on('error', onError);
    this.#worker.on('stalled', (id: string) => void this.#replicaLost(id));
    this.#worker.on('failed', (run: QueuedRun | undefined, err: Error) => void this.#queueGaveUp(run, err));
    this.#commands.on('ready', () => void this.#saveUnsaved());
    this.#subscriber.on('message', (_channel: string, message: string) => this.#onSettledMessage(message));
    // Settlements published while the subscriber was away are lost to it: look at what is being waited on.
    this.#subscriber.on('ready', () => void this.#recheckWaiters());
    await this.#subscriber.subscribe(`${this.#prefix}:settled`);
    await this.#repairOrphans();
    void this.#worker.run().catch((err: unknown) => this.#log.error({ err }, 'the BullMQ worker stopped'));
    await this.#worker.waitUntilReady();
    this.#log.info({ threads: this.#pool.threads, prefix: this.#prefix }, 'joined the Redis job queue');
  }

  /**
   * `run`: as in memory mode, an Idempotency-Key seen before answers with its job (or 422) before anything
   * else; then the module is resolved (shared through Redis) and the call and limits validated; then one
   * script honours the key again, the cluster's queue and store limits, and records the job queued; then
   * BullMQ queues its id. Nothing is created on a refusal.
   */
  async submit(request: RunRequest, options: SubmitOptions = {}): Promise<Submission> {
    const key = options.idempotencyKey;
    // A raw upload is part of the request: its digest stands in for its bytes.
    const fingerprint = key === undefined ? '' : fingerprintRequest(options.upload === undefined ? request : { ...request, upload: moduleId(options.upload) });
    if (key !== undefined) {
      const earlier = this.#admission(await this.#redis(() => this.#run('replay', [this.#prefix, key, fingerprint])), key);
      if (earlier !== undefined) return earlier;
    }
    if (!this.#accepting) throw this.#shuttingDown();
    if (request.instance_id !== undefined) {
      throw new ServiceError('WASM64_INSTANCES_UNAVAILABLE', 'instances live in one process\'s memory; run the service with STORE=memory for jobs on instances');
    }
    if (request.message !== undefined || request.env !== undefined) {
      throw new ServiceError('WASM64_INSTANCE_CONFLICT', '"message" and "env" go to a live instance: send them with "instance_id"');
    }
    const resolved = await this.#modules.resolve(await moduleSource(request, options.upload, this.#modules.maxModuleBytes));
    const { fn, echo } = resolveCall(request, resolved.module, this.#outputLimit);
    const timeoutMs = request.timeout_ms ?? this.#defaultTimeoutMs;
    if (timeoutMs > this.#maxTimeoutMs) {
      throw new ServiceError('WASM64_TIMEOUT_TOO_LONG', `timeout_ms may be at most ${this.#maxTimeoutMs}, got ${timeoutMs}`);
    }
    const limits = resolveLimits(request, this.#limits, resolved.module);
    // Compiled here too, so that a module that cannot be instrumented for its limits is refused now (400), as in memory mode.
    await this.#modules.compiledFor(resolved, { memoryCapPages: limits.memoryCapPages, fuel: limits.fuel !== null });

    const id = randomUUID();
    const job: Job = {
      id,
      seq: 0,
      status: 'queued',
      moduleId: resolved.module.id,
      function: fn.name,
      parameters: echo,
      timeoutMs,
      memoryLimit: limits.memoryLimit,
      createdAt: 0,
    };
    if (limits.fuel !== null) job.fuel = limits.fuel;
    if (key !== undefined) job.idempotency = { key, fingerprint };
    const call: StoredCall = { outputLimit: this.#outputLimit };
    if (request.wasi !== undefined) call.wasi = request.wasi;
    if (request.allocator !== undefined) call.allocator = request.allocator;
    if (request.returns !== undefined) call.returns = request.returns;
    const reply = await this.#redis(() =>
      this.#run('admit', [this.#prefix, id, this.#maxQueue, this.#maxJobs, this.#ttlMs, this.#accepting ? '1' : '0', key ?? '', fingerprint, ...newJobFields(job, call)]),
    );
    const earlier = this.#admission(reply, key);
    if (earlier !== undefined) return earlier;
    job.seq = Number(reply[1]);
    job.createdAt = Number(reply[2]);
    try {
      await this.#queue.add('run', {}, { jobId: id });
    } catch (err) {
      // The client hears 503 and no id: undo the record, so that no job waits for a queue entry that does not exist.
      this.#log.warn({ err, job: id }, 'BullMQ did not take the job; withdrawing it');
      await this.#run('withdraw', [this.#prefix, id]).catch(() => undefined);
      throw unavailable();
    }
    this.#queuedSeen = Number(reply[3]);
    this.#log.debug({ job: id, function: job.function }, 'job queued');
    this.#emit('queued', job);
    return { job, replayed: false };
  }

  /** What a replay or admission reply means: the earlier job, undefined to go on, or the refusal thrown. */
  #admission(reply: Reply[], key: string | undefined): Submission | undefined {
    switch (reply[0]) {
      case 'none':
      case 'created':
        return undefined;
      case 'replay':
        return { job: decodeJob(asStrings(reply[1])), replayed: true };
      case 'mismatch':
        throw new ServiceError('WASM64_IDEMPOTENCY_MISMATCH', `the Idempotency-Key "${key}" was used for a different request; use a new key`);
      case 'shutting_down':
        throw this.#shuttingDown();
      case 'queue_full':
        this.#queuedSeen = Number(reply[1]);
        throw new ServiceError('WASM64_QUEUE_FULL', `${this.#queuedSeen} jobs are already waiting across the cluster; retry shortly`, { 'retry-after': '1' });
      case 'store_full':
        throw new ServiceError('WASM64_QUEUE_FULL', 'the job store is full of unfinished jobs; retry shortly', { 'retry-after': '1' });
      default:
        throw new Error(`unexpected admission reply ${JSON.stringify(reply)}`);
    }
  }

  #shuttingDown(): ServiceError {
    return new ServiceError('WASM64_SHUTTING_DOWN', 'this replica is shutting down; retry on another one');
  }

  /** `status`: the job as Redis has it now. */
  async get(id: string): Promise<Job | undefined> {
    const fields = await this.#redis(() => this.#commands.hgetall(`${this.#prefix}:job:${id}`));
    const flat = Object.entries(fields).flat();
    return flat.length === 0 ? undefined : decodeJob(flat);
  }

  /** `jobs`: stored jobs across the cluster, newest first. */
  async list({ status, limit, beforeSeq }: ListQuery): Promise<ListPage> {
    const reply = await this.#redis(() => this.#run('list', [this.#prefix, beforeSeq ?? '', limit, status ?? '', LIST_SCAN_CAP]));
    const jobs = (Array.isArray(reply[0]) ? reply[0] : []).map((flat) => decodeJob(asStrings(flat)));
    const next = reply[1];
    return next === '' || next === null || next === undefined ? { jobs } : { jobs, nextSeq: Number(next) };
  }

  /**
   * `cancel`: ends a queued or running job `cancelled` on any replica. A queued job is also taken out of
   * BullMQ's queue; the replica running a running one hears of it on the settled channel and aborts its task.
   */
  async cancel(id: string): Promise<Job> {
    const reply = await this.#settle(id, { status: 'cancelled', from: '', code: 'WASM64_CANCELLED', message: 'cancelled on request' });
    if (reply[0] === 'missing') throw new ServiceError('WASM64_JOB_NOT_FOUND', `no job has the id "${id}"`);
    const job = decodeJob(asStrings(reply[1]));
    if (reply[0] !== 'settled') throw new ServiceError('WASM64_JOB_FINISHED', `the job is already ${job.status}; only queued or running jobs can be cancelled`);
    if (job.startedAt === undefined) {
      this.#queue.remove(id).catch((err: unknown) => this.#log.debug({ err, job: id }, 'could not remove a cancelled job from BullMQ'));
    }
    this.#abortHere(job);
    return job;
  }

  /**
   * Resolves with the job once it is terminal (heard on the settled channel), after `waitMs` (then read
   * afresh), or when `cancelOn` ends it (the client went away); never rejects. No polling: one callback
   * per wait and one timer.
   */
  waitFor(job: Job, waitMs: number, cancelOn?: (end: () => void) => () => void): Promise<Job> {
    if (isTerminal(job) || waitMs <= 0 || this.#waiters.size >= this.#maxWaiters) {
      return Promise.resolve(job);
    }
    let wait: RedisWait | undefined;
    const promise = new Promise<Job>((resolve) => (wait = this.#addWait(job, waitMs, resolve)));
    // `cancelOn` (which holds the request) is used here, outside the closures the wait keeps, as in the memory device.
    if (wait !== undefined && cancelOn !== undefined) {
      const { done } = wait;
      const stop = cancelOn(() => done());
      if (wait.ended) stop(); // it ended the wait at once
      else wait.stopListening = stop;
    }
    return promise;
  }

  #addWait(job: Job, waitMs: number, resolve: (job: Job) => void): RedisWait {
    const wait: RedisWait = {
      ended: false,
      stopListening: undefined,
      done: (latest?: Job): void => {
        if (wait.ended) return;
        wait.ended = true;
        clearTimeout(timer);
        const stop = wait.stopListening;
        wait.stopListening = undefined;
        stop?.();
        this.#waiters.delete(job.id, wait.done);
        resolve(latest ?? job);
      },
    };
    // `done` reads `timer`: nothing may call it before this line (the re-read below answers on a later turn).
    const timer = setTimeout(() => void this.#readQuietly(job.id).then((latest) => wait.done(latest)), waitMs);
    this.#waiters.add(job.id, wait.done);
    // It may have settled between the caller's read and now, before this wait could hear of it.
    void this.#readQuietly(job.id).then((latest) => {
      if (latest !== undefined && isTerminal(latest)) wait.done(latest);
    });
    return wait;
  }

  /** Ends every wait here now, each with its job as it is (the app is closing). */
  endWaits(): void {
    for (const done of this.#waiters.all()) done();
  }

  /** Jobs waiting for a thread across the cluster, as of this replica's last word with Redis. */
  get queued(): number {
    return this.#queuedSeen;
  }

  get running(): number {
    return this.#running.size;
  }

  get waiting(): number {
    return this.#waiters.size;
  }

  get accepting(): boolean {
    return this.#accepting;
  }

  /** This replica's pool threads. */
  get workers(): WorkerStats {
    return this.#pool.workers();
  }

  /** Both connections are up: jobs can be read, written and heard of. */
  get storeAvailable(): boolean {
    return this.#commands.status === 'ready' && this.#subscriber.status === 'ready';
  }

  /** The key prefix: replicas with the same one form a cluster. */
  get prefix(): string {
    return this.#prefix;
  }

  /** This replica's name in logs and BullMQ. */
  get replica(): string {
    return this.#replica;
  }

  /** No live instances: they live in one process's memory, so the instance routes answer 501 here. */
  get instances(): undefined {
    return undefined;
  }

  /** The modules jobs run, shared by every replica. */
  get modules(): SharedModuleStore {
    return this.#modules;
  }

  /**
   * Stops taking jobs from the queue and refuses runs here (WASM64_SHUTTING_DOWN). Jobs queued in the
   * cluster stay queued for the other replicas. Jobs running here get `graceMs` to finish; the rest end
   * `cancelled` with WASM64_SHUTDOWN. Then the connections and the pool are closed.
   */
  close(graceMs = 0): Promise<void> {
    this.#accepting = false;
    this.#closing ??= this.#shutdown(graceMs);
    return this.#closing;
  }

  async #shutdown(graceMs: number): Promise<void> {
    const workerClosed = this.#worker.close().catch((err: unknown) => this.#log.warn({ err }, 'closing the BullMQ worker failed'));
    if (this.#running.size > 0 && graceMs > 0) {
      await this.#idle.wait(graceMs);
    }
    const reason = 'the replica running the job shut down before it finished';
    await Promise.all(
      [...this.#running.values()].map(({ job, abort }) => {
        abort.abort('WASM64_SHUTDOWN');
        return this.#settle(job.id, { status: 'cancelled', from: 'running', code: 'WASM64_SHUTDOWN', message: reason }).catch(() => undefined);
      }),
    );
    // BullMQ waits for the processors (they return once aborted); a Redis that is gone must not hold shutdown up.
    await Promise.race([workerClosed, new Promise((r) => setTimeout(r, 5000).unref())]);
    await this.#saveUnsaved();
    this.endWaits();
    await this.#queue.close().catch(() => undefined);
    for (const client of [this.#subscriber, this.#commands]) {
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    }
    await this.#pool.destroy();
  }

  /**
   * A replica killed between recording a job and queueing it (one round trip) leaves a queued job that
   * BullMQ never got, which nothing would run. No client was answered for it; at start, each replica
   * ends such jobs (older than a minute, so none still being admitted) `failed` and frees their place.
   */
  async #repairOrphans(): Promise<void> {
    const cutoff = Date.now() - 60_000;
    let cursor = '0';
    do {
      const [next, ids] = await this.#commands.sscan(`${this.#prefix}:queued`, cursor, 'COUNT', 1000);
      cursor = next;
      if (ids.length === 0) continue;
      const checks = this.#commands.pipeline();
      for (const id of ids) checks.hget(`${this.#prefix}:job:${id}`, 'createdAt').exists(this.#queue.toKey(id));
      const answers = (await checks.exec()) ?? [];
      for (const [i, id] of ids.entries()) {
        const createdAt = Number(answers[2 * i]?.[1] ?? 0);
        const inQueue = answers[2 * i + 1]?.[1] === 1;
        if (inQueue || createdAt > cutoff) continue;
        this.#log.warn({ job: id }, 'a queued job BullMQ never got (its replica stopped while admitting it): failing it');
        await this.#settleQuietly(id, { status: 'failed', from: '', code: 'WASM64_STORE_UNAVAILABLE', message: 'the job was recorded but never queued: the replica that accepted it stopped in between' });
      }
    } while (cursor !== '0');
  }

  /** BullMQ handed this replica a job: mark it running, run it on the pool, record how it ended. */
  async #process(run: QueuedRun): Promise<void> {
    const id = run.id ?? '';
    // A Redis error here is thrown to BullMQ, which hands the job out again (see `attempts`).
    const reply = await this.#run('start', [this.#prefix, id, this.#replica]);
    if (reply[0] === 'orphan') {
      // Handed out again while `running`: the replica that ran it lost its lock, so it is gone or cut off.
      await this.#replicaLost(id);
      return;
    }
    if (reply[0] !== 'started') return; // cancelled (or expired) while queued
    const flat = asStrings(reply[1]);
    const job = decodeJob(flat);
    this.#queuedSeen = Number(reply[2]);
    this.#emit('started', job, (job.startedAt ?? job.createdAt) - job.createdAt);

    let task: EvaluateTask;
    try {
      task = await this.#prepare(job, decodeCall(flat));
    } catch (err) {
      const code = err instanceof ServiceError ? err.code : 'WASM64_INTERNAL';
      this.#log.error({ err, job: id }, 'could not prepare the job on this replica');
      await this.#settleQuietly(id, { status: 'failed', from: 'running', code, message: (err as Error).message });
      return;
    }
    const abort = new BatchAbort();
    const timer = setTimeout(() => void this.#timeOut(id), job.timeoutMs);
    this.#running.set(id, { job, abort, timer });
    let outcome: EvaluateOutcome | undefined;
    let failure: unknown;
    try {
      // A batch of one: this replica's BullMQ worker takes a job only when a thread is free, so there is nothing to batch with.
      const [answer] = await this.#pool.run({ tasks: [task], control: new BatchControl(1).buffer }, abort);
      if (answer === null || answer === undefined) failure = new Error('the worker answered without running the job');
      else outcome = answer;
    } catch (err) {
      failure = err;
    } finally {
      clearTimeout(timer);
      this.#running.delete(id);
      if (this.#running.size === 0) this.#idle.notify();
    }
    // Aborted: whoever aborted it (cancel, timeout, shutdown, a lost lock) has settled it.
    if (abort.reason !== undefined) return;
    if (outcome === undefined) {
      this.#log.error({ job: id, err: failure }, 'job failed: the worker running it failed');
      await this.#settleQuietly(id, { status: 'failed', from: 'running', code: 'WASM64_WORKER_FAILED', message: failure instanceof Error ? failure.message : String(failure) });
    } else {
      const measured: Pick<Settlement, 'durationMs' | 'fuelUsed' | 'wasi'> = { durationMs: outcome.durationMs };
      if (outcome.fuelUsed !== undefined) measured.fuelUsed = outcome.fuelUsed;
      if (outcome.wasi !== undefined) measured.wasi = outcome.wasi;
      if (outcome.ok) {
        const returned = outcome.returned === undefined ? {} : { returned: outcome.returned };
        await this.#settleQuietly(id, { status: 'completed', from: 'running', results: outcome.results, ...returned, ...measured });
      }
      else await this.#settleQuietly(id, { status: 'failed', from: 'running', code: outcome.code, message: outcome.message, ...measured });
    }
  }

  /**
   * The task for the pool: the job's module (read from Redis and compiled the first time this replica runs
   * it), in the variant instrumented for the job's limits, and the call planned again from what the job
   * carries (parameters as echoed, WASI options, allocator, returns) by the code memory mode plans it with.
   */
  async #prepare(job: Job, stored: StoredCall): Promise<EvaluateTask> {
    const module = await this.#modules.get(job.moduleId);
    if (module === undefined) {
      throw new ServiceError('WASM64_MODULE_NOT_FOUND', `the module ${job.moduleId} is no longer stored (evicted beyond MAX_MODULES before the job ran); upload it again and resubmit`);
    }
    const { outputLimit, ...options } = stored;
    const { parameters, call } = resolveCall({ ...options, function: job.function, parameters: job.parameters }, module, outputLimit);
    const memoryLimit = job.memoryLimit ?? this.#limits.memoryLimit;
    const variant = await this.#modules.compiledFor({ module, fresh: false }, { memoryCapPages: Math.floor(memoryLimit / WASM_PAGE), fuel: job.fuel !== undefined });
    return {
      jobId: job.id,
      module: variant.module,
      instrumentation: variant.instrumentation,
      fuel: job.fuel ?? null,
      reuse: variant.reuse,
      function: job.function,
      parameters,
      call,
    };
  }

  async #timeOut(id: string): Promise<void> {
    const flight = this.#running.get(id);
    if (flight === undefined) return;
    flight.abort.abort('WASM64_TIMEOUT');
    await this.#settleQuietly(id, { status: 'failed', from: 'running', code: 'WASM64_TIMEOUT', message: `the job ran longer than its timeout_ms of ${flight.job.timeoutMs}` });
  }

  /** BullMQ found a job whose lock expired: the replica running it died or lost Redis. It ends failed, not run again. */
  async #replicaLost(id: string): Promise<void> {
    await this.#settleQuietly(id, {
      status: 'failed',
      from: 'running',
      code: 'WASM64_REPLICA_LOST',
      message: 'the replica running the job stopped (or lost Redis) before the job finished; submit it again',
    });
  }

  /** BullMQ gave up on a job after its attempts (Redis failed each time it was to start): it must not stay queued. */
  async #queueGaveUp(run: QueuedRun | undefined, err: Error): Promise<void> {
    if (run?.id === undefined || run.attemptsMade < (run.opts.attempts ?? 1)) return;
    this.#log.error({ err, job: run.id }, 'the queue gave up on the job');
    await this.#settleQuietly(run.id, { status: 'failed', from: '', code: 'WASM64_STORE_UNAVAILABLE', message: `the job could not be started: ${err.message}` });
  }

  /**
   * Runs the settle script; when it wins, logs, tells observers and releases local waiters (others hear
   * the publication). Throws what Redis throws; `#settleQuietly` keeps the outcome for later instead.
   */
  async #settle(id: string, s: Settlement): Promise<Reply[]> {
    const args = [
      this.#prefix,
      id,
      s.status,
      this.#ttlMs,
      s.from,
      s.code ?? '',
      (s.message ?? '').slice(0, MAX_ERROR_MESSAGE),
      s.results === undefined ? '' : JSON.stringify(s.results.map(fromWasmValue)),
      s.durationMs === undefined ? '' : String(s.durationMs),
      s.fuelUsed === undefined ? '' : String(s.fuelUsed),
      s.returned === undefined ? '' : JSON.stringify(s.returned),
      s.wasi === undefined ? '' : JSON.stringify(s.wasi),
    ];
    const reply = await this.#redis(() => this.#run('settle', args));
    if (reply[0] === 'settled') {
      const job = decodeJob(asStrings(reply[1]));
      if (job.status === 'completed') this.#log.debug({ job: id }, 'job completed');
      else this.#log.info({ job: id, status: job.status, code: job.error?.code, reason: job.error?.message }, `job ${job.status}`);
      this.#emit('settled', job);
      this.#release(job);
    }
    return reply;
  }

  async #settleQuietly(id: string, s: Settlement): Promise<void> {
    try {
      await this.#settle(id, s);
    } catch (err) {
      if (!(err instanceof ServiceError)) {
        this.#log.error({ err, job: id }, 'could not record the job outcome');
        return;
      }
      // Redis is away: keep the outcome and write it when the connection is back (first settlement still wins).
      this.#unsaved.set(id, s);
      this.#log.warn({ job: id, status: s.status }, 'could not record the job outcome (Redis away); will retry on reconnect');
    }
  }

  async #saveUnsaved(): Promise<void> {
    for (const [id, s] of [...this.#unsaved]) {
      this.#unsaved.delete(id);
      await this.#settleQuietly(id, s);
    }
  }

  /** A settlement published by any replica (this one too): abort the job if it runs here, release its waiters. */
  #onSettledMessage(message: string): void {
    const space = message.indexOf(' ');
    const id = message.slice(0, space);
    if (!this.#running.has(id) && !this.#waiters.has(id)) return;
    let job: Job;
    try {
      job = decodeJob(JSON.parse(message.slice(space + 1)) as string[]);
    } catch (err) {
      this.#log.error({ err }, 'unreadable settled message');
      return;
    }
    this.#abortHere(job);
    this.#release(job);
  }

  /** A terminal job that still runs on this replica's pool: abort its task (Piscina terminates the thread). */
  #abortHere(job: Job): void {
    const flight = this.#running.get(job.id);
    if (flight === undefined || !isTerminal(job) || flight.abort.reason !== undefined) return;
    this.#log.info({ job: job.id, status: job.status, code: job.error?.code }, 'stopping the job on this replica: it was settled');
    flight.abort.abort(job.error?.code ?? 'settled');
  }

  #release(job: Job): void {
    const waiters = this.#waiters.of(job.id);
    if (waiters !== undefined) for (const done of waiters) done(job);
  }

  async #recheckWaiters(): Promise<void> {
    for (const id of this.#waiters.jobIds()) {
      const job = await this.#readQuietly(id);
      if (job !== undefined && isTerminal(job)) this.#release(job);
    }
  }

  /** The job, or undefined when it is gone or Redis cannot say. */
  async #readQuietly(id: string): Promise<Job | undefined> {
    try {
      return await this.get(id);
    } catch {
      return undefined;
    }
  }

  /** Runs a Redis call; a connection failure becomes WASM64_STORE_UNAVAILABLE (503), a script error stays a bug. */
  async #redis<T>(call: () => Promise<T>): Promise<T> {
    if (this.#commands.status !== 'ready') throw unavailable();
    try {
      return await call();
    } catch (err) {
      if (err instanceof ServiceError || isRedisReplyError(err)) throw err;
      throw unavailable();
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
