// What each command does once its options are parsed: one action per command, printing what the service answered.
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { JobView } from '../schemas/job.js';
import { DEFAULT_SERVER, DispatcherClient } from './client.js';
import { CliError, EXIT } from './exit-codes.js';
import type { ExitCode } from './exit-codes.js';
import { readModuleFile } from './module-file.js';
import { formatInstance, formatJob, formatJobList, formatJson, formatModule, programOutput, statusCommand } from './output.js';
import { instanceRequest, runRequest } from './request.js';
import type { InstanceOptions, RunOptions } from './request.js';
import { startSpinner } from './spinner.js';

interface GlobalOptions {
  server: string;
  token?: string;
}

/** A completed (or still running) job is a success; a failed or cancelled one is not. */
function exitCodeForJob(job: JobView): ExitCode {
  return job.status === 'failed' || job.status === 'cancelled' ? EXIT.failed : EXIT.success;
}

/**
 * The job's line on stdout; for a WASI program, its own stdout and stderr pass through as the program wrote
 * them and the job's line goes to stderr, so that `run --wait > out.txt` keeps exactly the program's output.
 */
function printJob(job: JobView, json: boolean | undefined): void {
  process.exitCode = exitCodeForJob(job);
  if (json === true) {
    process.stdout.write(`${formatJson(job)}\n`);
    return;
  }
  // A call against an instance that printed nothing is a plain call, whatever WASI it links.
  const program = job.instance_id !== undefined && !job.stdout && !job.stderr ? undefined : programOutput(job);
  if (program === undefined) {
    process.stdout.write(`${formatJob(job)}\n`);
    return;
  }
  process.stdout.write(program.stdout);
  process.stderr.write(program.stderr);
  process.stderr.write(`${formatJob(job)}\n`);
}

function clientOf(command: Command): DispatcherClient {
  const { server, token } = command.optsWithGlobals<GlobalOptions>();
  return new DispatcherClient(server, token);
}

/** Waits for a job with a spinner on a terminal; Ctrl-C stops the wait (not the job) and says how to check on it. */
async function awaitJob(client: DispatcherClient, id: string): Promise<JobView> {
  const controller = new AbortController();
  const interrupt = (): void => controller.abort(new Error('interrupted'));
  process.once('SIGINT', interrupt);
  const spinner = startSpinner(process.stderr, `job ${id}`);
  try {
    return await client.waitFor(id, { signal: controller.signal, onUpdate: (job) => spinner.update(`job ${id} ${job.status}`) });
  } catch (err) {
    if (!controller.signal.aborted) throw err;
    throw new CliError(
      `stopped waiting; job ${id} keeps running on the server.\nCheck on it with: ${statusCommand(id, client.server, DEFAULT_SERVER)}`,
      EXIT.interrupted,
    );
  } finally {
    spinner.stop();
    process.off('SIGINT', interrupt);
  }
}

export async function run(this: Command, options: RunOptions): Promise<void> {
  const request = await runRequest(this, options);
  if (options.local === true) {
    const { runLocally } = await import('./local.js');
    const spinner = startSpinner(process.stderr, 'running in this process');
    try {
      printJob(await runLocally(request), options.json);
    } finally {
      spinner.stop();
    }
    return;
  }
  const client = clientOf(this);
  const accepted = await client.run(request, options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey });
  if (options.wait !== true) {
    process.stdout.write(`${options.json === true ? formatJson(accepted) : accepted.id}\n`);
    return;
  }
  printJob(await awaitJob(client, accepted.id), options.json);
}

export async function status(this: Command, id: string, options: { json?: true }): Promise<void> {
  printJob(await clientOf(this).status(id), options.json);
}

export async function wait(this: Command, id: string, options: { json?: true }): Promise<void> {
  printJob(await awaitJob(clientOf(this), id), options.json);
}

export async function cancel(this: Command, id: string, options: { json?: true }): Promise<void> {
  const job = await clientOf(this).cancel(id);
  process.stdout.write(`${options.json === true ? formatJson(job) : formatJob(job)}\n`);
}

export async function list(this: Command, options: { status?: string; limit?: number; cursor?: string; json?: true }): Promise<void> {
  const page = await clientOf(this).list(options);
  if (options.json === true) {
    process.stdout.write(`${formatJson(page)}\n`);
    return;
  }
  process.stdout.write(formatJobList(page.jobs));
  // On stderr, so that stdout stays one line per job for scripts.
  if (page.next_cursor !== null) process.stderr.write(`more: job-dispatcher wasm64@1.0 list --cursor ${page.next_cursor}\n`);
}

export async function addModule(this: Command, file: string, options: { json?: true }): Promise<void> {
  const module = await clientOf(this).addModule(await readModuleFile(file));
  process.stdout.write(options.json === true ? `${formatJson(module)}\n` : `${module.module_id}\n`);
}

export async function showModule(this: Command, id: string, options: { json?: true }): Promise<void> {
  const module = await clientOf(this).module(id);
  process.stdout.write(options.json === true ? `${formatJson(module)}\n` : formatModule(module));
}

/** `instances create FILE` (or `--snapshot FILE`): prints the new instance's id. */
export async function createInstance(this: Command, file: string | undefined, options: InstanceOptions): Promise<void> {
  const instance = await clientOf(this).createInstance(await instanceRequest(this, file, options));
  process.stdout.write(options.json === true ? `${formatJson(instance)}\n` : `${instance.instance_id}\n`);
}

export async function listInstances(this: Command, options: { json?: true }): Promise<void> {
  const list = await clientOf(this).instances();
  process.stdout.write(options.json === true ? `${formatJson(list)}\n` : list.instances.map(formatInstance).join(''));
}

export async function showInstance(this: Command, id: string, options: { json?: true }): Promise<void> {
  const instance = await clientOf(this).instance(id);
  process.stdout.write(options.json === true ? `${formatJson(instance)}\n` : formatInstance(instance));
}

export async function deleteInstance(this: Command, id: string, options: { json?: true }): Promise<void> {
  const instance = await clientOf(this).deleteInstance(id);
  process.stdout.write(options.json === true ? `${formatJson(instance)}\n` : `deleted ${instance.instance_id}\n`);
}

/** `instances snapshot ID [--out FILE]`: the snapshot's JSON, which `instances create --snapshot FILE` restores. */
export async function snapshotInstance(this: Command, id: string, options: { out?: string }): Promise<void> {
  const snapshot = await clientOf(this).snapshot(id);
  if (options.out === undefined) process.stdout.write(`${formatJson(snapshot)}\n`);
  else await writeFile(options.out, `${formatJson(snapshot)}\n`);
}

export async function serve(options: { host?: string; port?: string }): Promise<void> {
  // The server reads its configuration from the environment (src/config.ts validates it); the flags only set it.
  if (options.host !== undefined) process.env.HOST = options.host;
  if (options.port !== undefined) process.env.PORT = options.port;
  await import('../server.js');
}
