// Where jobs live: a small interface, and the in-memory implementation the service uses by default.
import type { Job } from './job.js';

export interface JobStore {
  add(job: Job): void;
  get(id: string): Job | undefined;
  delete(id: string): boolean;
  readonly size: number;
}

/** Jobs in a Map, in insertion (submission) order. */
export class MemoryJobStore implements JobStore {
  readonly #jobs = new Map<string, Job>();

  add(job: Job): void {
    this.#jobs.set(job.id, job);
  }

  get(id: string): Job | undefined {
    return this.#jobs.get(id);
  }

  delete(id: string): boolean {
    return this.#jobs.delete(id);
  }

  get size(): number {
    return this.#jobs.size;
  }
}
