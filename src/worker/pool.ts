// The evaluation pool: a fixed set of Piscina worker threads. The only file that knows the worker's path.
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import type { BatchOutcome, EvaluateBatch } from './protocol.js';

export interface WorkerPoolOptions {
  threads: number;
  /** Tasks Piscina itself may hold beyond running ones; the device keeps the real queue. */
  maxQueue: number;
  /** Called with each thread as it starts, replacements included (the reliability tests kill one under a job). */
  onThread?: (thread: Worker) => void;
}

export interface WorkerStats {
  /** Threads alive: fewer than configured while one is being replaced, 0 once the pool is destroyed. */
  live: number;
  /** Threads executing a task. */
  busy: number;
  /** Threads started so far to replace one that exited (a crash, or a task aborted to stop it). */
  restarts: number;
}

/**
 * Aborts one batch: `abort()` rejects it, and terminates its thread if the batch is running there.
 * An EventEmitter, which Piscina accepts as a signal: an AbortController costs tens of microseconds to make.
 */
export class BatchAbort extends EventEmitter<{ abort: [] }> {
  reason: unknown;

  abort(reason: unknown): void {
    this.reason = reason;
    this.emit('abort');
  }
}

export interface WorkerPool {
  readonly threads: number;
  /** The threads as they are now. */
  workers(): WorkerStats;
  /** Runs a batch of jobs on one thread; see BatchAbort. */
  run(batch: EvaluateBatch, abort?: BatchAbort): Promise<BatchOutcome>;
  destroy(): Promise<void>;
}

/** Young generation of each pool thread, in MB. */
export const WORKER_YOUNG_GENERATION_MB = 8;

/** The compiled worker entry. Tests run src/ through vitest, so they use the build in dist/. */
function workerFilename(): string {
  const here = new URL(import.meta.url);
  const url = here.pathname.endsWith('.ts')
    ? new URL(here.href.replace(/\/src\/worker\/pool\.ts$/, '/dist/worker/evaluate.js'))
    : new URL('./evaluate.js', here);
  return fileURLToPath(url);
}

export function createWorkerPool(options: WorkerPoolOptions): WorkerPool {
  // minThreads = maxThreads and a long idle timeout: Piscina's defaults churn threads (measured ~3x slower).
  const piscina = new Piscina<EvaluateBatch, BatchOutcome>({
    filename: workerFilename(),
    minThreads: options.threads,
    maxThreads: options.threads,
    idleTimeout: 60_000,
    maxQueue: options.maxQueue,
    concurrentTasksPerWorker: 1,
    // A thread waits for its next batch in its event loop, not in Atomics.wait: Piscina's default ('sync')
    // also wakes it with Atomics.notify beside the message's own wake-up, and polls every thread's port on
    // each run. At most a small gain (bench/RESULTS.md, fifth pass): Prefer: wait 0.41-0.43x bare against
    // 0.39-0.41x in three sets of alternating rounds, about one build's spread against itself; same latency.
    atomics: 'disabled',
    // Piscina loads the worker with require() first; on Node 20 that is require(esm), which once aborted a
    // whole test process (FATAL v8::Module::IsGraphAsync, from loadESMFromCJS in a starting worker). Without
    // require(esm) Piscina falls back to import(), the loader's long-standing path. (The parent's own flags
    // are not passed on: V8 flags are refused here, and each worker enables memory64 itself.)
    execArgv: ['--no-experimental-require-module'],
    // Left to itself, V8 grows each thread's young generation towards its maximum under a steady stream of
    // jobs, which read as 50-70 MB of RSS creeping in over the first ~60k jobs; a worker keeps little
    // between jobs (instances are reset, not made), so a small one costs nothing measurable and keeps RSS
    // flat (bench/RESULTS.md).
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  });
  // Piscina starts `threads` workers at once; every worker it creates after them replaces one that exited.
  let created = 0;
  const { onThread } = options;
  piscina.on('workerCreate', (worker: { id: number }) => {
    created++;
    const thread = onThread && piscina.threads.find((t) => t.threadId === worker.id);
    if (thread) onThread(thread);
  });
  return {
    threads: options.threads,
    workers: () => ({
      live: piscina.threads.length,
      busy: piscina.threads.length - piscina.idleThreads,
      restarts: Math.max(0, created - options.threads),
    }),
    run: (batch, abort) => piscina.run(batch, abort ? { signal: abort } : {}),
    destroy: () => piscina.destroy(),
  };
}
