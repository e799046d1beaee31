// What the command line asks the service for: the run request (or instance creation) built from the options.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { InstanceCreate, SnapshotView } from '../schemas/instance.js';
import type { RunRequest } from '../schemas/job.js';
import { toParameter } from './arguments.js';
import { EXIT } from './exit-codes.js';
import { readModuleFile } from './module-file.js';
import { readStdin } from './stdin.js';

export interface RunOptions {
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

export interface InstanceOptions {
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
export async function runRequest(command: Command, options: RunOptions): Promise<RunRequest> {
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

/** `instances create FILE` (or `--snapshot FILE`): the body of POST /instances. */
export async function instanceRequest(command: Command, file: string | undefined, options: InstanceOptions): Promise<InstanceCreate> {
  const body: InstanceCreate = {};
  if (file !== undefined) {
    const source = await readModuleFile(file);
    if (source.kind === 'wasm') body.module = Buffer.from(source.bytes).toString('base64');
    else body.wat = source.text;
  }
  if (options.snapshot !== undefined) {
    body.snapshot = JSON.parse(await readFile(options.snapshot, 'utf8')) as SnapshotView;
    return body;
  }
  if (file === undefined) command.error('job-dispatcher: name the module FILE, or --snapshot FILE to restore one', { exitCode: EXIT.usage });
  const wasi: NonNullable<InstanceCreate['wasi']> = { deterministic: options.deterministic };
  if (options.arg !== undefined) wasi.args = options.arg;
  if (options.env !== undefined) wasi.env = Object.fromEntries(options.env);
  if (options.seed !== undefined) wasi.seed = /^-?\d+$/.test(options.seed) ? Number(options.seed) : options.seed;
  body.wasi = wasi;
  if (options.init !== undefined) body.init = options.init;
  if (options.fuel !== undefined) body.fuel = options.fuel;
  if (options.memoryLimit !== undefined) body.memory_limit = options.memoryLimit;
  return body;
}
