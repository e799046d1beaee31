// The ~wasm64@1.0 device: admits jobs, queues them, runs them on the pool, and records how they end.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { ServiceError } from '../errors.js';
import type { RunRequest } from '../schemas/job.js';
import { CallSyntaxError, parseCall } from '../wasm/call.js';
import type { ExportedFunction } from '../wasm/module-info.js';
import { argumentToParameter, fromWasmValue, ParameterError, toWasmValue } from '../wasm/values.js';
import type { ParameterInput, WasmValue } from '../wasm/values.js';
import type { WorkerPool } from '../worker/pool.js';
import type { EvaluateOutcome } from '../worker/protocol.js';
import type { Job } from './job.js';
import type { JobStore } from './job-store.js';
import type { StoredModule } from './module-store.js';

export interface DeviceOptions {
  pool: WorkerPool;
  store: JobStore;
  defaultModule: StoredModule;
  logger: Logger;
  /** Jobs that may wait for a thread; beyond it `submit` refuses with WASM64_QUEUE_FULL. */
  maxQueue: number;
  now?: () => number;
}

const PASSABLE_TYPES = new Set(['i32', 'i64', 'f32', 'f64']);

/** What a run asks for once resolved against the module: the function and its typed parameters. */
interface ResolvedCall {
  fn: ExportedFunction;
  parameters: WasmValue[];
}

function resolveCall(request: RunRequest, module: StoredModule): ResolvedCall {
  let name: string;
  let inputs: ParameterInput[];
  if (request.code !== undefined) {
    if (request.function !== undefined || request.parameters !== undefined) throw new ServiceError('WASM64_CALL_CONFLICT');
    try {
      const call = parseCall(request.code);
      name = call.function;
      inputs = call.arguments.map(argumentToParameter);
    } catch (err) {
      if (err instanceof CallSyntaxError) throw new ServiceError('WASM64_CALL_SYNTAX', err.message);
      throw err;
    }
  } else if (request.function !== undefined) {
    name = request.function;
    inputs = request.parameters ?? [];
  } else {
    throw new ServiceError('WASM64_MISSING_FUNCTION');
  }

  const fn = module.exportsByName.get(name);
  if (fn === undefined) {
    const known = [...module.exportsByName.keys()].slice(0, 50).join(', ');
    throw new ServiceError('WASM64_UNKNOWN_FUNCTION', `the module exports no function "${name}"; it exports: ${known || 'none'}`);
  }
  const unsupported = [...fn.params, ...fn.results].find((t) => !PASSABLE_TYPES.has(t));
  if (unsupported !== undefined) {
    throw new ServiceError('WASM64_UNSUPPORTED_SIGNATURE', `"${name}" uses ${unsupported}; jobs pass only i32, i64, f32 and f64`);
  }
  if (inputs.length !== fn.params.length) {
    throw new ServiceError(
      'WASM64_PARAMETER_COUNT',
      `"${name}" takes ${fn.params.length} parameter(s) (${fn.params.join(', ') || 'none'}), got ${inputs.length}`,
    );
  }
  try {
    return { fn, parameters: inputs.map((input, i) => toWasmValue(fn.params[i] ?? 'i32', input, i)) };
  } catch (err) {
    if (err instanceof ParameterError) throw new ServiceError('WASM64_PARAMETER_TYPE', `"${name}": ${err.message}`);
    throw err;
  }
}

export class Wasm64Device {
  readonly #pool: WorkerPool;
  readonly #store: JobStore;
  readonly #defaultModule: StoredModule;
  readonly #log: Logger;
  readonly #maxQueue: number;
  readonly #now: () => number;
  /** Jobs waiting for a thread, oldest first (a Map: O(1) removal by id). */
  readonly #queue = new Map<string, { job: Job; module: StoredModule; parameters: WasmValue[] }>();
  #running = 0;
  #dispatchScheduled = false;

  constructor(options: DeviceOptions) {
    this.#pool = options.pool;
    this.#store = options.store;
    this.#defaultModule = options.defaultModule;
    this.#log = options.logger;
    this.#maxQueue = options.maxQueue;
    this.#now = options.now ?? Date.now;
  }

  /**
   * `run`: validates the call against the module's real signature, then records a queued job and
   * schedules it. Throws ServiceError (and creates nothing) when the call is invalid or the queue is full.
   */
  submit(request: RunRequest): Job {
    const module = this.#defaultModule;
    const { fn, parameters } = resolveCall(request, module);
    if (this.#queue.size >= this.#maxQueue) {
      throw new ServiceError('WASM64_QUEUE_FULL', `${this.#queue.size} jobs are already waiting; retry shortly`, { 'retry-after': '1' });
    }
    const job: Job = {
      id: randomUUID(),
      status: 'queued',
      moduleId: module.id,
      function: fn.name,
      parameters: parameters.map(fromWasmValue),
      createdAt: this.#now(),
    };
    this.#store.add(job);
    this.#queue.set(job.id, { job, module, parameters });
    this.#log.debug({ job: job.id, function: job.function }, 'job queued');
    this.#scheduleDispatch();
    return job;
  }

  /** `status`: the job as it is now, or undefined for an unknown (or expired) id. */
  get(id: string): Job | undefined {
    return this.#store.get(id);
  }

  get queued(): number {
    return this.#queue.size;
  }

  get running(): number {
    return this.#running;
  }

  /** Dispatches after the current turn, so that jobs submitted together go to the pool together. */
  #scheduleDispatch(): void {
    if (this.#dispatchScheduled) return;
    this.#dispatchScheduled = true;
    queueMicrotask(() => {
      this.#dispatchScheduled = false;
      this.#dispatch();
    });
  }

  #dispatch(): void {
    // Keep each thread busy with one job and one ready behind it, so a thread never idles waiting on us.
    const limit = this.#pool.threads * 2;
    while (this.#running < limit && this.#queue.size > 0) {
      const next = this.#queue.values().next();
      if (next.done === true) return;
      const { job, module, parameters } = next.value;
      this.#queue.delete(job.id);
      this.#running++;
      job.status = 'running';
      job.startedAt = this.#now();
      this.#pool
        .run({ jobId: job.id, module: module.compiled, function: job.function, parameters })
        .then(
          (outcome) => this.#finish(job, outcome),
          (err: unknown) => this.#fail(job, err),
        )
        .finally(() => {
          this.#running--;
          this.#dispatch();
        });
    }
  }

  #finish(job: Job, outcome: EvaluateOutcome): void {
    job.startedAt = outcome.startedAt;
    job.durationMs = outcome.durationMs;
    job.finishedAt = this.#now();
    if (outcome.ok) {
      job.status = 'completed';
      job.results = outcome.results.map(fromWasmValue);
      this.#log.debug({ job: job.id }, 'job completed');
    } else {
      job.status = 'failed';
      job.error = { code: outcome.code, message: outcome.message };
      this.#log.info({ job: job.id, code: outcome.code, reason: outcome.message }, 'job failed');
    }
  }

  #fail(job: Job, err: unknown): void {
    job.status = 'failed';
    job.finishedAt = this.#now();
    job.error = { code: 'WASM64_WORKER_FAILED', message: err instanceof Error ? err.message : String(err) };
    this.#log.error({ job: job.id, err }, 'job failed: the worker running it failed');
  }

  /** Stops the pool; jobs still queued end `failed`. */
  async close(): Promise<void> {
    for (const { job } of this.#queue.values()) this.#fail(job, new Error('the service shut down before the job ran'));
    this.#queue.clear();
    await this.#pool.destroy();
  }
}
