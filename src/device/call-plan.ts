// Turns a run request's parameters, memory I/O and WASI options into what the worker needs, checked against the module.
import { ServiceError } from '../errors.js';
import { CallSyntaxError, parseCall } from '../wasm/call.js';
import type { CallOptions } from '../worker/protocol.js';
import type { RunInput } from './run-input.js';
import type { EvaluateOptions, WasiTask } from '../wasm/evaluate.js';
import {
  addressType, allocatorProblem, DEFAULT_ALLOCATOR, exportedMemory, isMemoryParameter, placement, returnsProblem,
} from '../wasm/memory-io.js';
import type { MemoryParameterInput, Placement } from '../wasm/memory-io.js';
import type { ExportedFunction, ModuleInfo } from '../wasm/module-info.js';
import { argumentToParameter, fromWasmValue, ParameterError, toWasmValue } from '../wasm/values.js';
import type { ParameterInput, ResultValue, WasmValue } from '../wasm/values.js';
import { WASI_MODULE } from '../wasm/wasi/abi.js';
import { createWasi, WasiOptionsError } from '../wasm/wasi/preview1.js';

/** argv[0] of every WASI run: the job has no file name to give. */
export const WASI_PROGRAM_NAME = 'main.wasm';

export type ParameterEcho = ResultValue | MemoryParameterInput;

export interface PlannedParameters {
  /** Typed values, with placeholders where memory parameters' pointers and lengths go. */
  parameters: WasmValue[];
  placements: Placement[];
  /** The parameters as the job shows them back. */
  echo: ParameterEcho[];
}

/** Whether the module links WASI preview1: it imports at least one of its functions. */
export function importsWasi(info: ModuleInfo): boolean {
  return info.imports.some((i) => i.module === WASI_MODULE);
}

/**
 * Types each input for `fn`'s signature. A string or bytes parameter takes the pointer's place (and, with
 * `length: true`, the length's right after it): both must be of the memory's address type.
 */
export function planParameters(fn: ExportedFunction, inputs: readonly (ParameterInput | MemoryParameterInput)[], info: ModuleInfo, allocator: string): PlannedParameters {
  const wanted = inputs.reduce<number>((n, input) => n + (isMemoryParameter(input) && input.length === true ? 2 : 1), 0);
  if (wanted !== fn.params.length) {
    throw new ServiceError(
      'WASM64_PARAMETER_COUNT',
      `"${fn.name}" takes ${fn.params.length} parameter(s) (${fn.params.join(', ') || 'none'}), got ${wanted}` +
        (wanted !== inputs.length ? ' (a string or bytes parameter with "length": true counts as two)' : ''),
    );
  }
  const address = addressType(info);
  const parameters: WasmValue[] = [];
  const placements: Placement[] = [];
  const echo: ParameterEcho[] = [];
  try {
    for (const input of inputs) {
      const index = parameters.length;
      if (!isMemoryParameter(input)) {
        const value = toWasmValue(fn.params[index] ?? 'i32', input, index);
        parameters.push(value);
        echo.push(fromWasmValue(value));
        continue;
      }
      const slots = input.length === true ? [index, index + 1] : [index];
      for (const slot of slots) {
        if (fn.params[slot] !== address) {
          throw new ParameterError(`parameter ${slot} is ${fn.params[slot]}; a string or bytes parameter passes a pointer${slots.length > 1 ? ' and a length' : ''} of type ${address}`, slot);
        }
        parameters.push(address === 'i64' ? 0n : 0);
      }
      placements.push(placement(input, index));
      echo.push(input);
    }
  } catch (err) {
    if (err instanceof ParameterError) throw new ServiceError('WASM64_PARAMETER_TYPE', `"${fn.name}": ${err.message}`);
    throw err;
  }
  if (placements.length > 0) {
    const problem = allocatorProblem(info, allocator);
    if (problem !== undefined) throw new ServiceError('WASM64_ALLOCATOR', problem);
  }
  return { parameters, placements, echo };
}

/** The run's WASI: argv, environment and stdin from `request.wasi`, checked here so a bad one is a 400. */
export function planWasi(request: RunInput, info: ModuleInfo, outputLimit: number): WasiTask | undefined {
  const options = request.wasi;
  if (options === undefined && !importsWasi(info)) return undefined;
  let stdin: Uint8Array;
  if (options?.stdin_base64 === true) {
    const text = options.stdin ?? '';
    if (text.length % 4 === 1 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new ServiceError('WASM64_WASI_OPTIONS', '"stdin" is not valid base64 (stdin_base64 is true)');
    stdin = new Uint8Array(Buffer.from(text, 'base64'));
  } else {
    stdin = new TextEncoder().encode(options?.stdin ?? '');
  }
  const task: WasiTask = {
    args: [WASI_PROGRAM_NAME, ...(options?.args ?? [])],
    env: options?.env ?? {},
    stdin,
    outputLimit,
    deterministic: options?.deterministic === true,
  };
  if (options?.seed !== undefined) task.seed = options.seed;
  try {
    createWasi(task);
  } catch (err) {
    if (err instanceof WasiOptionsError) throw new ServiceError('WASM64_WASI_OPTIONS', err.message);
    throw err;
  }
  return task;
}

/** The module as a call is planned against: its parsed sections, and its functions by export name. */
export interface PlannedModule {
  info: ModuleInfo;
  exportsByName: ReadonlyMap<string, ExportedFunction>;
}

/** The rest of the worker's options: memory, reactor initialisation, allocator and `returns`. */
export function planOptions(request: RunInput, fn: ExportedFunction, module: PlannedModule, planned: PlannedParameters, wasi: WasiTask | undefined, outputLimit: number): EvaluateOptions {
  const { info } = module;
  const options: EvaluateOptions = { addressType: addressType(info), outputLimit };
  const memory = exportedMemory(info);
  if (memory !== undefined) options.memory = memory;
  if (wasi !== undefined) options.wasi = wasi;
  // A lookup, not a walk of the exports: this runs for every job, and a module may export thousands.
  if (module.exportsByName.has('_initialize')) options.initialize = true;
  if (planned.placements.length > 0) {
    options.placements = planned.placements;
    options.allocator = request.allocator ?? DEFAULT_ALLOCATOR;
  }
  if (request.returns !== undefined) {
    const problem = returnsProblem(info, fn, request.returns);
    if (problem !== undefined) throw new ServiceError('WASM64_RETURNS', problem);
    options.returns = request.returns;
  }
  return options;
}

const PASSABLE_TYPES = new Set(['i32', 'i64', 'f32', 'f64']);

/** What a run asks for once resolved against the module: the function, its typed parameters, how to run it. */
export interface ResolvedCall {
  fn: ExportedFunction;
  parameters: WasmValue[];
  echo: ParameterEcho[];
  call: CallOptions;
}

/** Resolves a run request against the module's real signature; throws ServiceError when it does not fit. Shared by both store modes and by instance calls. */
export function resolveCall(request: RunInput, module: PlannedModule, outputLimit: number): ResolvedCall {
  let name: string;
  let inputs: (ParameterInput | MemoryParameterInput)[];
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
  } else if (request.parameters === undefined && module.exportsByName.has('_start')) {
    // A WASI command: running it means running _start.
    name = '_start';
    inputs = [];
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
  const planned = planParameters(fn, inputs, module.info, request.allocator ?? 'malloc');
  const wasi = planWasi(request, module.info, outputLimit);
  const call = planOptions(request, fn, module, planned, wasi, outputLimit);
  return { fn, parameters: planned.parameters, echo: planned.echo, call };
}
