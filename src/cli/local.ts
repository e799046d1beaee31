// `run --local`: the same device, pool and module code the service uses, in this process, for one job.
import { pino } from 'pino';
import { composeMemoryDevice } from '../compose.js';
import { loadConfig } from '../config.js';
import { toJobView } from '../schemas/job-view.js';
import type { JobView, RunRequest } from '../schemas/job.js';

export interface LocalRunOptions {
  /** Called once the job is accepted, with the job as it is then. */
  onAccepted?: (job: JobView) => void;
}

/**
 * Runs one job on a one-thread pool and resolves with its terminal state. Throws ServiceError, as
 * the service would answer it, when the call is invalid. The pool is destroyed before it resolves.
 */
export async function runLocally(request: RunRequest, { onAccepted }: LocalRunOptions = {}): Promise<JobView> {
  // The service's defaults (timeouts, TTL, limits), not the environment: a local run is configured by its flags.
  // A module in the request (`module`, `wat`) is validated, compiled and limited by the device, as in the service.
  const defaults = loadConfig({}, { poolThreads: 1, poolMaxQueue: 1, jobStoreMax: 1, reuseInstances: false });
  const { device } = await composeMemoryDevice(defaults, { logger: pino({ level: 'silent' }), lanes: false });
  try {
    const { job } = await device.submit(request);
    onAccepted?.(toJobView(job));
    // Settling releases the wait at once; the limit is only the longest a job may run.
    return toJobView(await device.waitFor(job, defaults.jobTimeoutMaxMs + 1000));
  } finally {
    await device.close();
  }
}
