// Where jobs live: a small interface, and the bounded in-memory implementation the service uses by default.
import type { Job, JobStatus } from './job.js';
import { isTerminal } from './job.js';

export interface ListQuery {
  status?: JobStatus;
  limit: number;
  /** List jobs submitted before the job with this sequence number (exclusive); none: from the newest. */
  beforeSeq?: number;
}

export interface ListPage {
  jobs: Job[];
  /** Pass as `beforeSeq` for the next page; undefined when this page is the last. */
  nextSeq?: number;
}

/**
 * The device's contract with its store. Jobs are live objects the device mutates; the store only
 * decides how long it keeps them. It must never drop a job that is not terminal.
 */
export interface JobStore {
  /** Makes room for one more job: drops expired jobs, then the oldest finished one if full. False if every job is live. */
  reserve(): boolean;
  add(job: Job): void;
  /** Called once a job is terminal: from now on it may expire and be evicted. */
  settled(job: Job): void;
  get(id: string): Job | undefined;
  getByIdempotencyKey(key: string): Job | undefined;
  list(query: ListQuery): ListPage;
  delete(id: string): boolean;
  /** Drops finished jobs older than the TTL; the device calls it from its sweep. */
  evictExpired(): void;
  readonly size: number;
}

export interface MemoryJobStoreOptions {
  /** How long a finished job is kept after it finished. */
  ttlMs: number;
  /** Most jobs kept at once, live and finished. */
  maxJobs: number;
  now?: () => number;
}

/** Queue entries read past before the queue drops them (and only once they are half of it). */
const COMPACT_AFTER = 1024;

/**
 * Jobs in a Map by id, finished jobs in a queue in the order they finished (so the oldest to expire or
 * evict is always first), and every job in an array by submission order for listing.
 */
export class MemoryJobStore implements JobStore {
  readonly #jobs = new Map<string, Job>();
  /**
   * Finished jobs, oldest first from #finishedHead; entries of jobs deleted since are skipped when reached.
   * Not a Map read from its first key: V8 keeps a Map's deleted entries as holes until it rehashes, and
   * reading its first key walks them, which cost 31 us an eviction with 100,000 jobs stored and made a
   * full store (the steady state of a busy service) ~50 us a job slower (bench/RESULTS.md, fifth pass).
   */
  #finished: Job[] = [];
  #finishedHead = 0;
  readonly #byKey = new Map<string, Job>();
  /** Jobs by `seq`, ascending; deleted jobs stay as holes until compaction (amortised O(1) deletes). */
  #order: Job[] = [];
  readonly #ttlMs: number;
  readonly #maxJobs: number;
  readonly #now: () => number;

  constructor(options: MemoryJobStoreOptions) {
    this.#ttlMs = options.ttlMs;
    this.#maxJobs = options.maxJobs;
    this.#now = options.now ?? Date.now;
  }

  reserve(): boolean {
    if (this.#jobs.size < this.#maxJobs) return true;
    this.evictExpired();
    if (this.#jobs.size < this.#maxJobs) return true;
    const oldest = this.#oldestFinished();
    if (oldest === undefined) return false;
    this.delete(oldest.id);
    return true;
  }

  add(job: Job): void {
    this.#jobs.set(job.id, job);
    this.#order.push(job);
    if (job.idempotency !== undefined) this.#byKey.set(job.idempotency.key, job);
    if (isTerminal(job)) this.#finished.push(job);
  }

  settled(job: Job): void {
    if (this.#jobs.get(job.id) === job) this.#finished.push(job);
  }

  get(id: string): Job | undefined {
    const job = this.#jobs.get(id);
    if (job !== undefined && this.#expired(job)) {
      this.delete(id);
      return undefined;
    }
    return job;
  }

  getByIdempotencyKey(key: string): Job | undefined {
    const job = this.#byKey.get(key);
    return job === undefined ? undefined : this.get(job.id);
  }

  list({ status, limit, beforeSeq }: ListQuery): ListPage {
    this.evictExpired();
    const jobs: Job[] = [];
    let i = beforeSeq === undefined ? this.#order.length - 1 : this.#indexBefore(beforeSeq);
    for (; i >= 0; i--) {
      const job = this.#order[i];
      if (job === undefined || this.#jobs.get(job.id) !== job) continue;
      if (status !== undefined && job.status !== status) continue;
      if (jobs.length === limit) return { jobs, nextSeq: jobs[jobs.length - 1]?.seq ?? job.seq };
      jobs.push(job);
    }
    return { jobs };
  }

  delete(id: string): boolean {
    const job = this.#jobs.get(id);
    if (job === undefined) return false;
    this.#jobs.delete(id);
    if (job.idempotency !== undefined && this.#byKey.get(job.idempotency.key) === job) this.#byKey.delete(job.idempotency.key);
    // Drop entries of deleted jobs once they outnumber the jobs stored: #order stays within twice the store,
    // the finished queue within about four times (its read part goes separately, in #oldestFinished).
    const stored = (j: Job): boolean => this.#jobs.get(j.id) === j;
    if (this.#order.length > 2 * this.#jobs.size + 64) this.#order = this.#order.filter(stored);
    if (this.#finished.length - this.#finishedHead > 2 * this.#jobs.size + COMPACT_AFTER) {
      this.#finished = this.#finished.slice(this.#finishedHead).filter(stored);
      this.#finishedHead = 0;
    }
    return true;
  }

  evictExpired(): void {
    for (let job = this.#oldestFinished(); job !== undefined && this.#expired(job); job = this.#oldestFinished()) this.delete(job.id);
  }

  get size(): number {
    return this.#jobs.size;
  }

  /** The job that finished first among those still stored; drops the queue's entries of jobs deleted since. */
  #oldestFinished(): Job | undefined {
    const queue = this.#finished;
    let head = this.#finishedHead;
    let oldest: Job | undefined;
    for (; head < queue.length; head++) {
      const job = queue[head] as Job;
      if (this.#jobs.get(job.id) === job) {
        oldest = job;
        break;
      }
    }
    if (head > COMPACT_AFTER && 2 * head > queue.length) {
      queue.splice(0, head);
      head = 0;
    }
    this.#finishedHead = head;
    return oldest;
  }

  #expired(job: Job): boolean {
    return job.finishedAt !== undefined && isTerminal(job) && this.#now() - job.finishedAt >= this.#ttlMs;
  }

  /** Index of the last job in #order whose seq is below `seq` (binary search: #order is sorted by seq). */
  #indexBefore(seq: number): number {
    let lo = 0;
    let hi = this.#order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.#order[mid]?.seq ?? Infinity) < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
}
