// The requests waiting for jobs to settle, by job: how both devices (memory and Redis) keep their waits.

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
