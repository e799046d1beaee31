// Jobs in this process's memory (STORE=memory): the store port over MemoryJobStore, every answer synchronous.
import type { Logger } from 'pino';
import { fail } from '../errors.js';
import { isTerminal } from './job.js';
import type { Job } from './job.js';
import type { JobStore, ListPage, ListQuery } from './job-store.js';
import type { Admission, JobStorePort, Recorded, Settlement } from './store-port.js';

/**
 * The jobs the store keeps are the live objects the core hands out: starting and settling a job writes it
 * in place, so a read needs no copy and no promise (the hot path of Prefer: wait stays free of both).
 */
export class MemoryPort implements JobStorePort {
  readonly local = true;
  readonly available = true;
  readonly #store: JobStore;
  readonly #maxQueue: number;
  readonly #now: () => number;
  readonly #log: Logger;
  #seq = 0;

  constructor(store: JobStore, maxQueue: number, now: () => number, logger: Logger) {
    this.#store = store;
    this.#maxQueue = maxQueue;
    this.#now = now;
    this.#log = logger;
  }

  replay(key: string, fingerprint: string): Job | undefined {
    const earlier = this.#store.getByIdempotencyKey(key);
    if (earlier !== undefined && earlier.idempotency?.fingerprint !== fingerprint) throw fail('WASM64_IDEMPOTENCY_MISMATCH', key);
    return earlier;
  }

  /** Synchronous with the replay check before it: the awaits of admission let another request with the same key in. */
  record({ job, waitingHere }: Admission): Recorded {
    const key = job.idempotency;
    if (key !== undefined) {
      const earlier = this.replay(key.key, key.fingerprint);
      if (earlier !== undefined) return { job: earlier, replayed: true, runHere: false };
    }
    if (waitingHere !== undefined && waitingHere >= this.#maxQueue) throw fail('WASM64_QUEUE_FULL', waitingHere);
    if (!this.#store.reserve()) throw fail('WASM64_QUEUE_FULL', 'store');
    job.seq = ++this.#seq;
    job.createdAt = this.#now();
    this.#store.add(job);
    return { job, replayed: false, runHere: true };
  }

  start(job: Job, startedAt: number): void {
    job.status = 'running';
    job.startedAt = startedAt;
  }

  settle(job: Job, s: Settlement): Job | undefined {
    if (isTerminal(job)) return undefined;
    if (s.durationMs !== undefined) job.durationMs = s.durationMs;
    if (s.fuelUsed !== undefined) job.fuelUsed = s.fuelUsed;
    if (s.wasi !== undefined) job.wasi = s.wasi;
    if (s.returned !== undefined) job.returned = s.returned;
    if (s.output !== undefined) job.output = s.output;
    job.status = s.status;
    job.finishedAt = this.#now();
    if (s.results !== undefined) job.results = s.results;
    if (s.error !== undefined) job.error = s.error;
    try {
      this.#store.settled(job);
    } catch (err) {
      // The job is terminal all the same: its waiters and observers still hear of it.
      this.#log.error({ err, job: job.id }, 'the job store failed to record a settled job');
    }
    return job;
  }

  read(id: string): Job | undefined {
    return this.#store.get(id);
  }

  list(query: ListQuery): ListPage {
    return this.#store.list(query);
  }

  queued(here: number): number {
    return here;
  }

  /** Nothing settles jobs here but the core. */
  watch(): void {}

  sweep(): void {
    this.#store.evictExpired();
  }

  stopTaking(): void {}

  async close(): Promise<void> {}
}
