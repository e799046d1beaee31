// Decides how many queued jobs go to a thread in one message, from how long each function's jobs take.
//
// One message per job costs the main thread a round trip per job; a batch pays it once. But a batch
// holds its jobs until all are done and ties them to one thread, so only jobs known to be short share one:
// a function seen to run long, or never seen, travels alone.

/** A batch never holds more jobs than this. */
export const MAX_BATCH = 64;
/** Jobs join a batch while their expected run time adds up to at most this (ms). */
export const BATCH_BUDGET_MS = 2;
/** Functions whose run time is remembered; beyond it the oldest are forgotten. */
const MAX_REMEMBERED = 10_000;
/** Weight of the newest observation in the running average. */
const SMOOTHING = 0.2;

/** What the plan tells jobs apart by: their module and function, and whether they are metered. */
export function planKey(moduleId: string, functionName: string, metered = false): string {
  return `${moduleId}\n${functionName}${metered ? '\nmetered' : ''}`;
}

export class BatchPlan {
  readonly #expectedMs = new Map<string, number>();

  /** Records that a job of `key` (module and function) ran for `durationMs`. */
  observe(key: string, durationMs: number): void {
    const before = this.#expectedMs.get(key);
    if (before === undefined && this.#expectedMs.size >= MAX_REMEMBERED) {
      const oldest = this.#expectedMs.keys().next();
      if (oldest.done !== true) this.#expectedMs.delete(oldest.value);
    }
    this.#expectedMs.set(key, before === undefined ? durationMs : before + SMOOTHING * (durationMs - before));
  }

  /** The expected run time of a job of `key`, or undefined if none has run yet. */
  expectedMs(key: string): number | undefined {
    return this.#expectedMs.get(key);
  }

  /**
   * The jobs to send together, oldest first from `queue`: at least one, at most `share` (the queue spread
   * over the threads' free slots) and MAX_BATCH, while their expected run times fit BATCH_BUDGET_MS.
   */
  take<T>(queue: Iterable<T>, keyOf: (entry: T) => string): T[] {
    const limit = MAX_BATCH;
    const batch: T[] = [];
    let budget = BATCH_BUDGET_MS;
    for (const entry of queue) {
      if (batch.length >= limit) break;
      const expected = this.#expectedMs.get(keyOf(entry));
      if (batch.length > 0 && (expected === undefined || expected > budget)) break;
      budget -= expected ?? budget;
      batch.push(entry);
    }
    return batch;
  }
}
