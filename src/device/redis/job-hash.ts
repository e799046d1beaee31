// A job as a Redis hash: the field names the Lua scripts read, and the conversion to and from Job.
import type { ErrorCode } from '../../errors.js';
import { JOB_STATUSES } from '../job.js';
import type { Job, JobStatus } from '../job.js';
import type { ParameterEcho } from '../call-plan.js';
import type { StoredCall } from '../stored-call.js';
import type { ReturnedValue, WasiOutcome } from '../../wasm/evaluate.js';
import type { ResultValue } from '../../wasm/values.js';

/** Thrown when a hash read back from Redis is not a job this service wrote (a foreign key under our prefix). */
export class JobHashError extends Error {
  override readonly name = 'JobHashError';
}


/** The fields a new job is written with (the admission script adds id, seq, status and createdAt). */
export function newJobFields(job: Pick<Job, 'moduleId' | 'function' | 'parameters' | 'timeoutMs' | 'memoryLimit' | 'fuel'>, call: StoredCall): string[] {
  const fields = [
    'moduleId', job.moduleId, 'function', job.function, 'parameters', JSON.stringify(job.parameters), 'timeoutMs', String(job.timeoutMs),
    'call', JSON.stringify(call),
  ];
  if (job.memoryLimit !== undefined) fields.push('memoryLimit', String(job.memoryLimit));
  if (job.fuel !== undefined) fields.push('fuel', String(job.fuel));
  return fields;
}

/** The job's number fields a hash may lack. */
const OPTIONAL_NUMBERS = ['memoryLimit', 'fuel', 'fuelUsed', 'startedAt', 'finishedAt', 'durationMs'] as const;

const optionalNumber = (fields: Map<string, string>, name: string): number | undefined => {
  const raw = fields.get(name);
  return raw === undefined ? undefined : Number(raw);
};

function fieldMap(flat: readonly string[]): Map<string, string> {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] ?? '', flat[i + 1] ?? '');
  return fields;
}

/** The call a job hash was written with (see StoredCall). */
export function decodeCall(flat: readonly string[]): StoredCall {
  const raw = fieldMap(flat).get('call');
  if (raw === undefined) throw new JobHashError(`the job hash has no call: ${JSON.stringify(flat.slice(0, 8))}`);
  return JSON.parse(raw) as StoredCall;
}

/** A flat HGETALL reply (`[field, value, ...]`) as a Job. */
export function decodeJob(flat: readonly string[]): Job {
  const fields = fieldMap(flat);
  const status = fields.get('status') as JobStatus | undefined;
  const id = fields.get('id');
  if (id === undefined || status === undefined || !JOB_STATUSES.includes(status)) throw new JobHashError(`not a job hash: ${JSON.stringify(flat.slice(0, 8))}`);
  const job: Job = {
    id,
    seq: Number(fields.get('seq')),
    status,
    moduleId: fields.get('moduleId') ?? '',
    function: fields.get('function') ?? '',
    parameters: JSON.parse(fields.get('parameters') ?? '[]') as ParameterEcho[],
    timeoutMs: Number(fields.get('timeoutMs')),
    createdAt: Number(fields.get('createdAt')),
  };
  for (const name of OPTIONAL_NUMBERS) {
    const value = optionalNumber(fields, name);
    if (value !== undefined) job[name] = value;
  }
  const results = fields.get('results');
  if (results !== undefined) job.results = JSON.parse(results) as ResultValue[];
  const returned = fields.get('returned');
  if (returned !== undefined) job.returned = JSON.parse(returned) as ReturnedValue;
  const wasi = fields.get('wasi');
  if (wasi !== undefined) job.wasi = JSON.parse(wasi) as WasiOutcome;
  const code = fields.get('errorCode');
  if (code !== undefined) job.error = { code: code as ErrorCode, message: fields.get('errorMessage') ?? '' };
  const key = fields.get('idemKey');
  const fingerprint = fields.get('idemFp');
  if (key !== undefined && fingerprint !== undefined) job.idempotency = { key, fingerprint };
  return job;
}
