// A job as the API shows it (GET /status, POST /run's 200): the device's Job in the API's words.
import type { Job } from '../device/job.js';
import type { JobView } from './job.js';

// Date#toISOString costs microseconds and a job view has three timestamps, mostly within the same
// recent second: the text up to the second is kept for the last second seen.
let isoSecond = Number.NaN;
let isoPrefix = '';

/** `ms` (epoch milliseconds) as ISO 8601 UTC with milliseconds, exactly as Date#toISOString writes it. */
export function iso(ms: number): string {
  const whole = Math.floor(ms);
  const second = Math.floor(whole / 1000);
  if (second !== isoSecond) {
    const text = new Date(second * 1000).toISOString();
    if (text.length !== 24) return new Date(whole).toISOString(); // years beyond 9999 or before 0
    isoSecond = second;
    isoPrefix = text.slice(0, 20);
  }
  const milli = whole - second * 1000;
  return `${isoPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

/** The API's JSON form of a job: snake_case, ISO timestamps, `result` beside `results`. */
export function toJobView(job: Job): JobView {
  const view: JobView = {
    id: job.id,
    status: job.status,
    module_id: job.moduleId,
    function: job.function,
    parameters: job.parameters,
    timeout_ms: job.timeoutMs,
    created_at: iso(job.createdAt),
  };
  if (job.results !== undefined) {
    view.result = job.results[0] ?? null;
    view.results = job.results;
  }
  if (job.output !== undefined) view.result = job.output;
  if (job.instanceId !== undefined) view.instance_id = job.instanceId;
  if (job.memoryLimit !== undefined) view.memory_limit = job.memoryLimit;
  if (job.fuel !== undefined) view.fuel = job.fuel;
  if (job.fuelUsed !== undefined) view.fuel_used = job.fuelUsed;
  if (job.returned !== undefined) {
    view.result = job.returned.value;
    view.result_base64 = job.returned.base64;
  }
  if (job.wasi !== undefined) {
    if (job.wasi.exitCode !== undefined) view.exit_code = job.wasi.exitCode;
    view.stdout = job.wasi.stdout.value;
    view.stdout_base64 = job.wasi.stdout.base64;
    view.stderr = job.wasi.stderr.value;
    view.stderr_base64 = job.wasi.stderr.base64;
  }
  if (job.wasi?.truncated === true || job.returned?.truncated === true) view.truncated = true;
  else if (job.wasi !== undefined || job.returned !== undefined) view.truncated = false;
  if (job.error !== undefined) view.error = job.error;
  if (job.startedAt !== undefined) view.started_at = iso(job.startedAt);
  if (job.finishedAt !== undefined) view.finished_at = iso(job.finishedAt);
  if (job.durationMs !== undefined) view.duration_ms = Math.round(job.durationMs * 1000) / 1000;
  return view;
}
