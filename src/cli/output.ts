// What the CLI prints: one short human line per job, and error lines that say what to do next.
import type { JobView } from '../schemas/job.js';
import type { ModuleView } from '../schemas/module.js';
import type { InstanceView } from '../schemas/instance.js';

/**
 * `completed 5`, `completed 7 1` (several results), `failed WASM64_TRAP: divide by zero`, `running`; a WASI
 * program's exit code as `completed exit 3`, and `(output truncated)` when the service cut its output.
 */
export function formatJob(job: JobView): string {
  const parts: string[] = [job.status];
  // An AO message's result is the JSON the process answered; its raw result is only the pointer to it.
  if (job.status === 'completed' && job.instance_id !== undefined && job.function === 'handle') parts.push(JSON.stringify(job.result));
  else if (job.status === 'completed') parts.push(...(job.results ?? []).map(String));
  if (job.exit_code !== undefined) parts.push(`exit ${job.exit_code}`);
  if (job.truncated === true) parts.push('(output truncated)');
  if (job.error !== undefined) parts.push(`${job.error.code}: ${job.error.message}`);
  return parts.join(' ');
}

/** The call as the job records it: `add(2,3)`, `count_vowels({"string":"abc"})`. */
export function formatCall(job: JobView): string {
  return `${job.function}(${job.parameters.map((p) => (typeof p === 'object' ? JSON.stringify(p) : String(p))).join(',')})`;
}

/** One line per job, newest first as the service lists them: id, creation time, call, and the job line. */
export function formatJobList(jobs: JobView[]): string {
  const width = Math.max(0, ...jobs.map((job) => formatCall(job).length));
  return jobs.map((job) => `${job.id}  ${job.created_at}  ${formatCall(job).padEnd(width)}  ${formatJob(job)}\n`).join('');
}

/** The id and size, the memory, then one line per export (`add(i64, i64) -> i64`) and per import. */
export function formatModule(module: ModuleView): string {
  const memory = module.memory === null ? 'no memory' : `memory ${module.memory.index}, ${module.memory.min} to ${module.memory.max ?? 'unbounded'} pages`;
  const lines = [`${module.module_id}  ${module.size} bytes  ${memory}`];
  for (const fn of module.exports) lines.push(`  ${fn.name}(${fn.params.join(', ')}) -> ${fn.results.length === 0 ? '()' : fn.results.join(', ')}`);
  for (const imp of module.imports) lines.push(`  import ${imp.module}.${imp.name} (${imp.kind})`);
  return `${lines.join('\n')}\n`;
}

/** `<id>  resident|evicted  <messages> messages  <memory> bytes  <module id>`. */
export function formatInstance(instance: InstanceView): string {
  return `${instance.instance_id}  ${instance.resident ? 'resident' : 'evicted'}  ${instance.messages} messages  ${instance.memory_bytes} bytes  ${instance.module_id}\n`;
}

/** The command that reads a job again, with the server named when it is not the default one. */
export function statusCommand(id: string, server: string, defaultServer: string): string {
  const where = server === defaultServer ? '' : ` --server ${server}`;
  return `job-dispatcher wasm64@1.0 status ${id}${where}`;
}

/** What the user can do about a refusal, where the CLI knows better than the service's message. */
const HINTS: Record<string, string> = {
  WASM64_UNAUTHORIZED: "Set JOB_DISPATCHER_TOKEN (or --token) to one of the service's API_TOKENS.",
};

/** `CODE: detail`, and a hint on the next line when there is one. */
export function problemMessage(code: string, detail: string): string {
  const hint = HINTS[code];
  return hint === undefined ? `${code}: ${detail}` : `${code}: ${detail}\n${hint}`;
}

export function unreachableMessage(server: string, reason: string): string {
  return [
    `no job-dispatcher service at ${server} (${reason}).`,
    'Start one with `job-dispatcher serve` (or `npm start` in the repository), point at another with',
    '--server URL or JOB_DISPATCHER_URL, or run a job in this process with `run --local`.',
  ].join('\n');
}

/** A WASI program's stdout and stderr as it wrote them (decoded from base64 when binary); none for a plain call. */
export function programOutput(job: JobView): { stdout: Buffer; stderr: Buffer } | undefined {
  if (job.stdout === undefined && job.stderr === undefined) return undefined;
  const bytes = (text: string | undefined, base64: boolean | undefined): Buffer => Buffer.from(text ?? '', base64 === true ? 'base64' : 'utf8');
  return { stdout: bytes(job.stdout, job.stdout_base64), stderr: bytes(job.stderr, job.stderr_base64) };
}

/** One JSON document per line, as the API sent it. */
export function formatJson(value: unknown): string {
  return JSON.stringify(value);
}
