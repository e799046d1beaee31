// `run --local`: the same device, pool and module code the service uses, in this process, for one job.
import { pino } from 'pino';
import { loadConfig } from '../config.js';
import { Wasm64Device } from '../device/device.js';
import { MemoryJobStore } from '../device/job-store.js';
import { loadDefaultModule, prepareModule } from '../device/module-store.js';
import type { StoredModule } from '../device/module-store.js';
import { toJobView } from '../routes/jobs.js';
import type { JobView, RunRequest } from '../schemas/job.js';
import { enableMemory64 } from '../wasm/features.js';
import { compileWat, WatError } from '../wasm/wat.js';
import { createWorkerPool } from '../worker/pool.js';
import { CliError, EXIT } from './exit-codes.js';
import type { ModuleSource } from './module-file.js';

export interface LocalRunOptions {
  /** The module to run instead of the default one. */
  module?: ModuleSource;
  /** Called once the job is accepted, with the job as it is then. */
  onAccepted?: (job: JobView) => void;
}

/** Validates, describes and compiles the user's module as the service would (WAT through wabt first). */
async function loadModule(source: ModuleSource): Promise<StoredModule> {
  try {
    return await prepareModule(source.kind === 'wasm' ? source.bytes : await compileWat(source.text, source.path));
  } catch (err) {
    if (err instanceof WatError) throw new CliError(`${source.path} is not valid WebAssembly text: ${err.message}`, EXIT.usage);
    if (err instanceof WebAssembly.CompileError) throw new CliError(`${source.path} does not compile: ${err.message}`, EXIT.usage);
    throw err;
  }
}

/**
 * Runs one job on a one-thread pool and resolves with its terminal state. Throws ServiceError, as
 * the service would answer it, when the call is invalid. The pool is destroyed before it resolves.
 */
export async function runLocally(request: RunRequest, { module, onAccepted }: LocalRunOptions = {}): Promise<JobView> {
  enableMemory64();
  // The user's module takes the default module's place: the device needs no modules API for one job.
  const defaultModule = module === undefined ? await loadDefaultModule() : await loadModule(module);
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
