// Jobs in Redis (STORE=redis): the store port over the Lua scripts, a BullMQ queue that carries job ids to replicas, and pub/sub.
import { Queue, Worker } from 'bullmq';
import type { Job as QueuedRun } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { fail, ServiceError } from '../../errors.js';
import type { Job } from '../job.js';
import type { ListPage, ListQuery } from '../job-store.js';
import type { Admission, JobStorePort, Recorded, Settlement, StoreEvents } from '../store-port.js';
import { connectionOptions } from './connection.js';
import { decodeCall, decodeJob, newJobFields } from './job-hash.js';
import { defineScripts } from './scripts.js';
import type { Reply, ScriptRunner } from './scripts.js';

export interface RedisPortOptions {
  url: string;
  prefix: string;
  replica: string;
  commands: Redis;
  subscriber: Redis;
  logger: Logger;
  /** Jobs that may wait across the cluster; beyond it runs get 429. */
  maxQueue: number;
  /** Jobs stored across the cluster; the oldest finished make room, live ones never. */
  maxJobs: number;
  ttlMs: number;
  /** BullMQ's lock on a running job: a replica that dies mid-job has its jobs failed after one to two of these. */
  lockMs: number;
  /** Jobs this replica runs at once: one BullMQ slot per pool thread, so a job taken is a job started. */
  concurrency: number;
}

const QUEUE_NAME = 'runs';
/** Entries of the index one listing call may scan, so a rare status never holds Redis up for long. */
const LIST_SCAN_CAP = 10_000;

/** A script error or a malformed reply is a bug (500); anything else from the client means Redis is away (503). */
function isRedisReplyError(err: unknown): boolean {
  return err instanceof Error && err.name === 'ReplyError';
}

const asStrings = (reply: Reply | undefined): string[] => (Array.isArray(reply) ? reply.map(String) : []);

/**
 * Jobs live in Redis (see scripts.ts for the keys); a BullMQ queue carries their ids to whichever replica has
 * a free thread. Each replica runs a BullMQ worker with one slot per pool thread; a job it takes is marked
 * running and handed to the core, which runs it on this replica's pool. Every state change is one Lua script,
 * so replicas never race on a job: the first to settle it wins. Settling publishes the job on one channel that
 * every replica subscribes to: that releases waits anywhere and tells the replica running a cancelled job to stop it.
 *
 * A replica killed mid-job stops renewing BullMQ's lock on it; another replica's stalled check finds the job
 * and ends it `failed` with WASM64_REPLICA_LOST. It is not run again: a job may have killed its replica (it
 * would kill the next), and a job may not be safe to run twice.
 */
export class RedisPort implements JobStorePort {
  readonly local = false;
  readonly #o: RedisPortOptions;
  readonly #run: ScriptRunner;
  readonly #queue: Queue;
  readonly #worker: Worker;
  readonly #log: Logger;
  /** Outcomes recorded here while Redis was away, written when it is back. */
  readonly #unsaved = new Map<string, Settlement>();
  #events: StoreEvents | undefined;
  #queuedSeen = 0;
  #workerClosed: Promise<void> | undefined;

  constructor(options: RedisPortOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.#run = defineScripts(options.commands);
    const bullPrefix = `${options.prefix}:bull`;
    this.#queue = new Queue(QUEUE_NAME, {
      connection: options.commands,
      prefix: bullPrefix,
      // Removed once handed back: the job's record is ours (P:job:<id>), BullMQ only carries its id.
      // Attempts cover a Redis blip between taking a job and marking it running, never a second run.
      defaultJobOptions: { removeOnComplete: true, removeOnFail: true, attempts: 3, backoff: { type: 'fixed', delay: 1000 } },
    });
    this.#worker = new Worker(QUEUE_NAME, (run) => this.#process(run), {
      connection: { ...connectionOptions(`${options.prefix}:worker:${options.replica}`), lazyConnect: false, url: options.url, enableOfflineQueue: true, maxRetriesPerRequest: null },
      prefix: bullPrefix,
      autorun: false,
      name: options.replica,
      concurrency: options.concurrency,
      lockDuration: options.lockMs,
      stalledInterval: Math.max(500, Math.floor(options.lockMs / 2)),
      // Our scripts decide what a job handed out again means (see #process); BullMQ must not fail it first.
      maxStalledCount: 1000,
    });
  }

  watch(events: StoreEvents): void {
    this.#events = events;
  }

  /** Subscribes, repairs orphans, and starts taking jobs; call once the core watches. */
  async open(): Promise<void> {
    const { commands, subscriber } = this.#o;
    const onError = (err: Error): void => this.#log.debug({ err }, 'bullmq error (Redis away?)');
    this.#queue.on('error', onError);
    this.#worker.on('error', onError);
    this.#worker.on('stalled', (id: string) => void this.#replicaLost(id));
    this.#worker.on('failed', (run: QueuedRun | undefined, err: Error) => void this.#queueGaveUp(run, err));
    commands.on('ready', () => void this.#saveUnsaved());
    subscriber.on('message', (_channel: string, message: string) => this.#onSettledMessage(message));
    // Settlements published while the subscriber was away are lost to it: look at what is being waited on.
    subscriber.on('ready', () => this.#events?.recheck());
    await subscriber.subscribe(`${this.#o.prefix}:settled`);
    await this.#repairOrphans();
    void this.#worker.run().catch((err: unknown) => this.#log.error({ err }, 'the BullMQ worker stopped'));
    await this.#worker.waitUntilReady();
    this.#log.info({ threads: this.#o.concurrency, prefix: this.#o.prefix }, 'joined the Redis job queue');
  }

  /** Both connections are up: jobs can be read, written and heard of. */
  get available(): boolean {
    return this.#o.commands.status === 'ready' && this.#o.subscriber.status === 'ready';
  }

  async replay(key: string, fingerprint: string): Promise<Job | undefined> {
    return this.#admission(await this.#redis(() => this.#run('replay', [this.#o.prefix, key, fingerprint])), key)?.job;
  }

  /**
   * One script honours the Idempotency-Key again, the cluster's queue and store limits, and records the job
   * queued; then BullMQ queues its id. Nothing is created on a refusal.
   */
  async record({ job, call }: Admission): Promise<Recorded> {
    const { prefix, maxQueue, maxJobs, ttlMs } = this.#o;
    const key = job.idempotency?.key ?? '';
    const reply = await this.#redis(() =>
      this.#run('admit', [prefix, job.id, maxQueue, maxJobs, ttlMs, '1', key, job.idempotency?.fingerprint ?? '', ...newJobFields(job, call)]),
    );
    const earlier = this.#admission(reply, key);
    if (earlier !== undefined) return earlier;
    job.seq = Number(reply[1]);
    job.createdAt = Number(reply[2]);
    try {
      await this.#queue.add('run', {}, { jobId: job.id });
    } catch (err) {
      // The client hears 503 and no id: undo the record, so that no job waits for a queue entry that does not exist.
      this.#log.warn({ err, job: job.id }, 'BullMQ did not take the job; withdrawing it');
      await this.#run('withdraw', [prefix, job.id]).catch(() => undefined);
      throw fail('WASM64_STORE_UNAVAILABLE');
    }
    this.#queuedSeen = Number(reply[3]);
    return { job, replayed: false, runHere: false };
  }

  /** What a replay or admission reply means: the earlier job, undefined to go on, or the refusal thrown. */
  #admission(reply: Reply[], key: string): Recorded | undefined {
    switch (reply[0]) {
      case 'none':
      case 'created':
        return undefined;
      case 'replay':
        return { job: decodeJob(asStrings(reply[1])), replayed: true, runHere: false };
      case 'mismatch':
        throw fail('WASM64_IDEMPOTENCY_MISMATCH', key);
      case 'shutting_down':
        throw fail('WASM64_SHUTTING_DOWN');
      case 'queue_full':
        this.#queuedSeen = Number(reply[1]);
        throw fail('WASM64_QUEUE_FULL', this.#queuedSeen, 'cluster ');
      case 'store_full':
        throw fail('WASM64_QUEUE_FULL', 'store');
      default:
        throw new Error(`unexpected admission reply ${JSON.stringify(reply)}`);
    }
  }

  /** The start script marked it running when BullMQ handed it over (#process). */
  start(): void {}

  /** `strict` (a cancel): a refusal or Redis away is thrown; otherwise an outcome Redis could not take is kept and written once it is back. */
  async settle(job: Job, s: Settlement, strict = false): Promise<Job | undefined> {
    if (strict) return this.#settle(job.id, s, true);
    try {
      return await this.#settle(job.id, s, false);
    } catch (err) {
      if (!(err instanceof ServiceError)) {
        this.#log.error({ err, job: job.id }, 'could not record the job outcome');
        return undefined;
      }
      // Redis is away: keep the outcome and write it when the connection is back (first settlement still wins).
      this.#unsaved.set(job.id, s);
      this.#log.warn({ job: job.id, status: s.status }, 'could not record the job outcome (Redis away); will retry on reconnect');
      return undefined;
    }
  }

  /** Runs the settle script: the settled job when it won. A queued job cancelled is also taken out of BullMQ's queue. */
  async #settle(id: string, s: Settlement, strict: boolean): Promise<Job | undefined> {
    const args = [
      this.#o.prefix,
      id,
      s.status,
      this.#o.ttlMs,
      s.from === 'running' ? 'running' : '',
      s.error?.code ?? '',
      s.error?.message ?? '',
      s.results === undefined ? '' : JSON.stringify(s.results),
      s.durationMs === undefined ? '' : String(s.durationMs),
      s.fuelUsed === undefined ? '' : String(s.fuelUsed),
      s.returned === undefined ? '' : JSON.stringify(s.returned),
      s.wasi === undefined ? '' : JSON.stringify(s.wasi),
    ];
    const reply = await this.#redis(() => this.#run('settle', args));
    if (reply[0] === 'missing') {
      if (strict) throw fail('WASM64_JOB_NOT_FOUND', id);
      return undefined;
    }
    const job = decodeJob(asStrings(reply[1]));
    if (reply[0] !== 'settled') {
      if (strict) throw fail('WASM64_JOB_FINISHED', job.status);
      return undefined;
    }
    if (job.startedAt === undefined) {
      this.#queue.remove(id).catch((err: unknown) => this.#log.debug({ err, job: id }, 'could not remove a cancelled job from BullMQ'));
    }
    return job;
  }

  /** A settlement the store makes on its own: when it wins, the core hears of it as of its own. */
  async #settleHere(id: string, s: Settlement): Promise<void> {
    const job = await this.settle({ id } as Job, s);
    if (job !== undefined) this.#events?.settled(job);
  }

  async #saveUnsaved(): Promise<void> {
    for (const [id, s] of [...this.#unsaved]) {
      this.#unsaved.delete(id);
      await this.#settleHere(id, s);
    }
  }

  /** `status`: the job as Redis has it now. */
  async read(id: string): Promise<Job | undefined> {
    const fields = await this.#redis(() => this.#o.commands.hgetall(`${this.#o.prefix}:job:${id}`));
    const flat = Object.entries(fields).flat();
    return flat.length === 0 ? undefined : decodeJob(flat);
  }

  /** `jobs`: stored jobs across the cluster, newest first. */
  async list({ status, limit, beforeSeq }: ListQuery): Promise<ListPage> {
    const reply = await this.#redis(() => this.#run('list', [this.#o.prefix, beforeSeq ?? '', limit, status ?? '', LIST_SCAN_CAP]));
    const jobs = (Array.isArray(reply[0]) ? reply[0] : []).map((flat) => decodeJob(asStrings(flat)));
    const next = reply[1];
    return next === '' || next === null || next === undefined ? { jobs } : { jobs, nextSeq: Number(next) };
  }

  /** Jobs waiting for a thread across the cluster, as of this replica's last word with Redis. */
  queued(): number {
    return this.#queuedSeen;
  }

  /** Redis expires finished jobs itself. */
  sweep(): void {}

  /** Stops taking jobs: those queued in the cluster stay queued for the other replicas. */
  stopTaking(): void {
    this.#workerClosed ??= this.#worker.close().catch((err: unknown) => this.#log.warn({ err }, 'closing the BullMQ worker failed'));
  }

  async close(): Promise<void> {
    this.stopTaking();
    // BullMQ waits for the processors (they return once their jobs end here); a Redis that is gone must not hold shutdown up.
    await Promise.race([this.#workerClosed, new Promise((r) => setTimeout(r, 5000).unref())]);
    await this.#saveUnsaved();
    await this.#queue.close().catch(() => undefined);
    for (const client of [this.#o.subscriber, this.#o.commands]) {
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    }
  }

  /**
   * A replica killed between recording a job and queueing it (one round trip) leaves a queued job that
   * BullMQ never got, which nothing would run. No client was answered for it; at start, each replica
   * ends such jobs (older than a minute, so none still being admitted) `failed` and frees their place.
   */
  async #repairOrphans(): Promise<void> {
    const { commands, prefix } = this.#o;
    const cutoff = Date.now() - 60_000;
    let cursor = '0';
    do {
      const [next, ids] = await commands.sscan(`${prefix}:queued`, cursor, 'COUNT', 1000);
      cursor = next;
      if (ids.length === 0) continue;
      const checks = commands.pipeline();
      for (const id of ids) checks.hget(`${prefix}:job:${id}`, 'createdAt').exists(this.#queue.toKey(id));
      const answers = (await checks.exec()) ?? [];
      for (const [i, id] of ids.entries()) {
        const createdAt = Number(answers[2 * i]?.[1] ?? 0);
        const inQueue = answers[2 * i + 1]?.[1] === 1;
        if (inQueue || createdAt > cutoff) continue;
        this.#log.warn({ job: id }, 'a queued job BullMQ never got (its replica stopped while admitting it): failing it');
        await this.#settleHere(id, failure('live', 'WASM64_STORE_UNAVAILABLE', 'the job was recorded but never queued: the replica that accepted it stopped in between'));
      }
    } while (cursor !== '0');
  }

  /** BullMQ handed this replica a job: mark it running, hand it to the core, which resolves once it is done here. */
  async #process(run: QueuedRun): Promise<void> {
    const id = run.id ?? '';
    // A Redis error here is thrown to BullMQ, which hands the job out again (see `attempts`).
    const reply = await this.#run('start', [this.#o.prefix, id, this.#o.replica]);
    if (reply[0] === 'orphan') {
      // Handed out again while `running`: the replica that ran it lost its lock, so it is gone or cut off.
      await this.#replicaLost(id);
      return;
    }
    if (reply[0] !== 'started') return; // cancelled (or expired) while queued
    const flat = asStrings(reply[1]);
    this.#queuedSeen = Number(reply[2]);
    await this.#events?.run(decodeJob(flat), decodeCall(flat));
  }

  /** BullMQ found a job whose lock expired: the replica running it died or lost Redis. It ends failed, not run again. */
  async #replicaLost(id: string): Promise<void> {
    await this.#settleHere(id, failure('running', 'WASM64_REPLICA_LOST', 'the replica running the job stopped (or lost Redis) before the job finished; submit it again'));
  }

  /** BullMQ gave up on a job after its attempts (Redis failed each time it was to start): it must not stay queued. */
  async #queueGaveUp(run: QueuedRun | undefined, err: Error): Promise<void> {
    if (run?.id === undefined || run.attemptsMade < (run.opts.attempts ?? 1)) return;
    this.#log.error({ err, job: run.id }, 'the queue gave up on the job');
    await this.#settleHere(run.id, failure('live', 'WASM64_STORE_UNAVAILABLE', `the job could not be started: ${err.message}`));
  }

  /** A settlement published by any replica (this one too). */
  #onSettledMessage(message: string): void {
    const space = message.indexOf(' ');
    if (this.#events?.concerns(message.slice(0, space)) !== true) return;
    let job: Job;
    try {
      job = decodeJob(JSON.parse(message.slice(space + 1)) as string[]);
    } catch (err) {
      this.#log.error({ err }, 'unreadable settled message');
      return;
    }
    this.#events?.heard(job);
  }

  /** Runs a Redis call; a connection failure becomes WASM64_STORE_UNAVAILABLE (503), a script error stays a bug. */
  async #redis<T>(call: () => Promise<T>): Promise<T> {
    if (this.#o.commands.status !== 'ready') throw fail('WASM64_STORE_UNAVAILABLE');
    try {
      return await call();
    } catch (err) {
      if (err instanceof ServiceError || isRedisReplyError(err)) throw err;
      throw fail('WASM64_STORE_UNAVAILABLE');
    }
  }
}

function failure(from: Settlement['from'], code: 'WASM64_STORE_UNAVAILABLE' | 'WASM64_REPLICA_LOST', message: string): Settlement {
  return { status: 'failed', from, error: { code, message } };
}
