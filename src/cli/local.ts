// `run --local`: the same device, pool and module code the service uses, in this process, for one job.
import { pino } from 'pino';
import { loadConfig } from '../config.js';
import { Wasm64Device } from '../device/device.js';
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
  // A module in the request (`module`, `wat`) is validated, compiled and limited by the device, as in the service.
  const defaultModule = await loadDefaultModule();
  // The service's defaults (timeouts, TTL), not the environment: a local run is configured by its flags.
  const defaults = loadConfig({});
  const device = new Wasm64Device({
    pool: createWorkerPool({ threads: 1, maxQueue: 1 }),
    store: new MemoryJobStore({ ttlMs: defaults.jobTtlMs, maxJobs: 1 }),
    defaultModule,
    logger: pino({ level: 'silent' }),
    maxQueue: 1,
    defaultTimeoutMs: defaults.jobTimeoutMs,
    maxTimeoutMs: defaults.jobTimeoutMaxMs,
    outputLimit: defaults.outputLimit,
  });
  try {
    const { job } = await device.submit(request);
    onAccepted?.(toJobView(job));
    // Settling releases the wait at once; the limit is only the longest a job may run.
    return toJobView(await device.waitFor(job, defaults.jobTimeoutMaxMs + 1000));
  } finally {
    await device.close();
  }
}
