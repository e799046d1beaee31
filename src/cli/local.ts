// `run --local`: the same device, pool and module code the service uses, in this process, for one job.
import { pino } from 'pino';
import { Wasm64Device } from '../device/device.js';
import { isTerminal } from '../device/job.js';
import { MemoryJobStore } from '../device/job-store.js';
import { loadDefaultModule } from '../device/module-store.js';
import { toJobView } from '../routes/jobs.js';
import type { JobView, RunRequest } from '../schemas/job.js';
import { enableMemory64 } from '../wasm/features.js';
import { createWorkerPool } from '../worker/pool.js';

export interface LocalRunOptions {
  /** Called once the job is accepted, with the job as it is then. */
  onAccepted?: (job: JobView) => void;
}

/**
 * Runs one job on a one-thread pool and resolves with its terminal state. Throws ServiceError, as
 * the service would answer it, when the call is invalid. The pool is destroyed before it resolves.
 */
export async function runLocally(request: RunRequest, { onAccepted }: LocalRunOptions = {}): Promise<JobView> {
  enableMemory64();
  const device = new Wasm64Device({
    pool: createWorkerPool({ threads: 1, maxQueue: 1 }),
    store: new MemoryJobStore(),
    defaultModule: await loadDefaultModule(),
    logger: pino({ level: 'silent' }),
    maxQueue: 1,
  });
  try {
    const job = device.submit(request);
    onAccepted?.(toJobView(job));
    // The device records the outcome on the job object itself; a short poll is all one job needs.
    while (!isTerminal(job)) await new Promise((resolve) => setTimeout(resolve, 5));
    return toJobView(job);
  } finally {
    await device.close();
  }
}
