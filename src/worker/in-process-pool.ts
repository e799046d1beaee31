// A pool of no threads: batches run in this thread, through the worker entry's own code, behind the same WorkerPool.
import runBatch from './evaluate.js';
import type { BatchAbort, WorkerPool } from './pool.js';
import type { BatchOutcome, EvaluateBatch } from './protocol.js';

/**
 * For tests of the device that need no thread and no build: the same batch protocol (BatchControl claims and
 * withdrawals) and the same evaluation as a pool thread, one batch at a time on a later turn of the event loop.
 * What it cannot do is stop a job that runs: a job runs to its end in this thread, so an endless one hangs the
 * process, and an abort only takes effect before its batch starts. Jobs that must be stopped running need the
 * thread pool (createWorkerPool), which keeps its own tests.
 */
export function createInProcessPool(): WorkerPool {
  let busy = 0;
  let live = 1;
  const run = (batch: EvaluateBatch, abort?: BatchAbort): Promise<BatchOutcome> =>
    new Promise((resolve, reject) => {
      if (live === 0) return reject(new Error('the pool is destroyed'));
      const aborted = (): void => {
        clearImmediate(turn);
        reject(new Error(`the batch was aborted: ${String(abort?.reason)}`));
      };
      const turn = setImmediate(() => {
        abort?.off('abort', aborted);
        busy++;
        try {
          resolve(runBatch(batch));
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        } finally {
          busy--;
        }
      });
      abort?.once('abort', aborted);
    });
  return {
    threads: 1,
    workers: () => ({ live, busy, restarts: 0 }),
    run,
    destroy: async () => {
      live = 0;
    },
  };
}
