// The job model: what the device knows about one evaluation, from submission to its terminal state.
import type { ErrorCode } from '../errors.js';
import type { ReturnedValue, WasiOutcome } from '../wasm/evaluate.js';
import type { ResultValue } from '../wasm/values.js';
import type { ParameterEcho } from './call-plan.js';

/**
 * `queued` (waiting for a thread) → `running` (on a thread) → `completed` | `failed` | `cancelled`.
 * A queued job may also go straight to `cancelled`. Terminal states never change again.
 */
export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'completed', 'failed', 'cancelled'];

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);

/** A job's error message is cut to this many characters, so no failure makes a job large. */
export const MAX_ERROR_MESSAGE = 1024;

export interface JobError {
  code: ErrorCode;
  message: string;
}

export interface Job {
  id: string;
  /** Order of submission in this process: what listings sort and page by. */
  seq: number;
  status: JobStatus;
  moduleId: string;
  function: string;
  /** Parameters as typed for the function, in their JSON form; string and bytes parameters as sent. */
  parameters: ParameterEcho[];
  /** The job fails with WASM64_TIMEOUT once it has run this long. */
  timeoutMs: number;
  /** Bytes its memory may grow to. */
  memoryLimit?: number;
  /** Fuel granted; absent for an unmetered job. */
  fuel?: number;
  /** Fuel consumed, once it ran metered. */
  fuelUsed?: number;
  results?: ResultValue[];
  /** The live instance it ran against. */
  instanceId?: string;
  /** For an AO message: the JSON the process answered. */
  output?: unknown;
  /** With `returns`: what the first result pointed at. */
  returned?: ReturnedValue;
  /** For a WASI program: exit code and captured output (also when it trapped). */
  wasi?: WasiOutcome;
  error?: JobError;
  /** Epoch milliseconds, on the device's clock. */
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** Time spent executing wasm, measured in the worker. */
  durationMs?: number;
  /** Set when the job was submitted with an Idempotency-Key: the key and a digest of the request. */
  idempotency?: { key: string; fingerprint: string };
}

export function isTerminal(job: Job): boolean {
  return TERMINAL_STATUSES.has(job.status);
}

export function jobError(code: ErrorCode, message: string): JobError {
  return { code, message: message.length > MAX_ERROR_MESSAGE ? `${message.slice(0, MAX_ERROR_MESSAGE - 1)}…` : message };
}
