// The job model: what the device knows about one evaluation, from submission to its terminal state.
import type { ErrorCode } from '../errors.js';
import type { ResultValue } from '../wasm/values.js';

export type JobStatus = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';

export const TERMINAL_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);

export interface JobError {
  code: ErrorCode;
  message: string;
}

export interface Job {
  id: string;
  status: JobStatus;
  moduleId: string;
  function: string;
  /** Parameters as typed for the function, in their JSON form. */
  parameters: ResultValue[];
  results?: ResultValue[];
  error?: JobError;
  /** Epoch milliseconds. */
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** Time spent executing wasm, measured in the worker. */
  durationMs?: number;
}

export function isTerminal(job: Job): boolean {
  return TERMINAL_STATUSES.has(job.status);
}
