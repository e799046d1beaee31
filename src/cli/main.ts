#!/usr/bin/env node
// The job-dispatcher command: parses the command line, runs one command against the service (or in process), exits.
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { Command, CommanderError, Option } from 'commander';
import { ServiceError } from '../errors.js';
import type { JobView, RunRequest } from '../schemas/job.js';
import type { InstanceCreate, SnapshotView } from '../schemas/instance.js';
import { collect, collectEnv, parseDuration, parseLimit, parsePort, parseServer, parseSize, toParameter } from './arguments.js';
import { DEFAULT_SERVER, DispatcherClient, ProblemError, ServerUnreachableError } from './client.js';
import { CliError, EXIT, exitCodeForStatus } from './exit-codes.js';
import type { ExitCode } from './exit-codes.js';
import { readModuleFile } from './module-file.js';
import { formatInstance, formatJob, formatJobList, formatJson, formatModule, problemMessage, programOutput, statusCommand, unreachableMessage } from './output.js';
import { readStdin } from './stdin.js';
import { startSpinner } from './spinner.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

interface GlobalOptions {
  server: string;
  token?: string;
}

interface RunOptions {
  code?: string;
  function?: string;
  param?: string[];
  timeout?: number;
  idempotencyKey?: string;
  module?: string;
  moduleId?: string;
  fuel?: number;
  memoryLimit?: number;
  arg?: string[];
  env?: [string, string][];
  stdin?: string;
  stdinFile?: string;
  deterministic?: true;
  seed?: string;
  wait?: true;
  json?: true;
  local?: true;
  instance?: string;
  message?: string;
  messageEnv?: string;
}

interface InstanceOptions {
  init?: '_initialize' | '_start' | 'none';
  arg?: string[];
  env?: [string, string][];
  seed?: string;
  deterministic: boolean;
  fuel?: number;
  memoryLimit?: number;
  snapshot?: string;
  json?: true;
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

/** What to call: `--code`, or `--function` with its `--param`s. */
/** What to call: `--code`, or `--function` with its `--param`s, or nothing: a WASI program's `_start`. */
function callOf(command: Command, options: RunOptions): RunRequest {
  if (options.message !== undefined || options.messageEnv !== undefined) {
    if (options.instance === undefined) command.error('job-dispatcher: --message goes to a live instance: add --instance ID', { exitCode: EXIT.usage });
    const message = parseJsonOption(command, '--message', options.message ?? '');
    return options.messageEnv === undefined ? { message } : { message, env: parseJsonOption(command, '--message-env', options.messageEnv) };
  }
  if (options.code !== undefined) return { code: options.code };
  if (options.function !== undefined) return { function: options.function, parameters: (options.param ?? []).map(toParameter) };
  if (options.param !== undefined) command.error('job-dispatcher: --param needs --function NAME', { exitCode: EXIT.usage });
  // A module of the user's may be a WASI command: the service runs its `_start` (or says it has none).
  if (options.module !== undefined || options.moduleId !== undefined) return {};
  return command.error('job-dispatcher: say what to run: --code "add(2,3)", or --function add --param 2 --param 3 (or --module prog.wasm for a WASI program)', { exitCode: EXIT.usage });
}

function parseJsonOption(command: Command, flag: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return command.error(`job-dispatcher: ${flag} must be JSON, e.g. ${flag} '{"Action":"Eval"}'`, { exitCode: EXIT.usage });
  }
}

/** `--arg`, `--env`, `--stdin`/`--stdin-file`, `--deterministic`, `--seed`: the job's `wasi` object, when any is given. */
async function wasiOf(options: RunOptions): Promise<RunRequest['wasi']> {
  const wasi: NonNullable<RunRequest['wasi']> = {};
  if (options.arg !== undefined) wasi.args = options.arg;
  if (options.env !== undefined) wasi.env = Object.fromEntries(options.env);
  if (options.stdin !== undefined) wasi.stdin = options.stdin;
  if (options.stdinFile !== undefined) {
    const bytes = options.stdinFile === '-' ? await readStdin() : await readFile(options.stdinFile);
    // Text goes as text (readable in the job's JSON); anything that is not UTF-8 goes as base64.
    const text = bytes.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(bytes)) wasi.stdin = text;
    else [wasi.stdin, wasi.stdin_base64] = [bytes.toString('base64'), true];
  }
  if (options.deterministic === true) wasi.deterministic = true;
  if (options.seed !== undefined) wasi.seed = toParameter(options.seed);
  return Object.keys(wasi).length === 0 ? undefined : wasi;
}

/** The call with its module and limits: a module file goes as base64 bytes (`module`) or as text (`wat`). */
async function runRequest(command: Command, options: RunOptions): Promise<RunRequest> {
  const request = callOf(command, options);
  if (options.module !== undefined) {
    const source = await readModuleFile(options.module);
    if (source.kind === 'wasm') request.module = Buffer.from(source.bytes).toString('base64');
    else request.wat = source.text;
  }
  if (options.moduleId !== undefined) request.module_id = options.moduleId;
  if (options.instance !== undefined) request.instance_id = options.instance;
  if (options.timeout !== undefined) request.timeout_ms = options.timeout;
  if (options.fuel !== undefined) request.fuel = options.fuel;
  if (options.memoryLimit !== undefined) request.memory_limit = options.memoryLimit;
  const wasi = await wasiOf(options);
  if (wasi !== undefined) request.wasi = wasi;
  return request;
}

async function run(this: Command, options: RunOptions): Promise<void> {
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

async function status(this: Command, id: string, options: { json?: true }): Promise<void> {
  printJob(await clientOf(this).status(id), options.json);
}

async function wait(this: Command, id: string, options: { json?: true }): Promise<void> {
  printJob(await awaitJob(clientOf(this), id), options.json);
}

async function cancel(this: Command, id: string, options: { json?: true }): Promise<void> {
  const job = await clientOf(this).cancel(id);
  process.stdout.write(`${options.json === true ? formatJson(job) : formatJob(job)}\n`);
}

async function list(this: Command, options: { status?: string; limit?: number; cursor?: string; json?: true }): Promise<void> {
  const page = await clientOf(this).list(options);
  if (options.json === true) {
    process.stdout.write(`${formatJson(page)}\n`);
    return;
  }
  process.stdout.write(formatJobList(page.jobs));
  // On stderr, so that stdout stays one line per job for scripts.
  if (page.next_cursor !== null) process.stderr.write(`more: job-dispatcher wasm64@1.0 list --cursor ${page.next_cursor}\n`);
}

async function addModule(this: Command, file: string, options: { json?: true }): Promise<void> {
  const module = await clientOf(this).addModule(await readModuleFile(file));
  process.stdout.write(options.json === true ? `${formatJson(module)}\n` : `${module.module_id}\n`);
}

async function showModule(this: Command, id: string, options: { json?: true }): Promise<void> {
  const module = await clientOf(this).module(id);
  process.stdout.write(options.json === true ? `${formatJson(module)}\n` : formatModule(module));
}

/** `instances create FILE` (or `--snapshot FILE`): prints the new instance's id. */
async function createInstance(this: Command, file: string | undefined, options: InstanceOptions): Promise<void> {
  const body: InstanceCreate = {};
  if (file !== undefined) {
    const source = await readModuleFile(file);
    if (source.kind === 'wasm') body.module = Buffer.from(source.bytes).toString('base64');
    else body.wat = source.text;
  }
  if (options.snapshot !== undefined) {
    body.snapshot = JSON.parse(await readFile(options.snapshot, 'utf8')) as SnapshotView;
  } else {
    if (file === undefined) this.error('job-dispatcher: name the module FILE, or --snapshot FILE to restore one', { exitCode: EXIT.usage });
    const wasi: NonNullable<InstanceCreate['wasi']> = { deterministic: options.deterministic };
    if (options.arg !== undefined) wasi.args = options.arg;
    if (options.env !== undefined) wasi.env = Object.fromEntries(options.env);
    if (options.seed !== undefined) wasi.seed = /^-?\d+$/.test(options.seed) ? Number(options.seed) : options.seed;
    body.wasi = wasi;
    if (options.init !== undefined) body.init = options.init;
    if (options.fuel !== undefined) body.fuel = options.fuel;
    if (options.memoryLimit !== undefined) body.memory_limit = options.memoryLimit;
  }
  const instance = await clientOf(this).createInstance(body);
  process.stdout.write(options.json === true ? `${formatJson(instance)}\n` : `${instance.instance_id}\n`);
}

async function listInstances(this: Command, options: { json?: true }): Promise<void> {
  const list = await clientOf(this).instances();
  process.stdout.write(options.json === true ? `${formatJson(list)}\n` : list.instances.map(formatInstance).join(''));
}

async function showInstance(this: Command, id: string, options: { json?: true }): Promise<void> {
  const instance = await clientOf(this).instance(id);
  process.stdout.write(options.json === true ? `${formatJson(instance)}\n` : formatInstance(instance));
}

async function deleteInstance(this: Command, id: string, options: { json?: true }): Promise<void> {
  const instance = await clientOf(this).deleteInstance(id);
  process.stdout.write(options.json === true ? `${formatJson(instance)}\n` : `deleted ${instance.instance_id}\n`);
}

/** `instances snapshot ID [--out FILE]`: the snapshot's JSON, which `instances create --snapshot FILE` restores. */
async function snapshotInstance(this: Command, id: string, options: { out?: string }): Promise<void> {
  const snapshot = await clientOf(this).snapshot(id);
  if (options.out === undefined) process.stdout.write(`${formatJson(snapshot)}\n`);
  else await writeFile(options.out, `${formatJson(snapshot)}\n`);
}

async function serve(options: { host?: string; port?: string }): Promise<void> {
  // The server reads its configuration from the environment (src/config.ts validates it); the flags only set it.
  if (options.host !== undefined) process.env.HOST = options.host;
  if (options.port !== undefined) process.env.PORT = options.port;
  await import('../server.js');
}

function buildProgram(): Command {
  const program = new Command('job-dispatcher')
    .description('Run WebAssembly jobs on a wasm-job-dispatcher service (the ~wasm64@1.0 device), or serve one.')
    .version(version)
    .addOption(
      new Option('-s, --server <url>', 'the service to talk to')
        .env('JOB_DISPATCHER_URL')
        .default(DEFAULT_SERVER)
        .argParser(parseServer),
    )
    .addOption(new Option('--token <token>', 'bearer token, for a service run with API_TOKENS (prefer the env: flags show in ps)').env('JOB_DISPATCHER_TOKEN'))
    .configureHelp({ showGlobalOptions: true })
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'job-dispatcher: ')) })
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();
  program.addHelpText('after', `
Exit codes: 0 success, 1 job failed, 2 usage error (or a request the service refused), 3 server unreachable.

Examples:
  $ job-dispatcher serve &
  $ job-dispatcher wasm64@1.0 run --code "add(2,3)" --wait
  completed 5
  $ job-dispatcher wasm64@1.0 run --local --code "div(1,0)"
  failed WASM64_TRAP: divide by zero
  $ echo hi | job-dispatcher wasm64@1.0 run --module prog.wasm --arg -v --env NAME=ao --stdin-file - --wait
  (the program's stdout on stdout, its stderr and the job's line, e.g. \`completed exit 0\`, on stderr)`);

  const device = program
    .command('wasm64@1.0')
    .alias('~wasm64@1.0')
    .description('the ~wasm64@1.0 device: submit jobs and read them');

  device
    .command('run')
    .description('submit a job; prints its id, or with --wait its result')
    .addOption(new Option('-c, --code <expression>', 'the call, e.g. "add(2,3)"').conflicts(['function', 'param']))
    .option('-f, --function <name>', 'the exported function to call (with --param)')
    .option('-p, --param <value>', 'a parameter of --function (repeat it: --param 2 --param 3)', collect)
    .addOption(new Option('-m, --module <file>', 'the module to run instead of the default one: a .wasm binary or WebAssembly text (.wat)').conflicts('moduleId'))
    .option('--module-id <id>', 'a module stored with `modules add` (sha256:...)')
    .option('--fuel <units>', 'stop the job after this many instructions (WASM64_FUEL_EXHAUSTED); the job reports fuel_used', parseLimit)
    .option('--memory-limit <size>', "cap the module's memory: bytes, or 64KiB, 16MiB, 1GiB (whole 64 KiB pages)", parseSize)
    .option('-a, --arg <value>', 'WASI: a program argument after argv[0] (repeat it: --arg -n --arg 3)', collect)
    .option('-e, --env <NAME=value>', 'WASI: an environment variable of the program (repeat it)', collectEnv)
    .addOption(new Option('--stdin <text>', "WASI: the program's standard input, as text").conflicts('stdinFile'))
    .option('--stdin-file <file>', "WASI: the program's standard input from a file, or - for this command's own stdin")
    .option('--deterministic', 'WASI: fixed clocks and a seeded random stream, so the same job prints the same output')
    .option('--seed <seed>', 'WASI: the seed of the deterministic random stream (a number or a string)')
    .option('-t, --timeout <duration>', 'stop the job after this long: 500ms, 5s, 2m (the server caps it)', parseDuration)
    .option('--idempotency-key <key>', 'repeating a run with the same key and call returns the same job, not a new one')
    .option('-w, --wait', 'wait for the job and print its result')
    .option('--json', "print the API's JSON instead of a short line")
    .option('--instance <id>', 'run against this live instance (instances create) instead of a fresh one')
    .option('--message <json>', 'with --instance: an AO message, passed to the process\'s handle() as JSON')
    .option('--message-env <json>', 'with --message: the env object handle() gets (default {})')
    .addOption(new Option('--local', 'run the job in this process on its own small pool: no server needed').implies({ wait: true }))
    .action(run);

  device.command('status').description("print a job's state: `completed 5`, `failed WASM64_TRAP: ...`").argument('<id>', 'the job id').option('--json', "print the API's JSON").action(status);
  device.command('wait').description('wait until a job ends, then print it like status').argument('<id>', 'the job id').option('--json', "print the API's JSON").action(wait);
  device.command('cancel').description('cancel a queued or running job; prints it: `cancelled WASM64_CANCELLED: ...`').argument('<id>', 'the job id').option('--json', "print the API's JSON").action(cancel);
  device
    .command('list')
    .description('list jobs, newest first: id, created, call, state')
    .addOption(new Option('--status <status>', 'only jobs in this state').choices(['queued', 'running', 'completed', 'failed', 'cancelled']))
    .option('-n, --limit <count>', 'jobs per page (the service allows 1 to 1000; default 50)', parseLimit)
    .option('--cursor <cursor>', 'the page after this one (printed on stderr after a full page)')
    .option('--json', "print the API's JSON page")
    .action(list);

  const modules = device.command('modules').description('store a module once, then run it by id with run --module-id');
  modules.command('add').description('upload a .wasm binary or WebAssembly text; prints its module id').argument('<file>', 'the module').option('--json', "print the API's JSON description").action(addModule);
  modules.command('show').description("print a stored module's exports, imports and memory").argument('<id>', 'the module id (sha256:...)').option('--json', "print the API's JSON").action(showModule);

  const instances = device.command('instances').description('live instances (AO processes): created once, then called by run --instance ID');
  instances
    .command('create')
    .description('create an instance of a module (or restore one with --snapshot); prints its id')
    .argument('[file]', 'the module: a .wasm binary or WebAssembly text')
    .addOption(new Option('--init <function>', 'what runs once at creation (default: _initialize when exported)').choices(['_initialize', '_start', 'none']))
    .option('-a, --arg <value>', 'WASI: an argument every call sees after argv[0] (repeat it)', collect)
    .option('-e, --env <NAME=value>', 'WASI: an environment variable every call sees (repeat it)', collectEnv)
    .option('--seed <seed>', 'the seed of the instance\'s random stream (a number or a string)')
    .option('--no-deterministic', 'real clocks and random bytes instead of the virtual clock and seeded stream')
    .option('--fuel <units>', 'fuel each call gets', parseLimit)
    .option('--memory-limit <size>', 'cap the instance\'s memory: bytes, or 64KiB, 16MiB, 1GiB', parseSize)
    .option('--snapshot <file>', 'restore the snapshot in this file (from instances snapshot --out)')
    .option('--json', "print the API's JSON")
    .action(createInstance);
  instances.command('list').description('one line per instance: id, resident or evicted, messages, memory, module').option('--json', "print the API's JSON").action(listInstances);
  instances.command('show').description('print an instance like list does').argument('<id>', 'the instance id').option('--json', "print the API's JSON").action(showInstance);
  instances.command('delete').description('delete an instance; its waiting jobs end cancelled').argument('<id>', 'the instance id').option('--json', "print the API's JSON").action(deleteInstance);
  instances.command('snapshot').description("print an instance's snapshot (JSON), or write it to --out FILE").argument('<id>', 'the instance id').option('-o, --out <file>', 'write it to this file').action(snapshotInstance);

  program
    .command('serve')
    .description('start the service in this process (same as npm start); configured by HOST, PORT and the rest of the environment')
    .option('--host <address>', 'address to listen on (sets HOST)')
    .option('--port <port>', 'TCP port, 0 for a free one (sets PORT)', parsePort)
    .action(serve);
  return program;
}

/** Prints what went wrong on stderr and answers the exit code. */
function report(err: unknown): ExitCode {
  if (err instanceof CommanderError) {
    // Commander printed its own message (or the help) already.
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.success : EXIT.usage;
  }
  let line: string;
  let code: ExitCode;
  if (err instanceof CliError) [line, code] = [err.message, err.exitCode];
  else if (err instanceof ServerUnreachableError) [line, code] = [unreachableMessage(err.server, err.reason), EXIT.unreachable];
  else if (err instanceof ProblemError) [line, code] = [problemMessage(err.problem.code, err.problem.detail), exitCodeForStatus(err.problem.status)];
  else if (err instanceof ServiceError) [line, code] = [problemMessage(err.code, err.message), exitCodeForStatus(err.status)];
  else [line, code] = [`unexpected error, please report it: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, EXIT.failed];
  process.stderr.write(`job-dispatcher: ${line}\n`);
  return code;
}

// A reader that stops early (`| head -1`) is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit();
});

try {
  await buildProgram().parseAsync();
} catch (err) {
  process.exitCode = report(err);
}
