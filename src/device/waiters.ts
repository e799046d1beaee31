// The requests waiting for jobs to settle: by job, ended by a settlement, a deadline or the client going away.
import { isTerminal } from './job.js';
import type { Job } from './job.js';
import type { JobStorePort } from './store-port.js';

/** The waits on each job, by job id. A job has an entry while it has a wait, and loses it with its last one. */
export class WaitersByJob<W> {
  readonly #byJob = new Map<string, Set<W>>();
  #size = 0;

  /** Waits on every job together. */
  get size(): number {
    return this.#size;
  }

  add(jobId: string, wait: W): void {
    let waits = this.#byJob.get(jobId);
    if (waits === undefined) this.#byJob.set(jobId, (waits = new Set()));
    if (waits.has(wait)) return;
    waits.add(wait);
    this.#size++;
  }

  /** Removes `wait` from `jobId`'s waits; false if it was not there. */
  delete(jobId: string, wait: W): boolean {
    const waits = this.#byJob.get(jobId);
    if (waits === undefined || !waits.delete(wait)) return false;
    this.#size--;
    if (waits.size === 0) this.#byJob.delete(jobId);
    return true;
  }

  has(jobId: string): boolean {
    return this.#byJob.has(jobId);
  }

  /** The waits on `jobId`, live: deleting the one being visited while iterating is safe (a Set). */
  of(jobId: string): ReadonlySet<W> | undefined {
    return this.#byJob.get(jobId);
  }

  /** The jobs that have waits now (a copy). */
  jobIds(): string[] {
    return [...this.#byJob.keys()];
  }

  /** Every wait now (a copy: ending them as they are visited is safe). */
  all(): W[] {
    const all: W[] = [];
    for (const waits of this.#byJob.values()) for (const wait of waits) all.push(wait);
    return all;
  }
}

/** A request waiting for a job to settle. */
interface Wait {
  jobId: string;
  /** On the device's clock; Infinity once the wait is being ended. */
  deadline: number;
  /** Ends the wait (once), with the job as last read or as it was. */
  end: (latest?: Job) => void;
  /**
   * Stops listening for the client going away; cleared once called. A wait must not hold on to its request
   * after it ends: a Set or Map it was deleted from keeps it reachable for V8's young-generation GC until
   * the next full one, so everything it references is copied and promoted (a request's whole graph, 4.5-5 KB
   * a job under Prefer: wait, when this closure and `cancelOn` were kept; bench/RESULTS.md).
   */
  stopListening: (() => void) | undefined;
}

/**
 * The device's waits, in every store mode. A wait costs one entry in its job's set and no timer of its own:
 * the device's sweep ends it at its deadline (as precisely as the sweep runs), with the job as it is in memory,
 * or read afresh from a remote store. A settlement releases a job's waits with the settled job.
 */
export class Waits {
  readonly #waiters = new WaitersByJob<Wait>();
  readonly #store: Pick<JobStorePort, 'local' | 'read'>;
  readonly #now: () => number;
  readonly #max: number;
  /** The earliest deadline among the waits. */
  #nextDeadline = Infinity;

  constructor(store: Pick<JobStorePort, 'local' | 'read'>, now: () => number, max: number) {
    this.#store = store;
    this.#now = now;
    this.#max = max;
  }

  get size(): number {
    return this.#waiters.size;
  }

  has(jobId: string): boolean {
    return this.#waiters.has(jobId);
  }

  /**
   * Resolves with `job` once it is terminal, after `waitMs`, or when `cancelOn` ends the wait (the client
   * went away), whichever comes first; never rejects. `cancelOn` is called with the wait's end and returns
   * how to stop listening. Beyond `max` waits it resolves at once.
   */
  waitFor(job: Job, waitMs: number, cancelOn?: (end: () => void) => () => void): Promise<Job> {
    if (isTerminal(job) || waitMs <= 0 || this.#waiters.size >= this.#max) return Promise.resolve(job);
    let wait: Wait | undefined;
    const promise = new Promise<Job>((resolve) => (wait = this.#add(job, waitMs, resolve)));
    // `cancelOn` (which holds the request) is used here, outside every closure the wait keeps: see Wait.stopListening.
    if (wait !== undefined && cancelOn !== undefined) {
      // The client's 'close' passes no argument: the wait ends with the job as it is.
      const stop = cancelOn(wait.end);
      if (this.#waiters.of(job.id)?.has(wait) === true) wait.stopListening = stop;
      else stop(); // it ended the wait at once
    }
    // A remote job may have settled between the caller's read and now, before this wait could hear of it.
    if (!this.#store.local && wait !== undefined) {
      const { end } = wait;
      void this.#readQuietly(job.id).then((latest) => {
        if (latest !== undefined && isTerminal(latest)) end(latest);
      });
    }
    return promise;
  }

  #add(job: Job, waitMs: number, resolve: (job: Job) => void): Wait {
    const wait: Wait = {
      jobId: job.id,
      deadline: this.#now() + waitMs,
      end: (latest?: Job) => {
        if (!this.#waiters.delete(job.id, wait)) return;
        const stop = wait.stopListening;
        wait.stopListening = undefined;
        stop?.();
        resolve(latest ?? job);
      },
      stopListening: undefined,
    };
    this.#waiters.add(job.id, wait);
    if (wait.deadline < this.#nextDeadline) this.#nextDeadline = wait.deadline;
    return wait;
  }

  /** The job settled: its waits end with it. */
  release(job: Job): void {
    const waiters = this.#waiters.of(job.id);
    if (waiters !== undefined) for (const wait of waiters) wait.end(job);
  }

  /** Ends every wait now, each with its job as it is (the app is closing). */
  endAll(): void {
    for (const wait of this.#waiters.all()) wait.end();
  }

  /** Settlements may have been missed (a remote store reconnected): reads each waited-on job again. */
  recheck(): void {
    for (const id of this.#waiters.jobIds()) {
      void this.#readQuietly(id).then((job) => {
        if (job !== undefined && isTerminal(job)) this.release(job);
      });
    }
  }

  /** The sweep: ends the waits past their deadline. */
  sweep(): void {
    if (this.#waiters.size === 0) return;
    const now = this.#now();
    if (now < this.#nextDeadline) return;
    let next = Infinity;
    for (const wait of this.#waiters.all()) {
      if (wait.deadline <= now) this.#endAtDeadline(wait);
      else if (wait.deadline < next) next = wait.deadline;
    }
    this.#nextDeadline = next;
  }

  #endAtDeadline(wait: Wait): void {
    if (this.#store.local) return wait.end();
    wait.deadline = Infinity;
    void this.#readQuietly(wait.jobId).then((latest) => wait.end(latest));
  }

  /** The job, or undefined when it is gone or the store cannot say. */
  async #readQuietly(id: string): Promise<Job | undefined> {
    try {
      return await this.#store.read(id);
    } catch {
      return undefined;
    }
  }
}
