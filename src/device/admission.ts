// The parts of admitting a job that need no state of the device's: its record, its timeout, and its call kept for a replica.
import { randomUUID } from 'node:crypto';
import { fail, ServiceError } from '../errors.js';
import { planKey } from './batch-plan.js';
import { resolveCall } from './call-plan.js';
import type { Job } from './job.js';
import type { RunnableModules } from './job-device.js';
import { WASM_PAGE } from './limits.js';
import type { LimitSettings } from './limits.js';
import type { RunInput } from './run-input.js';
import type { RunPlan } from './runner.js';
import type { StoredCall } from './stored-call.js';

/** The job's `timeout_ms`; throws WASM64_TIMEOUT_TOO_LONG above the maximum. */
export function timeoutOf(request: RunInput, defaultMs: number, maxMs: number): number {
  const timeoutMs = request.timeout_ms ?? defaultMs;
  if (timeoutMs > maxMs) throw fail('WASM64_TIMEOUT_TOO_LONG', maxMs, timeoutMs);
  return timeoutMs;
}

/** A new queued job; the store gives it its `seq` and `createdAt` when it records it. */
export function newJob(moduleId: string, fn: string, parameters: Job['parameters'], timeoutMs: number, memoryLimit: number, fuel: number | null, key?: string, fingerprint?: string): Job {
  const job: Job = { id: randomUUID(), seq: 0, status: 'queued', moduleId, function: fn, parameters, timeoutMs, memoryLimit, createdAt: 0 };
  if (fuel !== null) job.fuel = fuel;
  if (key !== undefined && fingerprint !== undefined) job.idempotency = { key, fingerprint };
  return job;
}

/** What a replica needs to plan the run again: the request's WASI, allocator and `returns`, and the output limit. */
export function storedCallOf(request: RunInput, outputLimit: number): StoredCall {
  const stored: StoredCall = { outputLimit };
  if (request.wasi !== undefined) stored.wasi = request.wasi;
  if (request.allocator !== undefined) stored.allocator = request.allocator;
  if (request.returns !== undefined) stored.returns = request.returns;
  return stored;
}

/**
 * The run of a job taken from a shared queue: its module (read and compiled the first time this replica runs
 * it), in the variant instrumented for its limits, and its call planned again from what the job carries, by
 * the code that planned it at submission. Throws ServiceError (WASM64_MODULE_NOT_FOUND) when it cannot run here.
 */
export async function planAgain(job: Job, stored: StoredCall, modules: RunnableModules, limits: LimitSettings): Promise<RunPlan> {
  const module = await modules.get(job.moduleId);
  if (module === undefined) {
    throw new ServiceError('WASM64_MODULE_NOT_FOUND', `the module ${job.moduleId} is no longer stored (evicted beyond MAX_MODULES before the job ran); upload it again and resubmit`);
  }
  const { outputLimit, ...call } = stored;
  const { parameters, call: options } = resolveCall({ ...call, function: job.function, parameters: job.parameters }, module, outputLimit);
  const memoryLimit = job.memoryLimit ?? limits.memoryLimit;
  const variant = await modules.compiledFor({ module, fresh: false }, { memoryCapPages: Math.floor(memoryLimit / WASM_PAGE), fuel: job.fuel !== undefined });
  return { job, module: variant, parameters, call: options, key: planKey(job.moduleId, job.function, job.fuel !== undefined) };
}
